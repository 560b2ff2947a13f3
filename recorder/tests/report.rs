//! `recorder report` end to end: a generated fleet written through the recorder's writer
//! into a fresh database on the shared PostgreSQL, the real binary writing the page.

mod common;

use std::process::Command;

use chrono::Utc;
use common::fleet::{self, Fleet};
use sonde_tests::{create_test_database, recorder_ini, Env, RecorderTarget};

struct Site {
    env: Env,
    database: String,
    dir: tempfile::TempDir,
}

impl Site {
    async fn new() -> Site {
        let env = Env::load();
        let database = create_test_database(&env).await;
        Site {
            env,
            database,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn ini(&self) -> std::path::PathBuf {
        let target = RecorderTarget {
            section: "recorder",
            topic: "unused",
            group: "unused",
            database: &self.database,
        };
        let path = self.dir.path().join("recorder.ini");
        std::fs::write(&path, recorder_ini(&self.env, &target, "")).expect("write recorder.ini");
        path
    }

    /// `recorder report --config … ARGS --out report.html`: (success, stdout+stderr, page).
    fn report(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.dir.path().join("report.html");
        let _ = std::fs::remove_file(&out);
        let output = Command::new(env!("CARGO_BIN_EXE_recorder"))
            .arg("report")
            .arg("--config")
            .arg(self.ini())
            .args(args)
            .arg("--out")
            .arg(&out)
            .env_remove("PSQL_SERVER")
            .output()
            .expect("run recorder report");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let page = std::fs::read_to_string(&out).unwrap_or_default();
        (output.status.success(), text, page)
    }
}

/// `target/report/NAME`: pages kept for a person to look at after the run.
fn keep(name: &str, page: &str) {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_recorder"));
    if let Some(target) = exe.parent().and_then(|p| p.parent()) {
        let dir = target.join("report");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(name), page);
    }
}

/// `data-drawn` of the chart whose id starts with `id`.
fn drawn(page: &str, id: &str) -> usize {
    let at = page
        .find(&format!("data-chart=\"{id}"))
        .unwrap_or_else(|| panic!("chart {id} missing"));
    let rest = &page[at..];
    let value = rest
        .split("data-drawn=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("data-drawn attribute");
    value.parse().expect("a number")
}

fn rows_of(page: &str, table: &str) -> usize {
    let start = page
        .find(&format!("data-table=\"{table}\""))
        .unwrap_or_else(|| panic!("table {table} missing"));
    let end = start + page[start..].find("</table>").expect("table end");
    page[start..end].matches("<tr>").count() - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_report_has_every_chart_with_data() {
    let site = Site::new().await;
    let spec = Fleet {
        hosts: 3,
        span_secs: 2 * 3600,
        step_secs: 60,
        end: Utc::now(),
    };
    let g = fleet::write(&site.env, &site.database, spec).await;
    assert!(g.threshold_events > 0 && g.failed_runs > 0, "{g:?}");

    let (ok, log, page) = site.report(&["--since", "3h"]);
    assert!(ok, "recorder report failed:\n{log}");
    assert!(log.contains("report written to"), "{log}");
    keep("fleet.html", &page);
    for h in 0..spec.hosts {
        let host = fleet::host_name(h);
        assert_eq!(
            drawn(&page, &format!("cpu:{host}")),
            8,
            "cpu states of {host}"
        );
        assert_eq!(
            drawn(&page, &format!("memory:{host}")),
            2,
            "memory of {host}"
        );
        assert_eq!(
            drawn(&page, &format!("network:{host}")),
            4,
            "interfaces × directions of {host}"
        );
        let check = format!("{host} {}", fleet::check_url(h));
        assert_eq!(drawn(&page, &format!("http-up:{check}")), 1);
        assert_eq!(
            drawn(&page, &format!("http-status:{check}")),
            2,
            "200 and 503"
        );
        assert_eq!(
            drawn(&page, &format!("http-latency:{check}")),
            10,
            "5 phases × p50/p95"
        );
        assert_eq!(drawn(&page, &format!("http-regex:{check}")), 1);
    }
    assert_eq!(page.matches("data-event=").count(), g.threshold_events);
    assert_eq!(rows_of(&page, "failed-runs"), g.failed_runs.min(100));
    assert!(page.contains(&format!("{} in this window", g.failed_runs)));
    assert_eq!(rows_of(&page, "dead-letters"), fleet::DEAD_LETTERS);
    // the poison payload is shown as text, never as markup
    assert!(page.contains("&lt;b&gt;poison 0&lt;/b&gt;") && !page.contains("<b>poison"));
    // 2 h of data in at most 300 buckets: 30 s per point, and the page stays small
    assert!(page.contains("one point per 30 s"), "bucket width");
    assert!(page.len() < 600 * 1024, "page is {} bytes", page.len());

    let (ok, log, one) = site.report(&["--since", "3h", "--host", "host-001", "--bucket", "5m"]);
    assert!(ok, "{log}");
    assert!(one.contains("data-chart=\"cpu:host-001\""));
    assert!(
        !one.contains("data-chart=\"cpu:host-000\"")
            && !one.contains("data-chart=\"cpu:host-002\"")
    );
    assert!(one.contains("one point per 5 min"));
    assert_eq!(drawn(&one, "cpu:host-001"), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_window_still_writes_a_page() {
    let site = Site::new().await;
    let spec = Fleet {
        hosts: 1,
        span_secs: 600,
        step_secs: 60,
        end: Utc::now() - chrono::Duration::hours(5),
    };
    fleet::write(&site.env, &site.database, spec).await;
    let (ok, log, page) = site.report(&["--since", "1h"]);
    assert!(ok, "{log}");
    assert!(page.contains("no host metrics in this window"), "{page}");
    assert!(page.contains("0 in this window"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_clear_line() {
    let site = Site::new().await;
    let (ok, log, _) = site.report(&["--since", "5x"]);
    assert!(!ok);
    assert!(
        log.contains("--since") && log.contains("expected a number and s, m, h or d"),
        "{log}"
    );
    // a database the recorder never wrote to
    let (ok, log, page) = site.report(&[]);
    assert!(!ok && page.is_empty());
    assert!(log.contains("no Sonde tables yet"), "{log}");
    assert_eq!(log.trim().lines().count(), 1, "{log}");
}
