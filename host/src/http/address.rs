//! Which resolved addresses a fetch may connect to. Checked on every address the
//! client is about to connect to (and again on the peer it did connect to), after DNS
//! and after the URL passed the job's [`AllowList`]: there is no second lookup between
//! the check and the connection, so a name cannot re-bind to another address in between.
//!
//! 1. An address in the host-wide `deny_ranges` is never connected to.
//! 2. An internal address (loopback, private, link-local, ...; see [`internal_class`]) is
//!    connected to only when an allow-list entry names it or a range holding it.
//! 3. Any other address may be reached through any allowed URL.
//!
//! IPv6 addresses that carry an IPv4 address (IPv4-mapped, NAT64, 6to4,
//! IPv4-compatible; see [`embedded_v4`]) are checked as the IPv4 address too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};
use url::Url;

use super::AllowList;

/// `deny_ranges` when `[http]` does not set it: the unspecified and "this network"
/// addresses (which reach the local host), link-local (cloud metadata services at
/// 169.254.169.254 and fd00:ec2::254), multicast, and the reserved 240/4 with broadcast.
pub const DEFAULT_DENY_RANGES: &[&str] = &[
    "0.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "fe80::/10",
    "ff00::/8",
    "fd00:ec2::254/128",
];

/// The parsed default deny ranges.
pub fn default_deny_ranges() -> Vec<IpNet> {
    DEFAULT_DENY_RANGES
        .iter()
        .filter_map(|r| r.parse().ok())
        .collect()
}

/// Parse `deny_ranges` entries (CIDR, or a single address); IPv4-mapped IPv6 ranges
/// become the IPv4 ranges they reach.
pub fn parse_deny_ranges(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            let net = e
                .parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{e:?} is not an address or a CIDR range"))?;
            Ok(canonical_net(net.trunc()))
        })
        .collect()
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it reaches.
pub fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

/// An IPv4-mapped IPv6 range as the IPv4 range it reaches.
pub fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        let mapped = v6.network().to_ipv4_mapped();
        if let (Some(v4), true) = (mapped, v6.prefix_len() >= 96) {
            if let Ok(n) = Ipv4Net::new(v4, v6.prefix_len() - 96) {
                return IpNet::V4(n);
            }
        }
    }
    net
}

/// Why `addr` is internal (needs an entry naming it), or `None` for a global address.
pub fn internal_class(addr: IpAddr) -> Option<&'static str> {
    match canonical(addr) {
        IpAddr::V4(a) => internal_v4(a),
        IpAddr::V6(a) => internal_v6(a),
    }
}

fn internal_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [b0, b1, ..] = a.octets();
    if a.is_loopback() {
        Some("loopback")
    } else if b0 == 0 {
        Some("unspecified (\"this network\")")
    } else if a.is_private() {
        Some("private")
    } else if b0 == 100 && (b1 & 0xc0) == 64 {
        Some("shared (carrier-grade NAT)")
    } else if a.is_link_local() {
        Some("link-local")
    } else {
        None
    }
}

fn internal_v6(a: Ipv6Addr) -> Option<&'static str> {
    let first = a.segments()[0];
    if a.is_loopback() {
        Some("loopback")
    } else if a.is_unspecified() {
        Some("unspecified")
    } else if (first & 0xfe00) == 0xfc00 {
        Some("unique local (private)")
    } else if (first & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if (first & 0xffc0) == 0xfec0 {
        Some("site-local")
    } else if a.segments()[..3] == [0x64, 0xff9b, 1] {
        // RFC 8215: translation to IPv4 at a prefix length only the network knows.
        Some("local-use NAT64")
    } else {
        None
    }
}

/// The IPv4 address behind an IPv6 address that carries one, and how it is carried:
/// NAT64's well-known prefix `64:ff9b::/96` (RFC 6052: a translator connects to the
/// IPv4 address), 6to4 `2002::/16` (RFC 3056: packets go to the IPv4 address), and the
/// deprecated IPv4-compatible `::a.b.c.d` (`::` and `::1` excepted: they are IPv6's own
/// unspecified and loopback addresses). IPv4-mapped `::ffff:a.b.c.d` is [`canonical`]'s.
pub fn embedded_v4(addr: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let [s0, s1, s2, s3, s4, s5, s6, s7] = addr.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match (s0, s1, s2, s3, s4, s5) {
        (0x64, 0xff9b, 0, 0, 0, 0) => Some((v4(s6, s7), "NAT64")),
        (0x2002, ..) => Some((v4(s1, s2), "6to4")),
        (0, 0, 0, 0, 0, 0) if s6 >> 8 != 0 => Some((v4(s6, s7), "IPv4-compatible")),
        _ => None,
    }
}

/// `Ok` when a fetch of `url` may connect to `addr`; `Err` is the probe's `not-allowed` text.
///
/// An address carrying an IPv4 address ([`embedded_v4`]) is checked as both: it is
/// denied when either form is in `deny_ranges`, internal when either form is, and then
/// reached only through an entry naming either form. A NAT64 network with a prefix of
/// its own (not `64:ff9b::/96`) needs that prefix's translations of the denied ranges
/// in `deny_ranges`.
pub fn check_address(
    allow: &AllowList,
    deny_ranges: &[IpNet],
    url: &Url,
    addr: IpAddr,
) -> Result<(), String> {
    let reached = canonical(addr);
    let carried = match reached {
        IpAddr::V6(v6) => embedded_v4(v6),
        IpAddr::V4(_) => None,
    };
    let forms = [
        Some(addr),
        Some(reached),
        carried.map(|(v4, _)| IpAddr::V4(v4)),
    ];
    let forms = || forms.iter().flatten();
    let shown = match carried {
        Some((v4, how)) => format!("{addr} ({how} for {v4})"),
        None => addr.to_string(),
    };
    if let Some(range) = deny_ranges.iter().find(|r| forms().any(|f| r.contains(f))) {
        return Err(format!("{shown} is in the host's deny_ranges ({range})"));
    }
    let class = internal_class(reached).or_else(|| carried.and_then(|(v4, _)| internal_v4(v4)));
    match class {
        Some(class) if !forms().any(|f| allow.names_address(url, *f)) => Err(format!(
            "{shown} is a {class} address: only an allow_http entry naming it (or a range \
             holding it) reaches it, not a host name or `*`"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn allow(entries: &[&str]) -> AllowList {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        AllowList::new(&owned).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn default_deny_ranges_parse_and_cover_metadata_and_mapped_forms() {
        let deny = default_deny_ranges();
        assert_eq!(deny.len(), DEFAULT_DENY_RANGES.len());
        let any = allow(&["*", "0.0.0.0/0", "[::]/0"]);
        let u = url("http://metadata.example/");
        for bad in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "::ffff:0.0.0.0",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
        ] {
            let err = check_address(&any, &deny, &u, ip(bad)).expect_err(bad);
            assert!(err.contains("deny_ranges"), "{bad}: {err}");
        }
        assert!(check_address(&any, &deny, &u, ip("93.184.215.14")).is_ok());
    }

    #[test]
    fn internal_addresses_need_an_entry_naming_them() {
        let deny = default_deny_ranges();
        let star = allow(&["*"]);
        let u = url("http://intranet.example/");
        for internal in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd12::1",
            "fec0::1",
        ] {
            let err = check_address(&star, &deny, &u, ip(internal)).expect_err(internal);
            assert!(err.contains("only an allow_http entry naming it"), "{err}");
        }
        let named = allow(&["intranet.example", "10.0.0.0/8", "127.0.0.1"]);
        assert!(check_address(&named, &deny, &u, ip("10.9.9.9")).is_ok());
        assert!(check_address(&named, &deny, &u, ip("::ffff:10.9.9.9")).is_ok());
        assert!(check_address(&named, &deny, &u, ip("127.0.0.1")).is_ok());
        assert!(check_address(&named, &deny, &u, ip("127.0.0.2")).is_err());
        assert!(check_address(&named, &deny, &u, ip("192.168.0.1")).is_err());
        // The naming entry's port counts: 10.0.0.0/8 is for the default ports only.
        let other_port = url("http://intranet.example:8080/");
        assert!(check_address(&named, &deny, &other_port, ip("10.9.9.9")).is_err());
    }

    #[test]
    fn deny_ranges_win_over_allow_entries() {
        let deny = parse_deny_ranges(&["10.1.0.0/16".into(), "::ffff:192.168.0.0/112".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let named = allow(&["10.0.0.0/8", "192.168.0.0/16"]);
        let u = url("http://10.1.2.3/");
        assert!(check_address(&named, &deny, &u, ip("10.1.2.3")).is_err());
        assert!(check_address(&named, &deny, &u, ip("10.2.0.1")).is_ok());
        assert!(check_address(&named, &deny, &u, ip("192.168.3.4")).is_err());
        assert!(parse_deny_ranges(&["10.0.0.0/33".into()]).is_err());
        assert!(parse_deny_ranges(&["example.com".into()]).is_err());
    }

    #[test]
    fn translated_forms_are_checked_as_the_ipv4_address_they_carry() {
        assert_eq!(
            embedded_v4(ip6("64:ff9b::a9fe:a9fe")),
            Some((Ipv4Addr::new(169, 254, 169, 254), "NAT64"))
        );
        assert_eq!(
            embedded_v4(ip6("2002:7f00:1::1")),
            Some((Ipv4Addr::new(127, 0, 0, 1), "6to4"))
        );
        assert_eq!(
            embedded_v4(ip6("::10.0.0.1")),
            Some((Ipv4Addr::new(10, 0, 0, 1), "IPv4-compatible"))
        );
        for none in [
            "::",
            "::1",
            "::ffff:1.2.3.4",
            "64:ff9b:1::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert_eq!(embedded_v4(ip6(none)), None, "{none}");
        }

        let deny = default_deny_ranges();
        let star = allow(&["*"]);
        let u = url("http://translated.example/");
        for denied in [
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::0.0.0.0",
            "64:ff9b::e000:1",
            "2002:a9fe:a9fe::",
            "2002:a9fe:a9fe:1234::5",
            "::169.254.169.254",
        ] {
            let err = check_address(&star, &deny, &u, ip(denied)).expect_err(denied);
            assert!(
                err.contains("deny_ranges") && err.contains("for "),
                "{denied}: {err}"
            );
        }
        for internal in [
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b::c0a8:101",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "::127.0.0.1",
            "::10.0.0.1",
        ] {
            let err = check_address(&star, &deny, &u, ip(internal)).expect_err(internal);
            assert!(
                err.contains("only an allow_http entry naming it"),
                "{internal}: {err}"
            );
        }
        let local_nat64 = check_address(&star, &deny, &u, ip("64:ff9b:1::a9fe:a9fe"));
        assert!(local_nat64.is_err_and(|e| e.contains("local-use NAT64")));
        // A global IPv4 address behind a translation is as reachable as the address itself.
        assert!(check_address(&star, &deny, &u, ip("64:ff9b::5db8:d70e")).is_ok());
        assert!(check_address(&star, &deny, &u, ip("2002:5db8:d70e::1")).is_ok());
        // An entry naming either form reaches the internal address.
        let by_v4 = allow(&["*", "10.0.0.0/8"]);
        assert!(check_address(&by_v4, &deny, &u, ip("64:ff9b::a00:1")).is_ok());
        let by_v6 = allow(&["*", "[64:ff9b::a00:0]/120"]);
        assert!(check_address(&by_v6, &deny, &u, ip("64:ff9b::a00:1")).is_ok());
        assert!(check_address(&by_v6, &deny, &u, ip("64:ff9b::a00:101")).is_err());
        // A deny range in either form wins over any entry.
        let own = parse_deny_ranges(&["64:ff9b::/96".into()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(check_address(&star, &own, &u, ip("64:ff9b::5db8:d70e")).is_err());
    }
}
