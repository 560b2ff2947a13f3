//! The page as a whole, from a hand-made [`Report`].

use chrono::{DateTime, Utc};

use super::data::*;
use super::page::render;

const T0: i64 = 1_700_000_000;

fn line(label: &str, dashed: bool, values: &[f64]) -> Line {
    Line {
        label: label.into(),
        points: values
            .iter()
            .enumerate()
            .map(|(i, v)| (T0 + 60 * i as i64, *v))
            .collect(),
        dashed,
    }
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap()
}

fn sample() -> Report {
    let evil = "<script>alert('x')</script>";
    Report {
        generated_at: at(T0 + 600),
        window: Window {
            from: T0,
            to: T0 + 600,
            bucket_secs: 60,
        },
        since: T0 - 3600,
        host_filter: None,
        runs: 42,
        hosts: vec![HostCharts {
            host: format!("web-1{evil}"),
            cpu: vec![
                line("idle", false, &[80.0, 70.0]),
                line("user", false, &[15.0, 25.0]),
                line("system", false, &[5.0, 5.0]),
            ],
            memory: vec![
                line("used", false, &[2e9, 2.1e9]),
                line("available", false, &[6e9, 5.9e9]),
            ],
            network: vec![line("eth0 receive", false, &[1e5, 2e5])],
            threshold_events: vec![Event {
                time: T0 + 60,
                text: format!("eth0 receive {evil}"),
            }],
        }],
        checks: vec![CheckCharts {
            host: "web-1".into(),
            url: format!("http://example.test/?q={evil}"),
            up: vec![(T0, 1.0), (T0 + 60, 0.0)],
            status: vec![Lane {
                label: "200".into(),
                cells: vec![(T0, 1.0)],
            }],
            latency: vec![
                line("total p50", false, &[10.0, 12.0]),
                line("total p95", true, &[30.0, 90.0]),
            ],
            regex: vec![Lane {
                label: evil.into(),
                cells: vec![(T0, 1.0), (T0 + 60, 0.0)],
            }],
        }],
        failed_runs: vec![FailedRun {
            time: at(T0 + 30),
            host: "web-1".into(),
            probe: "http-check".into(),
            job: "shop".into(),
            error: evil.into(),
        }],
        failed_runs_total: 250,
        dead_letters: vec![DeadLetter {
            time: at(T0 + 40),
            topic: "sonde".into(),
            partition: 2,
            offset: 17,
            reason: "invalid JSON: expected value".into(),
            payload_start: format!("{{\"v\":1,{evil}\\000"),
        }],
        dead_letters_total: 1,
    }
}

#[test]
fn every_chart_and_table_is_on_the_page() {
    let html = render(&sample());
    for id in [
        "cpu:web-1",
        "memory:web-1",
        "network:web-1",
        "http-up:web-1",
        "http-status:web-1",
        "http-latency:web-1",
        "http-regex:web-1",
    ] {
        assert!(html.contains(&format!("data-chart=\"{id}")), "{id} missing");
    }
    assert!(html.contains(r#"data-table="failed-runs""#));
    assert!(html.contains(r#"data-table="dead-letters""#));
    assert!(html.contains("250 in this window; the newest 1 shown."));
    assert!(html.contains("all times UTC"));
    assert!(html.contains("time (UTC)"));
    assert!(html.contains("one point per 1 min"));
    assert!(html.contains("tables since 2023-11-14 21:13:20 UTC"));
}

#[test]
fn nothing_from_the_database_becomes_markup_or_a_fetch() {
    let html = render(&sample());
    assert!(!html.contains("<script"), "unescaped script");
    assert!(html.contains("default-src 'none'"), "CSP missing");
    for fetching in [
        "src=",
        "href=\"http",
        "url(",
        "@import",
        "<link",
        "<iframe",
        "<object",
    ] {
        assert!(!html.contains(fetching), "page would fetch: {fetching}");
    }
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn the_overview_sums_busy_cpu_states_and_reads_the_worst_p95() {
    let html = render(&sample());
    // busy = user + system: 20 % then 30 %
    assert!(html.contains(">25.0 %<"), "mean busy");
    assert!(html.contains(">30.0 %<"), "peak busy");
    assert!(html.contains(">90.0 ms<"), "worst p95");
    assert!(html.contains(">50.0 %<"), "half the buckets up");
}

#[test]
fn an_empty_window_renders_a_page_that_says_so() {
    let mut report = sample();
    report.hosts.clear();
    report.checks.clear();
    report.failed_runs.clear();
    report.failed_runs_total = 0;
    let html = render(&report);
    assert!(html.contains("no host metrics in this window"));
    assert!(html.contains("no HTTP checks in this window"));
    assert!(html.ends_with("</body></html>\n"));
}
