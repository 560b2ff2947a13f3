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

#[test]
fn cidr_entries_match_addresses_in_the_range() {
    let l = list(&[
        "10.0.0.0/8",
        "http://192.168.1.0/24:8080",
        "[fd00::]/8:443",
        "fc00::/8",
    ]);
    assert!(allowed(&l, "http://10.1.2.3/"));
    assert!(allowed(&l, "https://10.255.0.1/any"));
    assert!(!allowed(&l, "http://10.1.2.3:8080/"));
    assert!(!allowed(&l, "http://11.0.0.1/"));
    assert!(allowed(&l, "http://192.168.1.77:8080/x"));
    assert!(!allowed(&l, "https://192.168.1.77:8080/x"));
    assert!(!allowed(&l, "http://192.168.2.1:8080/"));
    assert!(allowed(&l, "https://[fd00::1]/"));
    assert!(allowed(&l, "http://[fc00::5]/"));
    // An IPv4-mapped URL reaches the IPv4 address, and is matched as it.
    assert!(allowed(&l, "http://[::ffff:10.0.0.1]/"));
    // Names are never matched by an address entry.
    assert!(!allowed(&l, "http://ten.example/"));
}

#[test]
fn ip_literal_entries_match_mapped_forms_of_the_same_address() {
    let l = list(&["http://127.0.0.1:8080"]);
    assert!(allowed(&l, "http://[::ffff:127.0.0.1]:8080/"));
    assert!(allowed(&l, "http://2130706433:8080/"));
    assert!(!allowed(&l, "http://127.0.0.2:8080/"));
}

#[test]
fn bad_ranges_are_named() {
    for bad in ["10.0.0.1/8", "10.0.0.0/33", "[::1]/129", "10.0.0.0/8:99999"] {
        let err = AllowList::new(&[bad.to_string()]).expect_err(bad);
        assert_eq!(err.entry, bad);
    }
    let err = AllowList::new(&["http://10.0.0.5/8".to_string()]).expect_err("host bits");
    assert!(err.reason.contains("10.0.0.0/8"), "{err}");
    // A path that merely starts with digits is a path.
    assert!(allowed(
        &list(&["http://10.0.0.5/8x/"]),
        "http://10.0.0.5/8x/y"
    ));
}

#[test]
fn names_address_needs_a_matching_address_entry() {
    let l = list(&[
        "*",
        "https://localhost:8443",
        "127.0.0.1:8443",
        "10.0.0.0/8",
    ]);
    let url = |s: &str| Url::parse(s).unwrap_or_else(|e| panic!("{e}"));
    let lo = "127.0.0.1".parse().unwrap_or_else(|e| panic!("{e}"));
    assert!(l.names_address(&url("https://localhost:8443/"), lo));
    assert!(!l.names_address(&url("https://localhost:9443/"), lo));
    assert!(!l.names_address(&url("https://localhost/"), lo));
    let ten = "10.2.3.4".parse().unwrap_or_else(|e| panic!("{e}"));
    assert!(l.names_address(&url("http://svc.example/"), ten));
    assert!(!l.names_address(&url("http://svc.example:81/"), ten));
    // `*` and names never name an address.
    let star = list(&["*", "localhost"]);
    assert!(!star.names_address(&url("http://localhost/"), lo));
}

#[test]
fn encoded_separators_fail_closed_under_a_path_prefix() {
    let l = list(&["https://api.example.com/v1/", "https://b.example.com/v2"]);
    for sneaky in [
        "https://api.example.com/v1/..%2Fadmin",
        "https://api.example.com/v1/..%2fadmin",
        "https://api.example.com/v1/..%5Cadmin",
        "https://api.example.com/v1/..%5cadmin",
        "https://api.example.com/v1/%2E%2E/admin",
        "https://api.example.com/v1/%2e%2E%2fadmin",
        "https://api.example.com/v1/.%2E/admin",
        "https://api.example.com/v1/%252e%252e%252fadmin",
        "https://api.example.com/v1/x%00/../../admin",
        "https://api.example.com/v1/..;/admin",
        "https://api.example.com/v1/.;x/admin",
        "https://b.example.com/v2%2F..%2Fadmin",
    ] {
        let url = Url::parse(sneaky).unwrap_or_else(|e| panic!("{sneaky}: {e}"));
        let err = l.check(&url).expect_err(sneaky);
        assert!(
            err.contains("may decode") || err.contains("not in this job"),
            "{sneaky}: {err}"
        );
    }
    let url = Url::parse("https://api.example.com/v1/..%2Fadmin").unwrap_or_else(|e| panic!("{e}"));
    assert!(l.check(&url).unwrap_err().contains("%2F"));
    // Plain dot segments are resolved by the URL parser before the check.
    assert!(!allowed(&l, "https://api.example.com/v1/../admin"));
    // Without a path prefix the whole host is allowed anyway: nothing to bypass.
    let whole = list(&["https://api.example.com"]);
    assert!(allowed(&whole, "https://api.example.com/v1/..%2Fadmin"));
    // Ordinary encodings under a prefix still pass.
    assert!(allowed(&l, "https://api.example.com/v1/a%20b?q=%2F"));
    // An entry whose own path is ambiguous is refused.
    assert!(AllowList::new(&["https://x.example/a%2Fb/".to_string()]).is_err());
}
