//! The `http` capability without any wasm: real sockets against a local server.

#[path = "http_capability/requests.rs"]
mod requests;
#[path = "http_capability/test_pki.rs"]
mod test_pki;
#[path = "http_capability/test_server.rs"]
mod test_server;

use std::io::Write;

use requests::{allow, fetch, get};
use sonde_host::http::{AllowList, HttpClient, HttpError, HttpLimits};
use test_server::{response, Reply, TestServer};

fn client() -> HttpClient {
    HttpClient::new(HttpLimits::default()).expect("client")
}

#[tokio::test]
async fn status_headers_and_body_are_returned() {
    let server = TestServer::start(Reply::Fixed(response(
        "200 OK",
        "X-Probe: yes\r\n",
        b"hello",
    )))
    .await;
    let url = server.url("http", "/hello?x=1");
    let resp = fetch(&client(), &allow(&[&server.url("http", "")]), get(&url))
        .await
        .expect("fetch");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello");
    assert!(!resp.truncated);
    assert!(resp
        .headers
        .iter()
        .any(|(k, v)| k == "x-probe" && v == "yes"));
    let t = resp.timings;
    assert_eq!(t.tls_ms, 0.0, "plain HTTP has no TLS phase");
    assert_eq!(t.dns_ms, 0.0, "an IP literal needs no DNS");
    assert!(t.first_byte_ms <= t.total_ms, "{t:?}");
}

#[tokio::test]
async fn method_headers_and_body_reach_the_server() {
    let server = TestServer::start(Reply::Echo).await;
    let mut req = get(&server.url("http", "/submit"));
    req.method = "POST".into();
    req.headers = vec![("X-Token".into(), "abc".into())];
    req.body = Some(b"payload-123".to_vec());
    let resp = fetch(&client(), &allow(&[&server.url("http", "")]), req)
        .await
        .expect("fetch");
    let echoed = String::from_utf8_lossy(&resp.body).to_ascii_lowercase();
    assert!(echoed.starts_with("post /submit http/1.1\r\n"), "{echoed}");
    assert!(echoed.contains("x-token: abc\r\n"), "{echoed}");
    assert!(
        echoed.contains(&format!("host: {}\r\n", server.addr)),
        "{echoed}"
    );
    assert!(echoed.ends_with("payload-123"), "{echoed}");
}

#[tokio::test]
async fn redirect_is_returned_not_followed() {
    let server = TestServer::start(Reply::Fixed(response(
        "302 Found",
        "Location: http://127.0.0.1:1/elsewhere\r\n",
        b"",
    )))
    .await;
    let resp = fetch(
        &client(),
        &allow(&[&server.url("http", "")]),
        get(&server.url("http", "/")),
    )
    .await
    .expect("fetch");
    assert_eq!(resp.status, 302);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn body_over_the_limit_is_truncated() {
    let big = vec![b'x'; 200_000];
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", &big))).await;
    let mut req = get(&server.url("http", "/big"));
    req.max_body_bytes = 1000;
    let resp = fetch(&client(), &allow(&[&server.url("http", "")]), req)
        .await
        .expect("fetch");
    assert_eq!(resp.body.len(), 1000);
    assert!(resp.truncated);
}

#[tokio::test]
async fn body_exactly_at_the_limit_is_not_truncated() {
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", &[b'y'; 1000]))).await;
    let mut req = get(&server.url("http", "/"));
    req.max_body_bytes = 1000;
    let resp = fetch(&client(), &allow(&[&server.url("http", "")]), req)
        .await
        .expect("fetch");
    assert_eq!(resp.body.len(), 1000);
    assert!(!resp.truncated);
}

#[tokio::test]
async fn client_body_cap_lowers_the_request_limit() {
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", &[b'z'; 5000]))).await;
    let limits = HttpLimits {
        max_body_bytes_cap: 100,
        ..HttpLimits::default()
    };
    let client = HttpClient::new(limits).expect("client");
    let resp = fetch(
        &client,
        &allow(&[&server.url("http", "")]),
        get(&server.url("http", "/")),
    )
    .await
    .expect("fetch");
    assert_eq!(resp.body.len(), 100);
    assert!(resp.truncated);
}

#[tokio::test]
async fn oversized_response_head_is_too_large() {
    let huge_header = format!("X-Big: {}\r\n", "a".repeat(1024 * 1024));
    let server = TestServer::start(Reply::Fixed(response("200 OK", &huge_header, b"ok"))).await;
    let err = fetch(
        &client(),
        &allow(&[&server.url("http", "")]),
        get(&server.url("http", "/")),
    )
    .await
    .expect_err("a 1 MiB header must be refused");
    assert_eq!(err, HttpError::TooLarge);
}

#[tokio::test]
async fn server_that_never_answers_times_out() {
    let server = TestServer::start(Reply::Silent).await;
    let mut req = get(&server.url("http", "/"));
    req.timeout_ms = 300;
    let err = fetch(&client(), &allow(&[&server.url("http", "")]), req)
        .await
        .expect_err("silent server");
    assert_eq!(err, HttpError::Timeout);
}

#[tokio::test]
async fn client_timeout_cap_lowers_the_request_timeout() {
    let server = TestServer::start(Reply::Silent).await;
    let limits = HttpLimits {
        max_timeout_ms: 300,
        ..HttpLimits::default()
    };
    let client = HttpClient::new(limits).expect("client");
    let mut req = get(&server.url("http", "/"));
    req.timeout_ms = 3_600_000;
    // The outer 60 s guard in `fetch` fails the test if the cap is ignored.
    let err = fetch(&client, &allow(&[&server.url("http", "")]), req)
        .await
        .expect_err("silent server");
    assert_eq!(err, HttpError::Timeout);
}

#[tokio::test]
async fn disallowed_destination_is_refused_before_connecting() {
    let server = TestServer::start(Reply::Fixed(response("200 OK", "", b"ok"))).await;
    let other_port = allow(&["http://127.0.0.1:1"]);
    for list in [AllowList::deny_all(), other_port] {
        let err = fetch(&client(), &list, get(&server.url("http", "/")))
            .await
            .expect_err("not allowed");
        assert!(matches!(err, HttpError::NotAllowed(_)), "{err:?}");
    }
    // Connections are accepted in order: had a refused fetch connected, the server
    // would count it before this allowed one.
    fetch(
        &client(),
        &allow(&[&server.url("http", "")]),
        get(&server.url("http", "/")),
    )
    .await
    .expect("allowed fetch");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn invalid_urls_and_requests_are_errors_not_panics() {
    let any = allow(&["*"]);
    for url in ["not a url", "http://", "http://[::1", ""] {
        let err = fetch(&client(), &any, get(url)).await.expect_err(url);
        assert!(matches!(err, HttpError::InvalidUrl(_)), "{url}: {err:?}");
    }
    let err = fetch(&client(), &any, get("ftp://127.0.0.1/"))
        .await
        .expect_err("ftp");
    assert!(matches!(err, HttpError::NotAllowed(_)), "{err:?}");

    let server = TestServer::start(Reply::Fixed(response("200 OK", "", b"ok"))).await;
    let mut bad_method = get(&server.url("http", "/"));
    bad_method.method = "GE T".into();
    let mut bad_header = get(&server.url("http", "/"));
    bad_header.headers = vec![("X-A".into(), "line\r\nInjected: 1".into())];
    for req in [bad_method, bad_header] {
        let err = fetch(&client(), &any, req).await.expect_err("bad request");
        assert!(matches!(err, HttpError::InvalidRequest(_)), "{err:?}");
    }
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let url = format!("http://{addr}/");
    let err = fetch(&client(), &allow(&[&url]), get(&url))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, HttpError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn unknown_host_is_a_dns_error() {
    let url = "http://no-such-host.invalid/";
    let err = fetch(&client(), &allow(&["*.invalid"]), get(url))
        .await
        .expect_err("the .invalid TLD never resolves");
    assert!(matches!(err, HttpError::Dns(_)), "{err:?}");
}

fn client_trusting(ca_pem: &[u8]) -> (HttpClient, tempfile::NamedTempFile) {
    let mut ca_file = tempfile::NamedTempFile::new().expect("temp file");
    ca_file.write_all(ca_pem).expect("write CA");
    let limits = HttpLimits {
        extra_ca_file: Some(ca_file.path().to_path_buf()),
        ..HttpLimits::default()
    };
    (HttpClient::new(limits).expect("client"), ca_file)
}

#[tokio::test]
async fn https_with_the_extra_ca_is_verified_and_timed() {
    let pki = test_pki::TestPki::new();
    let server = TestServer::start_tls(
        Reply::Fixed(response("200 OK", "", b"secure")),
        pki.acceptor(),
    )
    .await;
    let (client, _ca) = client_trusting(&pki.ca_pem);
    let url = format!("https://localhost:{}/", server.addr.port());
    // `localhost` is loopback: reached only through an entry naming the address.
    let loopback = format!("https://127.0.0.1:{}", server.addr.port());
    let resp = fetch(&client, &allow(&[&url, &loopback]), get(&url))
        .await
        .expect("fetch");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"secure");
    assert!(resp.timings.tls_ms > 0.0, "{:?}", resp.timings);
}

#[tokio::test]
async fn https_with_an_unknown_ca_is_a_tls_error() {
    let pki = test_pki::TestPki::new();
    let server = TestServer::start_tls(
        Reply::Fixed(response("200 OK", "", b"secure")),
        pki.acceptor(),
    )
    .await;
    let url = format!("https://localhost:{}/", server.addr.port());
    let loopback = format!("https://127.0.0.1:{}", server.addr.port());
    let err = fetch(&client(), &allow(&[&url, &loopback]), get(&url))
        .await
        .expect_err("untrusted CA");
    assert!(matches!(err, HttpError::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn https_to_a_name_the_certificate_lacks_is_a_tls_error() {
    let pki = test_pki::TestPki::new();
    let server = TestServer::start_tls(
        Reply::Fixed(response("200 OK", "", b"secure")),
        pki.acceptor(),
    )
    .await;
    let (client, _ca) = client_trusting(&pki.ca_pem);
    // The certificate names `localhost` only.
    let url = server.url("https", "/");
    let err = fetch(&client, &allow(&[&url]), get(&url))
        .await
        .expect_err("name mismatch");
    assert!(
        matches!(&err, HttpError::Tls(m) if m.contains("certificate")),
        "{err:?}"
    );
}
