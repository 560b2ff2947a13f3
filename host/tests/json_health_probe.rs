//! The Python `json-health` component (built with componentize-py) run by the real `host`
//! binary (`--once`) against local servers: fields and conditions, bodies it cannot use
//! (HTML, nesting deeper than CPython's parser allows, truncation), a missing field, a
//! refused connection, and refusals by the allow-list and the param checks.

mod common;
#[path = "http_capability/test_server.rs"]
mod test_server;

use test_server::{response, Reply, TestServer};

const HEALTH: &[u8] = br#"{"status": "ok", "queue": {"depth": 12}, "version": "2.14.1",
  "checks": [{"name": "db", "ok": true}, {"name": "cache", "ok": false}]}"#;

async fn serve(status_line: &str, body: &[u8]) -> TestServer {
    TestServer::start(Reply::Fixed(response(
        status_line,
        "Content-Type: application/json\r\n",
        body,
    )))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn json_health_checks_fields_conditions_and_unusable_bodies() {
    let ok = serve("200 OK", HEALTH).await;
    let html = serve("200 OK", b"<html>maintenance</html>").await;
    let nested = serve("200 OK", &[b'['; 100_000]).await;
    // UTF-16 with a byte-order mark: not JSON on the wire (RFC 8259 says UTF-8).
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(r#"{"status": "ok"}"#.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let utf16 = serve("200 OK", &utf16).await;
    let down = serve("503 Service Unavailable", br#"{"status": "down"}"#).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_url = format!("http://{}/", closed.local_addr().expect("addr"));
    drop(closed);

    let probe = common::probe("json-health");
    let job = |name: &str, server: &str, params: &[(&str, &str)]| {
        let mut all = vec![("url", server)];
        all.extend_from_slice(params);
        common::job_toml(name, &probe, &all, &[server], "")
    };
    let (ok_url, html_url, nested_url, down_url) = (
        ok.url("http", "/health"),
        html.url("http", "/"),
        nested.url("http", "/"),
        down.url("http", "/"),
    );
    let config = [
        job("status", &ok_url, &[("field", "status"), ("expect", "ok")]),
        job(
            "depth",
            &ok_url,
            &[("field", "queue.depth"), ("expect", "< 10")],
        ),
        job(
            "db",
            &ok_url,
            &[("field", "$.checks[0].ok"), ("expect", "true")],
        ),
        job(
            "cache",
            &ok_url,
            &[("field", "checks[-1].ok"), ("expect", "== true")],
        ),
        job(
            "version",
            &ok_url,
            &[("field", "version"), ("expect", r"~ ^2\.")],
        ),
        job("html", &html_url, &[]),
        job("nested", &nested_url, &[("field", "status")]),
        job("utf16", &utf16.url("http", "/"), &[("field", "status")]),
        job(
            "cut",
            &ok_url,
            &[("field", "status"), ("max_body_bytes", "10")],
        ),
        job("missing", &ok_url, &[("field", "checks[5].ok")]),
        job("down", &down_url, &[("field", "status"), ("expect", "ok")]),
        job("refused", &closed_url, &[]),
        common::job_toml(
            "disallowed",
            &probe,
            &[("url", &ok_url)],
            &["http://127.0.0.1:1"],
            "",
        ),
        job("misconfigured", &ok_url, &[("expect", "ok")]),
    ]
    .concat();
    let dir = common::scratch();
    let finished = common::run_config_once(dir.path(), common::shared_cache(), config).await;
    let log = &finished.stderr;
    let ok_run = |job: &str| finished.url_values(job);

    let v = ok_run("status");
    assert_eq!(v["sonde.http.json.up"], 1.0);
    assert_eq!(v["sonde.http.json.status_code"], 200.0);
    assert_eq!(v["sonde.http.json.condition{field=status}"], 1.0);
    assert!(v["sonde.http.json.duration"] > 0.0, "{v:?}");
    assert!(
        !v.contains_key("sonde.http.json.value{field=status}"),
        "a string has no value sample: {v:?}"
    );

    let v = ok_run("depth");
    assert_eq!(v["sonde.http.json.value{field=queue.depth}"], 12.0);
    assert_eq!(v["sonde.http.json.condition{field=queue.depth}"], 0.0);
    assert_eq!(v["sonde.http.json.up"], 0.0);
    assert!(
        log.contains("12 < 10 is false"),
        "the reason is logged:\n{log}"
    );

    let v = ok_run("db");
    assert_eq!(
        (
            v["sonde.http.json.up"],
            v["sonde.http.json.value{field=$.checks[0].ok}"]
        ),
        (1.0, 1.0)
    );
    let v = ok_run("cache");
    assert_eq!(
        (
            v["sonde.http.json.up"],
            v["sonde.http.json.condition{field=checks[-1].ok}"]
        ),
        (0.0, 0.0)
    );
    assert_eq!(ok_run("version")["sonde.http.json.up"], 1.0);

    for (job, kind) in [
        ("html", "invalid_json"),
        ("nested", "invalid_json"),
        ("utf16", "invalid_json"),
        ("cut", "truncated"),
        ("missing", "field_missing"),
        ("refused", "connect"),
    ] {
        let v = ok_run(job);
        assert_eq!(v["sonde.http.json.up"], 0.0, "{job}: {v:?}");
        assert_eq!(
            v[&format!("sonde.http.json.error{{kind={kind}}}")],
            1.0,
            "{job}: {v:?}"
        );
    }

    let v = ok_run("down");
    assert_eq!(
        (v["sonde.http.json.up"], v["sonde.http.json.status_code"]),
        (0.0, 503.0)
    );
    assert_eq!(v["sonde.http.json.condition{field=status}"], 0.0);

    for (job, text) in [
        ("disallowed", "not allowed"),
        (
            "misconfigured",
            "bad config: param expect needs param field",
        ),
    ] {
        let error = finished.error(job);
        assert!(
            error.contains("bad config") && error.contains(text),
            "{job}: {error}"
        );
    }
    assert_eq!(finished.messages.len(), 14, "one run per job; log:\n{log}");
    assert!(!finished.success, "--once exits non-zero when a run failed");
}
