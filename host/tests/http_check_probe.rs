//! The `http-check` component run by the real `host` binary (`--once`) against
//! local test servers: status, regex match and non-match, body limit, timeout,
//! refused connection, HTTPS with an extra CA, and a destination outside the
//! job's allow-list.

mod common;
#[path = "http_capability/test_pki.rs"]
mod test_pki;
#[path = "http_capability/test_server.rs"]
mod test_server;

use test_server::{response, Reply, TestServer};

/// `allow` is one entry, or several as `a", "b`.
fn job(name: &str, url: &str, extra_params: &str, allow: &str) -> String {
    format!(
        "[[job]]\nname = \"{name}\"\nprobe = \"http-check\"\n\
         params = {{ url = \"{url}\"{extra_params} }}\nallow_http = [\"{allow}\"]\n\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn http_check_reports_status_regex_limits_and_failures() {
    let page = response("200 OK", "", b"<html>hello sonde</html>");
    let ok = TestServer::start(Reply::Fixed(page.clone())).await;
    let unavailable = TestServer::start(Reply::Fixed(response(
        "503 Service Unavailable",
        "",
        b"down",
    )))
    .await;
    let mut long_body = vec![b'x'; 10_000];
    long_body.extend_from_slice(b"NEEDLE");
    let long = TestServer::start(Reply::Fixed(response("200 OK", "", &long_body))).await;
    let silent = TestServer::start(Reply::Silent).await;
    let pki = test_pki::TestPki::new();
    let tls = TestServer::start_tls(Reply::Fixed(page), pki.acceptor()).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_url = format!("http://{}/", closed.local_addr().expect("addr"));
    drop(closed);

    let dir = common::scratch();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).expect("write CA");
    let probe_dir = common::probe("http-check");
    let probe_dir = probe_dir.parent().expect("probes dir");
    let https_url = format!("https://localhost:{}/", tls.addr.port());
    let mut config = format!(
        "probe_dirs = [{:?}]\n\n[http]\nextra_ca_file = {:?}\n\n",
        probe_dir.display().to_string(),
        ca_file.display().to_string()
    );
    let ok_url = ok.url("http", "/");
    let long_url = long.url("http", "/");
    config += &job("match", &ok_url, ", regex = \"hello s.nde\"", &ok_url);
    config += &job("nomatch", &ok_url, ", regex = \"goodbye\"", &ok_url);
    config += &job(
        "unavailable",
        &unavailable.url("http", "/"),
        "",
        &unavailable.url("http", ""),
    );
    config += &job(
        "expect-503",
        &unavailable.url("http", "/"),
        ", expect_status = 503",
        &unavailable.url("http", ""),
    );
    config += &job(
        "cut-body",
        &long_url,
        ", regex = \"NEEDLE\", max_body_bytes = 1000",
        &long_url,
    );
    config += &job("whole-body", &long_url, ", regex = \"NEEDLE\"", &long_url);
    config += &job(
        "timeout",
        &silent.url("http", "/"),
        ", timeout_ms = 300",
        &silent.url("http", ""),
    );
    config += &job("refused", &closed_url, "", &closed_url);
    // `localhost` resolves to loopback: an entry naming the address is what reaches it.
    let https_loopback = format!("https://127.0.0.1:{}", tls.addr.port());
    config += &job(
        "https",
        &https_url,
        "",
        &format!("{https_url}\", \"{https_loopback}"),
    );
    config += &job("disallowed", &ok_url, "", "http://127.0.0.1:1");
    let cache = dir.path().join("cache");
    let finished = common::run_config_once(dir.path(), cache, config).await;
    let ok_run = |job: &str| finished.url_values(job);

    let durations: Vec<_> = finished
        .run("match")
        .samples
        .iter()
        .filter(|s| s.name == "sonde.http.check.duration")
        .collect();
    assert_eq!(durations.len(), 5, "one per phase: {durations:?}");
    assert!(
        durations.iter().all(|s| s.unit == "s" && s.value < 5.0),
        "durations in seconds: {durations:?}"
    );
    let v = ok_run("match");
    assert_eq!(v["sonde.http.check.up"], 1.0);
    assert_eq!(v["sonde.http.check.status_code"], 200.0);
    assert_eq!(v["sonde.http.check.regex_match"], 1.0);
    assert!(
        v["sonde.http.check.duration{phase=first_byte}"]
            <= v["sonde.http.check.duration{phase=total}"],
        "{v:?}"
    );
    assert_eq!(v["sonde.http.check.duration{phase=tls}"], 0.0);

    let v = ok_run("nomatch");
    assert_eq!(
        (v["sonde.http.check.regex_match"], v["sonde.http.check.up"]),
        (0.0, 0.0)
    );

    let v = ok_run("unavailable");
    assert_eq!(
        (v["sonde.http.check.status_code"], v["sonde.http.check.up"]),
        (503.0, 0.0)
    );
    assert!(
        !v.contains_key("sonde.http.check.regex_match"),
        "no regex, no regex sample: {v:?}"
    );
    assert_eq!(ok_run("expect-503")["sonde.http.check.up"], 1.0);

    let v = ok_run("cut-body");
    assert_eq!(
        (v["sonde.http.check.regex_match"], v["sonde.http.check.up"]),
        (0.0, 0.0),
        "the needle is past the limit"
    );
    assert_eq!(ok_run("whole-body")["sonde.http.check.regex_match"], 1.0);

    let v = ok_run("timeout");
    assert_eq!(v["sonde.http.check.up"], 0.0);
    assert_eq!(v["sonde.http.check.error{kind=timeout}"], 1.0);

    let v = ok_run("refused");
    assert_eq!(v["sonde.http.check.up"], 0.0);
    assert_eq!(v["sonde.http.check.error{kind=connect}"], 1.0);

    let v = ok_run("https");
    assert_eq!(v["sonde.http.check.up"], 1.0);
    assert!(v["sonde.http.check.duration{phase=tls}"] > 0.0, "{v:?}");

    let error = finished.error("disallowed");
    assert!(
        error.contains("bad config") && error.contains("not allowed"),
        "{error}"
    );
    assert_eq!(
        ok.connections(),
        2,
        "the disallowed job must not reach the server"
    );
    assert!(!finished.success, "--once exits non-zero when a run failed");
}
