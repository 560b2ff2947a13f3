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
//! - `*` — every `http`/`https` destination. An explicit weakening of the policy:
//!   callers should log when a job uses it.
//!
//! The check is made on the URL as the probe wrote it, before any DNS lookup or
//! connection. The resolved address is not checked again: a name the operator
//! allowed may resolve anywhere (DNS rebinding is out of scope; allow IP
//! addresses instead of names where that matters).

use url::{Host, Url};

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
    /// Exact host as the `url` crate normalises it (lower-case, IDNA, IPv6 in brackets).
    Exact(String),
    /// Strict subdomains of this domain.
    SubdomainsOf(String),
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
        let Some(host) = url.host_str() else {
            return Err(format!("{url} has no host"));
        };
        if self.allow_any {
            return Ok(());
        }
        let port = url.port_or_known_default();
        if self
            .rules
            .iter()
            .any(|r| r.matches(scheme, host, port, url.path()))
        {
            return Ok(());
        }
        let shown_port = port.map(|p| format!(":{p}")).unwrap_or_default();
        if self.rules.is_empty() {
            Err(format!(
                "{scheme}://{host}{shown_port} is not allowed: this job's HTTP allow-list is empty"
            ))
        } else {
            Err(format!(
                "{scheme}://{host}{shown_port}{} is not in this job's HTTP allow-list",
                url.path()
            ))
        }
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
            Some(h) => HostPattern::Exact(h.to_string()),
        };
        Ok(Rule {
            scheme,
            host,
            port,
            path_prefix: url.path().to_string(),
        })
    }

    fn matches(&self, scheme: &str, host: &str, port: Option<u16>, path: &str) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let host_ok = match &self.host {
            HostPattern::Exact(h) => h == host,
            HostPattern::SubdomainsOf(d) => {
                host.len() > d.len() + 1 && host.ends_with(d.as_str()) && {
                    host.as_bytes()[host.len() - d.len() - 1] == b'.'
                }
            }
        };
        let wanted_port = self.port.or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        host_ok && port == wanted_port && path_has_prefix(path, &self.path_prefix)
    }
}

fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix == "/" || prefix.is_empty() {
        return true;
    }
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        match AllowList::new(&owned) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    fn allowed(l: &AllowList, url: &str) -> bool {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("test url {url}: {e}"));
        l.check(&url).is_ok()
    }

    #[test]
    fn deny_all_refuses_everything() {
        let l = AllowList::deny_all();
        assert!(!allowed(&l, "https://example.com/"));
        let reason = l.check(&Url::parse("http://127.0.0.1:9/").unwrap_or_else(|e| panic!("{e}")));
        assert!(reason.unwrap_err().contains("empty"));
    }

    #[test]
    fn exact_scheme_host_and_default_port() {
        let l = list(&["https://Example.com"]);
        assert!(allowed(&l, "https://example.com/any/path?q=1"));
        assert!(allowed(&l, "https://example.com:443/"));
        assert!(!allowed(&l, "http://example.com/"));
        assert!(!allowed(&l, "https://example.com:8443/"));
        assert!(!allowed(&l, "https://www.example.com/"));
        assert!(!allowed(&l, "https://example.com.evil.net/"));
    }

    #[test]
    fn explicit_port_and_ip() {
        let l = list(&["http://127.0.0.1:8080", "http://[::1]:9000"]);
        assert!(allowed(&l, "http://127.0.0.1:8080/x"));
        assert!(!allowed(&l, "http://127.0.0.1:8081/x"));
        assert!(!allowed(&l, "http://127.0.0.1/x"));
        assert!(allowed(&l, "http://[::1]:9000/"));
    }

    #[test]
    fn schemeless_entry_allows_both_schemes() {
        let l = list(&["example.com"]);
        assert!(allowed(&l, "http://example.com/"));
        assert!(allowed(&l, "https://example.com/"));
        assert!(!allowed(&l, "https://example.com:8443/"));
        let with_port = list(&["example.com:80"]);
        assert!(allowed(&with_port, "http://example.com/"));
        assert!(allowed(&with_port, "https://example.com:80/"));
        assert!(!allowed(&with_port, "https://example.com/"));
    }

    #[test]
    fn wildcard_matches_strict_subdomains() {
        let l = list(&["*.example.com"]);
        assert!(allowed(&l, "https://a.example.com/"));
        assert!(allowed(&l, "http://a.b.example.com/"));
        assert!(!allowed(&l, "https://example.com/"));
        assert!(!allowed(&l, "https://badexample.com/"));
    }

    #[test]
    fn path_prefix_on_segment_boundary() {
        let l = list(&["https://api.example.com/v1/", "https://b.example.com/v2"]);
        assert!(allowed(&l, "https://api.example.com/v1/users"));
        assert!(!allowed(&l, "https://api.example.com/v2/users"));
        assert!(!allowed(&l, "https://api.example.com/v1"));
        assert!(allowed(&l, "https://b.example.com/v2"));
        assert!(allowed(&l, "https://b.example.com/v2/x"));
        assert!(!allowed(&l, "https://b.example.com/v2x"));
    }

    #[test]
    fn star_allows_any_http_but_not_other_schemes() {
        let l = list(&["*"]);
        assert!(l.allows_any());
        assert!(allowed(&l, "http://10.0.0.1:1234/"));
        assert!(!allowed(&l, "ftp://example.com/"));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "",
            "ftp://x.org",
            "https://*.*.x.org",
            "https://user:pw@x.org",
            "*.10.0.0.1",
            "https://x.org/?q",
            "http://",
        ] {
            let err = AllowList::new(&[bad.to_string()]).expect_err(bad);
            assert_eq!(err.entry, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
