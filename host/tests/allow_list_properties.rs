//! Properties of the HTTP allow-list matcher (a probe chooses the URL, so every URL is
//! hostile): no entry or URL makes it panic, nothing passes an empty list, and an entry
//! for one host never lets another host through, however the URL is dressed up.

use proptest::prelude::*;
use sonde_host::http::AllowList;
use url::Url;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| format!("{}.example", l.join(".")))
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9_~-]{0,8}", 0..4).prop_map(|s| format!("/{}", s.join("/")))
}

fn list(entries: &[String]) -> AllowList {
    AllowList::new(entries).unwrap_or_else(|e| panic!("{e}"))
}

fn allowed(l: &AllowList, url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| l.check(&u).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_entries_and_urls_never_panic(
        entries in prop::collection::vec("\\PC{0,40}", 0..4),
        url in "(https?://)?\\PC{0,60}",
    ) {
        if let Ok(l) = AllowList::new(&entries) {
            if let Ok(u) = Url::parse(&url) {
                let _ = l.check(&u);
            }
        }
    }

    #[test]
    fn an_empty_list_allows_nothing(host in domain(), p in path(), https in any::<bool>()) {
        let scheme = if https { "https" } else { "http" };
        prop_assert!(!allowed(&AllowList::deny_all(), &format!("{scheme}://{host}{p}")), "case failed");
    }

    #[test]
    fn an_entry_allows_its_host_and_no_other(
        allowed_host in domain(),
        other in domain(),
        p in path(),
        userinfo in "[a-z]{1,6}",
    ) {
        prop_assume!(allowed_host != other);
        let l = list(&[format!("https://{allowed_host}")]);
        prop_assert!(allowed(&l, &format!("https://{allowed_host}{p}")), "case failed");
        let disguises = [
            format!("https://{other}{p}"),
            format!("https://{allowed_host}.{other}{p}"),
            format!("https://{other}.{allowed_host}{p}"),
            format!("https://{allowed_host}@{other}{p}"),
            format!("https://{userinfo}:{allowed_host}@{other}{p}"),
            format!("https://{other}/{allowed_host}{p}"),
            format!("https://{other}?{allowed_host}"),
            format!("https://{other}#{allowed_host}"),
            format!("http://{allowed_host}{p}"),
            format!("https://{allowed_host}:8443{p}"),
        ];
        for url in disguises {
            prop_assert!(!allowed(&l, &url), "{url} passed an entry for {allowed_host}");
        }
    }

    #[test]
    fn a_wildcard_covers_strict_subdomains_only(
        parent in domain(),
        sub in label(),
        lookalike in label(),
    ) {
        let l = list(&[format!("*.{parent}")]);
        prop_assert!(allowed(&l, &format!("https://{sub}.{parent}/")), "case failed");
        prop_assert!(!allowed(&l, &format!("https://{parent}/")), "case failed");
        prop_assert!(!allowed(&l, &format!("https://{lookalike}{parent}/")), "case failed");
        prop_assert!(!allowed(&l, &format!("https://{parent}.{lookalike}/")), "case failed");
    }

    #[test]
    fn a_path_prefix_holds_on_segment_boundaries(
        host in domain(),
        dir in "[a-z]{1,8}",
        rest in path(),
        suffix in "[a-z0-9]{1,4}",
    ) {
        // `/{dir}/../{dir}/` is `/{dir}/` again, rightly allowed.
        prop_assume!(suffix != dir);
        let l = list(&[format!("https://{host}/{dir}/")]);
        prop_assert!(allowed(&l, &format!("https://{host}/{dir}{rest}")), "case failed");
        prop_assert!(!allowed(&l, &format!("https://{host}/{dir}{suffix}/")), "case failed");
        prop_assert!(!allowed(&l, &format!("https://{host}/{dir}/../{suffix}/")), "case failed");
        prop_assert!(!allowed(&l, &format!("https://{host}/")), "case failed");
    }
}
