//! What a hostile probe can try through the `http` capability, without any wasm: real
//! sockets against a local HTTP server and a local DNS server.
//!
//! - request heads: no `Host`, framing or hop-by-hop header, no control bytes, bounded size;
//! - HTTPS: SNI and the certificate check use the URL's host;
//! - addresses: `deny_ranges` and the internal-address rule hold for every address a
//!   name resolves to, and for IP literals in any spelling;
//! - DNS lookups are futures: a timed-out fetch leaves no query and no thread behind.

#[path = "http_capability/requests.rs"]
mod requests;
#[path = "http_capability/test_dns.rs"]
mod test_dns;
#[path = "http_capability/test_pki.rs"]
mod test_pki;
#[path = "http_capability/test_server.rs"]
mod test_server;

use std::io::Write;
use std::time::Duration;

use requests::{allow, fetch, fetch_within, get};
use sonde_host::http::{FetchBudget, HttpClient, HttpError, HttpLimits, Request};
use test_dns::TestDns;
use test_server::{response, Reply, TestServer};

fn client_with(limits: HttpLimits) -> HttpClient {
    HttpClient::new(limits).expect("client")
}

/// A client that resolves through `dns`.
fn client_resolving_with(dns: &TestDns) -> HttpClient {
    client_with(HttpLimits {
        dns_servers: Some(vec![dns.addr]),
        ..HttpLimits::default()
    })
}

fn with_headers(url: &str, headers: &[(&str, &str)]) -> Request {
    let mut req = get(url);
    req.headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    req
}

#[tokio::test]
async fn host_and_framing_headers_are_refused_before_connecting() {
    let server = TestServer::start(Reply::Echo).await;
    let url = server.url("http", "/");
    let list = allow(&[&server.url("http", "")]);
    let client = client_with(HttpLimits::default());
    let many: Vec<(String, String)> = (0..65).map(|i| (format!("X-{i}"), "v".into())).collect();
    let mut hostile = vec![
        with_headers(&url, &[("Host", "metadata.google.internal")]),
        with_headers(&url, &[("hOsT", "evil.example")]),
        with_headers(&url, &[("Transfer-Encoding", "chunked")]),
        with_headers(&url, &[("Content-Length", "0")]),
        with_headers(&url, &[("Connection", "Upgrade"), ("Upgrade", "websocket")]),
        with_headers(&url, &[("Expect", "100-continue")]),
        with_headers(&url, &[("X-A", "1\r\nHost: evil.example")]),
        with_headers(&url, &[("X-A", "1\nX-B: 2")]),
        with_headers(&url, &[("X-A", "nul\0byte")]),
        with_headers(&url, &[("X-A\r\nHost", "evil.example")]),
        with_headers(&url, &[("X-Big", &"v".repeat(20_000))]),
    ];
    let mut lots = get(&url);
    lots.headers = many;
    hostile.push(lots);
    let mut smuggle = with_headers(&url, &[("Content-Length", "1")]);
    smuggle.method = "POST".into();
    smuggle.body = Some(b"0123456789GET /admin HTTP/1.1\r\n\r\n".to_vec());
    hostile.push(smuggle);
    let mut connect = get(&url);
    connect.method = "CONNECT".into();
    hostile.push(connect);
    for req in hostile {
        let shown = format!("{} {:?}", req.method, req.headers.first());
        let err = fetch(&client, &list, req).await.expect_err(&shown);
        assert!(
            matches!(err, HttpError::InvalidRequest(_)),
            "{shown}: {err:?}"
        );
    }
    assert_eq!(server.connections(), 0, "a refused request never connects");
}

#[tokio::test]
async fn the_request_carries_one_host_from_the_url_and_the_true_body_length() {
    let server = TestServer::start(Reply::Echo).await;
    let mut req = with_headers(
        &server.url("http", "/submit"),
        &[("X-Tag", "a"), ("x-tag", "b"), ("User-Agent", "probe/1")],
    );
    req.method = "POST".into();
    req.body = Some(b"abc".to_vec());
    let client = client_with(HttpLimits::default());
    let resp = fetch(&client, &allow(&[&server.url("http", "")]), req)
        .await
        .expect("fetch");
    let echoed = String::from_utf8_lossy(&resp.body).to_ascii_lowercase();
    let lines: Vec<&str> = echoed.lines().collect();
    let hosts: Vec<&&str> = lines.iter().filter(|l| l.starts_with("host:")).collect();
    assert_eq!(
        hosts,
        [&format!("host: {}", server.addr).as_str()],
        "{echoed}"
    );
    assert!(lines.contains(&"content-length: 3"), "{echoed}");
    assert!(!echoed.contains("transfer-encoding"), "{echoed}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("x-tag:")).count(), 2);
    assert!(lines.contains(&"user-agent: probe/1"), "{echoed}");
}

#[tokio::test]
async fn https_sni_and_certificate_check_use_the_url_host() {
    let pki = test_pki::TestPki::new();
    let server = TestServer::start_tls(
        Reply::Fixed(response("200 OK", "", b"secure")),
        pki.acceptor(),
    )
    .await;
    let mut ca = tempfile::NamedTempFile::new().expect("temp file");
    ca.write_all(&pki.ca_pem).expect("write CA");
    let client = client_with(HttpLimits {
        extra_ca_file: Some(ca.path().to_path_buf()),
        ..HttpLimits::default()
    });
    let port = server.addr.port();
    let by_name = format!("https://localhost:{port}/");
    let by_ip = format!("https://127.0.0.1:{port}/");
    // `localhost` resolves to loopback: the entry naming 127.0.0.1 is what reaches it.
    let list = allow(&[&by_name, &by_ip]);
    let resp = fetch(&client, &list, get(&by_name)).await.expect("fetch");
    assert_eq!(resp.body, b"secure");
    // The certificate names `localhost` only: by IP the check fails, and no SNI is sent.
    let err = fetch(&client, &list, get(&by_ip))
        .await
        .expect_err("certificate lacks 127.0.0.1");
    assert!(
        matches!(&err, HttpError::Tls(m) if m.contains("certificate")),
        "{err:?}"
    );
    // The server records a name once its side of the handshake ends.
    for _ in 0..100 {
        if server.sni_names().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.sni_names(),
        [Some("localhost".to_string()), None],
        "SNI is the URL's host name (none for an IP address)"
    );
}

#[tokio::test]
async fn names_resolving_to_denied_or_unnamed_internal_addresses_are_refused() {
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", b"ok"))).await;
    let port = server.addr.port();
    let dns = TestDns::start(&[
        ("metadata.test", &["169.254.169.254"]),
        ("loop.test", &["127.0.0.1"]),
        ("mapped.test", &["::ffff:127.0.0.1"]),
        ("zero.test", &["0.0.0.0"]),
        ("mixed.test", &["169.254.169.254", "127.0.0.1"]),
        ("nat64.test", &["64:ff9b::a9fe:a9fe"]),
        ("sixtofour.test", &["2002:7f00:1::1"]),
    ])
    .await;
    let client = client_resolving_with(&dns);
    let star = allow(&["*", "169.254.0.0/16", "0.0.0.0/8"]);
    for (name, why) in [
        ("metadata.test", "deny_ranges"),
        ("zero.test", "deny_ranges"),
        ("loop.test", "loopback"),
        ("mapped.test", "loopback"),
        ("mixed.test", "deny_ranges"),
        ("nat64.test", "NAT64 for 169.254.169.254"),
        ("sixtofour.test", "6to4 for 127.0.0.1"),
    ] {
        let url = format!("http://{name}:{port}/");
        let err = fetch(&client, &star, get(&url)).await.expect_err(&url);
        assert!(
            matches!(&err, HttpError::NotAllowed(m) if m.contains(why) && m.contains(name)),
            "{url}: {err:?}"
        );
    }
    assert_eq!(server.connections(), 0, "nothing was connected to");

    // Naming the address is what reaches it; the denied sibling is skipped, not tried.
    let named = allow(&["*", &format!("http://127.0.0.1:{port}")]);
    for name in ["loop.test", "mixed.test", "mapped.test"] {
        let resp = fetch(&client, &named, get(&format!("http://{name}:{port}/")))
            .await
            .expect(name);
        assert_eq!(resp.body, b"ok");
    }
    assert_eq!(server.connections(), 3);
    let other_port = allow(&["*", "http://127.0.0.1:1"]);
    let err = fetch(
        &client,
        &other_port,
        get(&format!("http://loop.test:{port}/")),
    )
    .await
    .expect_err("the naming entry is for another port");
    assert!(matches!(err, HttpError::NotAllowed(_)), "{err:?}");
}

#[tokio::test]
async fn ip_literals_in_any_spelling_meet_the_same_rules() {
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", b"ok"))).await;
    let port = server.addr.port();
    let client = client_with(HttpLimits::default());
    let star = allow(&["*"]);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::]:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[::ffff:169.254.169.254]/latest/meta-data/".to_string(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_string(),
        "http://[64:ff9b::169.254.169.254]/latest/meta-data/".to_string(),
        "http://[2002:a9fe:a9fe::1]/latest/meta-data/".to_string(),
        format!("http://[64:ff9b::127.0.0.1]:{port}/"),
        format!("http://[::127.0.0.1]:{port}/"),
    ] {
        let err = fetch(&client, &star, get(&url)).await.expect_err(&url);
        assert!(matches!(err, HttpError::NotAllowed(_)), "{url}: {err:?}");
    }
    assert_eq!(server.connections(), 0);
    // The explicit entry reaches the address in its other spellings too.
    let named = allow(&[&format!("127.0.0.0/8:{port}")]);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        fetch(&client, &named, get(&url)).await.expect(&url);
    }
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn encoded_separators_under_a_path_prefix_are_refused_before_connecting() {
    let server = TestServer::start(Reply::Echo).await;
    let client = client_with(HttpLimits::default());
    let list = allow(&[&server.url("http", "/v1/")]);
    for path in [
        "/v1/..%2Fadmin",
        "/v1/..%2fadmin",
        "/v1/..%5Cadmin",
        "/v1/%2E%2E/admin",
        "/v1/%2e%2E%2Fadmin",
        "/v1/..;/admin",
    ] {
        let err = fetch(&client, &list, get(&server.url("http", path)))
            .await
            .expect_err(path);
        assert!(matches!(err, HttpError::NotAllowed(_)), "{path}: {err:?}");
    }
    assert_eq!(server.connections(), 0);
    fetch(&client, &list, get(&server.url("http", "/v1/status")))
        .await
        .expect("a plain path under the prefix");
}

#[tokio::test]
async fn the_run_allowance_counts_request_bodies_and_bytes_of_failed_fetches() {
    // The head promises 100000 bytes; 5000 arrive, then the server closes.
    let mut cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
    cut.extend_from_slice(&[b'x'; 5000]);
    let server = TestServer::start(Reply::Fixed(cut)).await;
    let list = allow(&[&server.url("http", "")]);
    let client = client_with(HttpLimits::default());
    let mut budget = FetchBudget::new(10, 100_000);
    let err = fetch_within(&client, &list, get(&server.url("http", "/")), &mut budget)
        .await
        .expect_err("the body ends early");
    assert!(matches!(err, HttpError::Other(_)), "{err:?}");
    let head = "content-length".len() + "100000".len();
    assert_eq!(
        budget.fetched_bytes(),
        (head + 5000) as u64,
        "a failed fetch's bytes count"
    );

    // A body larger than what is left is refused before connecting, and spends no bytes.
    let mut post = get(&server.url("http", "/"));
    post.method = "POST".into();
    post.body = Some(vec![b'p'; 100_000]);
    let err = fetch_within(&client, &list, post, &mut budget)
        .await
        .expect_err("body over the allowance");
    assert!(
        matches!(&err, HttpError::RunLimit(m) if m.contains("100000 bytes")),
        "{err:?}"
    );
    assert_eq!(server.connections(), 1);
    // One that fits is sent and spent; the response gets what is left after its head.
    let mut post = get(&server.url("http", "/"));
    post.method = "POST".into();
    post.headers = vec![("X-Tag".into(), "a".repeat(95))];
    post.body = Some(vec![b'p'; 93_900]);
    let resp = fetch_within(&client, &list, post, &mut budget)
        .await
        .expect("a request within the allowance");
    assert!(resp.truncated);
    assert_eq!(resp.body.len(), 100_000 - (head + 5000) - 94_000 - head);
    assert_eq!(
        budget.fetched_bytes(),
        100_000,
        "the allowance is spent exactly"
    );
    let err = fetch_within(&client, &list, get(&server.url("http", "/")), &mut budget)
        .await
        .expect_err("nothing left");
    assert!(
        matches!(&err, HttpError::RunLimit(m) if m.contains("max_fetched_bytes=100000")),
        "{err:?}"
    );
    assert_eq!((budget.fetches(), server.connections()), (4, 2));
}

/// Threads of this process (the blocking pool grows a thread per blocking lookup).
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_lookups_are_cancelled_and_hold_no_thread() {
    let dns = TestDns::silent().await;
    let client = client_resolving_with(&dns);
    let star = allow(&["*"]);
    let mut req = get("http://never-answers.test/");
    req.timeout_ms = 300;
    let err = fetch(&client, &star, req).await.expect_err("silent DNS");
    assert_eq!(err, HttpError::Timeout);
    let sent = dns.queries();
    assert!(sent >= 1, "the lookup reached the DNS server");
    // The resolver retries a query after 2 s; a lookup still running would show it.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(dns.queries(), sent, "no query after the fetch gave up");

    let before = threads();
    let storm = (0..200).map(|i| {
        let mut req = get(&format!("http://name-{i}.never-answers.test/"));
        req.timeout_ms = 500;
        let (client, star) = (&client, &star);
        async move { fetch(client, star, req).await }
    });
    let results = futures::future::join_all(storm).await;
    assert!(results.iter().all(|r| r == &Err(HttpError::Timeout)));
    let after = threads();
    assert!(
        after <= before + 4,
        "200 pending lookups grew the process from {before} to {after} threads"
    );
}

#[tokio::test]
async fn the_client_connects_at_its_first_fetch_and_clones_share_it() {
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", b"up"))).await;
    let list = allow(&[&server.url("http", "")]);
    let client = client_with(HttpLimits::default());
    let clone = client.clone();
    // Nothing is made before a fetch: a host whose probes never fetch carries no TLS context.
    assert!(
        format!("{client:?}").contains("connected: false"),
        "{client:?}"
    );
    let resp = fetch(&clone, &list, get(&server.url("http", "/")))
        .await
        .expect("fetch");
    assert_eq!(resp.body, b"up");
    assert!(
        format!("{client:?}").contains("connected: true"),
        "{client:?}"
    );
}

#[test]
fn an_unreadable_extra_ca_file_stops_the_client_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing-ca.pem");
    let err = HttpClient::new(HttpLimits {
        extra_ca_file: Some(missing.clone()),
        ..HttpLimits::default()
    })
    .expect_err("a missing CA file is refused at start");
    assert!(
        format!("{err:#}").contains(&missing.display().to_string()),
        "{err:#}"
    );
}
