//! The JavaScript `http-slo` component (built with componentize-js) run on a schedule by the
//! real `host` binary: its rolling window lives in the instance between runs, slow
//! responses, header mismatches and timeouts spend the error budget, and the allow-list
//! still decides where it may connect.

mod common;
#[path = "http_capability/test_server.rs"]
mod test_server;

use std::collections::BTreeMap;
use std::time::Duration;

use sonde_message::{RunMessage, RunStatus};
use test_server::{response, Reply, TestServer};

fn values(run: &RunMessage) -> BTreeMap<String, f64> {
    assert_eq!(run.status, RunStatus::Ok, "{run:?}");
    common::sample_values(run, &["url"])
}

#[tokio::test(flavor = "multi_thread")]
async fn http_slo_keeps_its_window_across_runs_and_spends_the_budget() {
    let json = response("200 OK", "Content-Type: application/json\r\n", b"{}");
    let fast = TestServer::start(Reply::Fixed(json.clone())).await;
    let slow = TestServer::start(Reply::Delayed(Duration::from_millis(600), json)).await;
    let silent = TestServer::start(Reply::Silent).await;
    let probe = common::probe("http-slo");
    let job = |name: &str, server: &TestServer, params: &[(&str, &str)]| {
        let url = server.url("http", "/");
        let mut all = vec![("url", url.as_str())];
        all.extend_from_slice(params);
        common::job_toml(name, &probe, &all, &[&url], "interval_ms = 400")
    };
    // Runs faster than the host's default floor, to see the window move within the test.
    let config = "min_interval_ms = 400\n".to_string()
        + &[
            job(
                "fast",
                &fast,
                &[
                    ("latency_slo_ms", "1000"),
                    ("window", "3"),
                    ("header", "Content-Type: ^application/json"),
                ],
            ),
            job(
                "slow",
                &slow,
                &[("latency_slo_ms", "100"), ("objective", "0.9")],
            ),
            job(
                "html-wanted",
                &fast,
                &[("header", "content-type: ^text/html")],
            ),
            job("silent", &silent, &[("timeout_ms", "200")]),
        ]
        .concat();
    let dir = common::scratch();
    let config_path = dir.path().join("host.toml");
    std::fs::write(&config_path, config).expect("write host.toml");
    common::warm_cache(&common::shared_cache(), &[&probe]);
    let host = common::RunningHost::start(
        &common::shared_cache(),
        &["--config", &config_path.display().to_string()],
    );
    let jobs = ["fast", "slow", "html-wanted", "silent"];
    host.wait_for(
        "four runs of every job",
        Duration::from_secs(120),
        |msgs, _| jobs.iter().all(|j| common::by_job(msgs, j).len() >= 4),
    );
    let (_, msgs, log) = host.stop();
    let runs = |job: &str| -> Vec<BTreeMap<String, f64>> {
        let mut runs = common::by_job(&msgs, job);
        runs.sort_by_key(|m| m.started_at);
        runs.into_iter().map(values).collect()
    };

    // The window grows run by run up to its size: the instance kept its state.
    let fast_runs = runs("fast");
    let sizes: Vec<f64> = fast_runs
        .iter()
        .map(|v| v["sonde.http.slo.window_runs"])
        .collect();
    assert_eq!(sizes[..4], [1.0, 2.0, 3.0, 3.0], "log:\n{log}");
    for v in &fast_runs {
        assert_eq!(v["sonde.http.slo.good"], 1.0, "{v:?}\nlog:\n{log}");
        assert_eq!(v["sonde.http.slo.header_match{header=content-type}"], 1.0);
        assert_eq!(v["sonde.http.slo.good_ratio"], 1.0);
        assert_eq!(
            v["sonde.http.slo.error_budget_remaining{objective=0.99}"],
            1.0
        );
        let p50 = v["sonde.http.slo.latency{quantile=0.5}"];
        assert!(
            p50 > 0.0 && p50 <= v["sonde.http.slo.latency{quantile=0.99}"],
            "{v:?}"
        );
    }

    // Every slow run misses a 100 ms objective: the whole 10 % budget and 9 times more is spent.
    for v in runs("slow") {
        assert!(v["sonde.http.slo.duration"] >= 0.6, "{v:?}");
        assert_eq!(
            (v["sonde.http.slo.good"], v["sonde.http.slo.good_ratio"]),
            (0.0, 0.0)
        );
        let budget = v["sonde.http.slo.error_budget_remaining{objective=0.9}"];
        assert!((budget + 9.0).abs() < 1e-9, "{v:?}");
    }
    assert!(
        log.contains("latency_slo_ms=100"),
        "why a run is not good is logged:\n{log}"
    );

    for v in runs("html-wanted") {
        assert_eq!(
            v["sonde.http.slo.header_match{header=content-type}"], 0.0,
            "{v:?}"
        );
        assert_eq!(v["sonde.http.slo.good"], 0.0);
    }
    for v in runs("silent") {
        assert_eq!(v["sonde.http.slo.error{kind=timeout}"], 1.0, "{v:?}");
        assert_eq!(v["sonde.http.slo.good"], 0.0);
        assert!(
            !v.keys().any(|k| k.starts_with("sonde.http.slo.latency")),
            "no response, no latency: {v:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http_slo_refusals_are_config_errors() {
    let fast = TestServer::start(Reply::Fixed(response("200 OK", "", b"ok"))).await;
    let url = fast.url("http", "/");
    let probe = common::probe("http-slo");
    let config = [
        common::job_toml(
            "disallowed",
            &probe,
            &[("url", &url)],
            &["http://127.0.0.1:1"],
            "",
        ),
        common::job_toml(
            "bad-window",
            &probe,
            &[("url", &url), ("window", "0")],
            &[&url],
            "",
        ),
        common::job_toml(
            "bad-regex",
            &probe,
            &[("url", &url), ("header", "x: (")],
            &[&url],
            "",
        ),
    ]
    .concat();
    let dir = common::scratch();
    let finished = common::run_config_once(dir.path(), common::shared_cache(), config).await;
    for (job, text) in [
        ("disallowed", "not allowed"),
        (
            "bad-window",
            "param window: \"0\" is not a number of runs (1-10000)",
        ),
        (
            "bad-regex",
            "param header: \"(\" is not a regular expression",
        ),
    ] {
        let error = finished.error(job);
        assert!(
            error.starts_with("bad config: ") && error.contains(text),
            "{job}: {error}"
        );
    }
    assert_eq!(fast.connections(), 0, "no job reached the server");
}
