//! Which HTTP destinations a job may reach. Deny by default.
//!
//! Entry forms (one string each):
//! - `https://example.com` — that scheme, host and port (the scheme's default port here);
//! - `http://127.0.0.1:8080` — an explicit port;
//! - `https://api.example.com/v1/` — only paths under `/v1/`. A prefix without a
//!   trailing slash (`/v1`) matches `/v1` itself and `/v1/...`, never `/v1x`;
//! - `example.com` — no scheme: `http` and `https`, each on its default port
//!   unless the entry names a port;
//! - `*.example.com` (with or without scheme) — any subdomain, at any depth, of
//!   `example.com`, but not `example.com` itself;
//! - `10.0.0.0/8`, `http://10.0.0.0/8:8080`, `[fd00::]/8:443` — every address of a
//!   range (CIDR, host bits zero), optionally with a scheme and a port after the
//!   prefix length; all paths;
//! - `*` — every `http`/`https` destination. An explicit weakening of the policy:
//!   callers should log when a job uses it.
//!
//! Two checks use the list. [`AllowList::check`] is made on the URL as the probe wrote
//! it, before any DNS lookup. [`AllowList::names_address`] is asked, for every address a
//! fetch would connect to that is loopback, private or otherwise internal (see
//! [`super::address`]), whether an entry names that address or a range holding it: a
//! name or `*` alone never reaches such an address.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are compared as the IPv4 address
//! they reach, in entries and in URLs alike.

use std::net::IpAddr;

use ipnet::IpNet;
use url::{Host, Url};

use super::address::{canonical, canonical_net};

/// An allow-list entry that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP allow-list entry {entry:?}: {reason}")]
pub struct AllowListError {
    pub entry: String,
    pub reason: String,
}

/// The destinations one job may fetch. The default allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
    allow_any: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// `None`: both `http` and `https`.
    scheme: Option<String>,
    host: HostPattern,
    /// `None`: the request scheme's default port.
    port: Option<u16>,
    /// Always starts with `/`; `/` matches every path.
    path_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A domain as the `url` crate normalises it (lower-case, IDNA).
    Domain(String),
    /// Strict subdomains of this domain.
    SubdomainsOf(String),
    /// An IP address (a /32 or /128) or a CIDR range, IPv4-mapped forms as IPv4.
    Addresses(IpNet),
}

/// The parts of a URL the rules look at.
struct Target<'a> {
    scheme: &'a str,
    port: Option<u16>,
    path: &'a str,
}

impl<'a> Target<'a> {
    fn of(url: &'a Url) -> Self {
        Target {
            scheme: url.scheme(),
            port: url.port_or_known_default(),
            path: url.path(),
        }
    }
}

impl AllowList {
    /// Parse the entries; the error names the first entry that is not understood.
    pub fn new(entries: &[String]) -> Result<Self, AllowListError> {
        let mut list = AllowList::default();
        for entry in entries {
            let trimmed = entry.trim();
            if trimmed == "*" {
                list.allow_any = true;
                continue;
            }
            let rule = Rule::parse(trimmed).map_err(|reason| AllowListError {
                entry: entry.clone(),
                reason,
            })?;
            list.rules.push(rule);
        }
        Ok(list)
    }

    /// Allows nothing: every fetch is refused as not-allowed.
    pub fn deny_all() -> Self {
        AllowList::default()
    }

    /// True when the list contains `*`.
    pub fn allows_any(&self) -> bool {
        self.allow_any
    }

    /// `Ok` when `url` may be fetched; `Err(reason)` is what the probe sees in `not-allowed`.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "scheme {scheme:?} is not allowed (only http and https)"
            ));
        }
        let Some(host) = url.host() else {
            return Err(format!("{url} has no host"));
        };
        if self.allow_any {
            return Ok(());
        }
        let target = Target::of(url);
        let host_matches = |r: &&Rule| r.matches_host(&host) && r.matches_scheme_port(&target);
        if self
            .rules
            .iter()
            .filter(host_matches)
            .any(|r| r.matches_path(target.path))
        {
            return Ok(());
        }
        let shown_port = target.port.map(|p| format!(":{p}")).unwrap_or_default();
        let shown = format!("{scheme}://{host}{shown_port}{}", target.path);
        if let Some(what) = ambiguous_path(target.path) {
            if self.rules.iter().any(|r| host_matches(&r)) {
                return Err(format!(
                    "{shown}: the path contains {what}, which a server may decode into another \
                     path; refused under a path-prefix entry"
                ));
            }
        }
        if self.rules.is_empty() {
            Err(format!(
                "{scheme}://{host}{shown_port} is not allowed: this job's HTTP allow-list is empty"
            ))
        } else {
            Err(format!("{shown} is not in this job's HTTP allow-list"))
        }
    }

    /// Whether an entry names `addr` (an address, or a range holding it) for this URL's
    /// scheme, port and path: what lets a fetch connect to an internal address.
    pub fn names_address(&self, url: &Url, addr: IpAddr) -> bool {
        let target = Target::of(url);
        let addr = canonical(addr);
        self.rules.iter().any(|r| {
            matches!(&r.host, HostPattern::Addresses(net) if net.contains(&addr))
                && r.matches_scheme_port(&target)
                && r.matches_path(target.path)
        })
    }
}

impl Rule {
    fn parse(entry: &str) -> Result<Rule, String> {
        if entry.is_empty() {
            return Err("empty entry".into());
        }
        let (scheme, rest) = match entry.split_once("://") {
            Some((s, rest)) => {
                let s = s.to_ascii_lowercase();
                if s != "http" && s != "https" {
                    return Err(format!("scheme {s:?} is not supported (use http or https)"));
                }
                (Some(s), rest)
            }
            None => (None, entry),
        };
        if let Some(range) = parse_range(rest) {
            let (net, port) = range?;
            return Ok(Rule {
                scheme,
                host: HostPattern::Addresses(net),
                port,
                path_prefix: "/".into(),
            });
        }
        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if rest.contains('*') {
            return Err("a wildcard is only allowed as the first label (`*.example.com`)".into());
        }
        let parse_as = |s: &str| Url::parse(&format!("{s}://{rest}")).map_err(|e| e.to_string());
        let url = parse_as(scheme.as_deref().unwrap_or("http"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("user names and passwords are not allowed in an entry".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("a query or fragment is not allowed in an entry".into());
        }
        // The url crate drops a port equal to the scheme's default; re-parse with the
        // other scheme so an explicit `:80`/`:443` in a scheme-less entry is kept.
        let port = match (&scheme, url.port()) {
            (_, Some(p)) => Some(p),
            (Some(_), None) => None,
            (None, None) => parse_as("https")?.port(),
        };
        let host = match url.host() {
            None => return Err("no host".into()),
            Some(Host::Domain(d)) if wildcard => HostPattern::SubdomainsOf(d.to_string()),
            Some(_) if wildcard => {
                return Err("a wildcard needs a domain name, not an IP address".into())
            }
            Some(Host::Domain(d)) => HostPattern::Domain(d.to_string()),
            Some(Host::Ipv4(ip)) => HostPattern::Addresses(IpNet::from(canonical(ip.into()))),
            Some(Host::Ipv6(ip)) => HostPattern::Addresses(IpNet::from(canonical(ip.into()))),
        };
        let path_prefix = url.path().to_string();
        if path_prefix != "/" {
            if let Some(what) = ambiguous_path(&path_prefix) {
                return Err(format!("the path contains {what}; write it decoded"));
            }
        }
        Ok(Rule {
            scheme,
            host,
            port,
            path_prefix,
        })
    }

    fn matches_host(&self, host: &Host<&str>) -> bool {
        match (&self.host, host) {
            (HostPattern::Domain(d), Host::Domain(h)) => d == h,
            (HostPattern::SubdomainsOf(d), Host::Domain(h)) => {
                h.len() > d.len() + 1
                    && h.ends_with(d.as_str())
                    && h.as_bytes()[h.len() - d.len() - 1] == b'.'
            }
            (HostPattern::Addresses(net), Host::Ipv4(ip)) => net.contains(&canonical((*ip).into())),
            (HostPattern::Addresses(net), Host::Ipv6(ip)) => net.contains(&canonical((*ip).into())),
            _ => false,
        }
    }

    fn matches_scheme_port(&self, target: &Target<'_>) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != target.scheme) {
            return false;
        }
        let wanted_port = self.port.or(match target.scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        target.port == wanted_port
    }

    /// Under a path prefix, a path a server could decode into another one fails closed.
    fn matches_path(&self, path: &str) -> bool {
        let prefix = self.path_prefix.as_str();
        if prefix == "/" || prefix.is_empty() {
            return true;
        }
        if ambiguous_path(path).is_some() {
            return false;
        }
        if prefix.ends_with('/') {
            return path.starts_with(prefix);
        }
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// `Some` for a range entry (`ADDR/LEN[:PORT]`, IPv6 as `[ADDR]/LEN[:PORT]` or `ADDR/LEN`),
/// `None` for anything else (a URL, possibly with a path, is parsed as one).
fn parse_range(rest: &str) -> Option<Result<(IpNet, Option<u16>), String>> {
    let (addr, after) = rest.split_once('/')?;
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let addr: IpAddr = addr.parse().ok()?;
    let (len, port) = match after.split_once(':') {
        Some((len, port)) => (len, Some(port)),
        None => (after, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(len) || port.is_some_and(|p| !digits(p)) {
        return None; // an IP address with a path
    }
    Some(range_rule(addr, len, port))
}

fn range_rule(addr: IpAddr, len: &str, port: Option<&str>) -> Result<(IpNet, Option<u16>), String> {
    let len: u8 = len
        .parse()
        .map_err(|_| format!("prefix length {len:?} is not a number"))?;
    let net = IpNet::new(addr, len).map_err(|e| format!("{addr}/{len}: {e}"))?;
    if net.trunc() != net {
        return Err(format!(
            "{net} has host bits set: write the range as {} (for a path on a host, end the \
             path with `/`)",
            net.trunc()
        ));
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("port {p:?} is out of range"))
        })
        .transpose()?;
    Ok((canonical_net(net), port))
}

/// What in a path a server might decode into a different path: an encoded separator or
/// dot (`%2F`, `%5C`, `%2E`, any case), an encoded `%` (double encoding), an encoded NUL,
/// or a dot segment hidden behind `;` parameters (`..;`). The `url` crate has already
/// resolved plain `.`/`..` segments and turned `\` into `/`.
fn ambiguous_path(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    for (encoded, what) in [
        ("%2f", "an encoded `/` (%2F)"),
        ("%5c", "an encoded `\\` (%5C)"),
        ("%2e", "an encoded `.` (%2E)"),
        ("%25", "an encoded `%` (%25)"),
        ("%00", "an encoded NUL (%00)"),
    ] {
        if lower.contains(encoded) {
            return Some(what);
        }
    }
    let dot_segment = path.split('/').any(|segment| {
        let bare = segment.split(';').next().unwrap_or(segment);
        segment.contains(';') && (bare == "." || bare == "..")
    });
    dot_segment.then_some("a dot segment with `;` parameters (`..;`)")
}

#[cfg(test)]
#[path = "allow_list_tests.rs"]
mod tests;
