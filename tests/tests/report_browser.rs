//! `recorder report` seen in a real browser: the real host runs the four bundled probes
//! (bandwidth with a threshold every run passes, http-check against a local page with a
//! regex) and a trapping probe; the real recorder stores them beside a malformed message;
//! `recorder report` writes the page; headless Chromium opens it over the DevTools protocol.
//!
//! Checked in the browser: the page loads with no console error, exception or blocked
//! request and makes no request but the file itself; every expected chart is laid out and
//! holds data points (polyline vertices counted by the SVG DOM, timeline blocks, threshold
//! marks); the failed-run and dead-letter tables have rows. A full-page PNG is saved to
//! `target/report/browser.png` for a person to look at.

mod pipeline;

use std::time::{Duration, Instant};

use pipeline::page::Page;
use pipeline::{binary, job, Pipeline};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use sonde_tests::browser::Browser;
use sonde_tests::{kafka_client_config, pg_connect, Env};

/// What the page exposes per chart, counted by the browser.
const CHART_STATS: &str = r#"JSON.stringify([...document.querySelectorAll('figure[data-chart]')].map(f => {
  let points = 0;
  f.querySelectorAll('[data-series] polyline').forEach(p => { points += p.points.numberOfItems; });
  points += f.querySelectorAll('[data-series] circle').length;
  const box = f.querySelector('svg').getBoundingClientRect();
  return { id: f.dataset.chart, points, blocks: f.querySelectorAll('[data-series] rect').length,
           events: f.querySelectorAll('[data-event]').length, width: box.width, height: box.height };
}))"#;

const TABLE_ROWS: &str = r#"JSON.stringify(Object.fromEntries([...document.querySelectorAll('table[data-table]')]
  .map(t => [t.dataset.table, t.querySelectorAll('tr').length - 1])))"#;

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    match db.query_one(sql, &[]).await {
        Ok(row) => row.get(0),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => 0,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Wait until every query returns at least its minimum.
async fn wait_for(db: &tokio_postgres::Client, wanted: &[(&str, i64)]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for (sql, min) in wanted {
        loop {
            let got = count(db, sql).await;
            if got >= *min {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{sql}: {got}, wanted at least {min}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn metric_count(metric: &str) -> String {
    format!(
        "SELECT count(*) FROM measurement m JOIN series s ON s.id = m.series_id WHERE s.metric = '{metric}'"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_of_a_real_pipeline_renders_in_chromium() {
    use sonde_recorder::report::metrics as m;

    let page = Page::serve();
    let mut p = Pipeline::new(Env::load(), "report", 1).await;
    let origin = format!("http://127.0.0.1:{}", page.port);
    p.write_host_config(&format!(
        "{}{}{}{}{}",
        job("cpu", "cpu", 1000, "params = { per_core = \"false\" }"),
        job("memory", "memory", 1000, ""),
        // every byte on the loopback interface (the host's own Kafka traffic) passes it
        job("bandwidth", "bandwidth", 1000, "params = { interface = \"lo\", threshold_bytes_per_sec = \"1\" }"),
        job(
            "http-check",
            "http-check",
            1000,
            &format!("params = {{ url = \"{origin}/\", regex = \"drill (page|site)\" }}\nallow_http = [\"{origin}\"]")
        ),
        job("trap", "trap", 1000, ""),
    ));
    let mut recorder = p.start_recorder("batch.max_delay_ms = 200");
    let mut host = p.start_host();

    let producer: FutureProducer = kafka_client_config(&p.env, &p.env.host_cert_dir)
        .create()
        .expect("Kafka producer");
    producer
        .send(
            FutureRecord::to(&p.topic)
                .key("poison")
                .payload("{\"v\":1,<not json>"),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("produce the malformed message");

    let db = pg_connect(&p.env, &p.database).await.expect("connect");
    wait_for(
        &db,
        &[
            (&metric_count(m::HTTP_UP), 4),
            (&metric_count(m::NETWORK_THRESHOLD), 3),
            (&metric_count(m::CPU_UTILIZATION), 16),
            ("SELECT count(*) FROM probe_run WHERE status = 'error'", 2),
            ("SELECT count(*) FROM dead_letter", 1),
        ],
    )
    .await;
    host.assert_running();
    recorder.assert_running();
    p.stop_host(&mut host);

    let target = binary("recorder")
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory")
        .join("report");
    std::fs::create_dir_all(&target).expect("create target/report");
    let html = target.join("browser.html");
    let output = std::process::Command::new(binary("recorder"))
        .arg("report")
        .arg("--config")
        .arg(p.dir().join("recorder.ini"))
        .args(["--since", "10m", "--out"])
        .arg(&html)
        .env_remove("PSQL_SERVER")
        .output()
        .expect("run recorder report");
    assert!(
        output.status.success(),
        "recorder report failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let mut browser = Browser::launch((1400, 1000)).expect("start chromium");
    let tab = browser.open_tab().expect("open a tab");
    let url = format!("file://{}", html.display());
    browser.load(&tab, &url).expect("load the report");
    browser
        .drain(Duration::from_millis(500))
        .expect("read events");

    let errors = browser.errors();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    let requests = browser.requests();
    assert!(
        requests.iter().all(|r| *r == url),
        "the page made requests besides itself: {requests:?}"
    );
    let title = browser.evaluate(&tab, "document.title").expect("title");
    assert!(
        title
            .as_str()
            .is_some_and(|t| t.starts_with("Sonde report")),
        "{title}"
    );

    let stats: Vec<Value> = serde_json::from_str(
        browser
            .evaluate(&tab, CHART_STATS)
            .expect("chart stats")
            .as_str()
            .unwrap_or("[]"),
    )
    .expect("chart stats JSON");
    let chart = |id: &str| -> &Value {
        stats
            .iter()
            .find(|c| c["id"].as_str().is_some_and(|c| c.starts_with(id)))
            .unwrap_or_else(|| panic!("no chart {id} among {stats:#?}"))
    };
    let h = &p.hostname;
    let check = format!("{h} {origin}/");
    for (id, field, min) in [
        (format!("cpu:{h}"), "points", 8 * 3),
        (format!("memory:{h}"), "points", 2 * 3),
        (format!("network:{h}"), "points", 2 * 2),
        (format!("network:{h}"), "events", 2),
        (format!("http-up:{check}"), "blocks", 1),
        (format!("http-status:{check}"), "blocks", 1),
        (format!("http-latency:{check}"), "points", 5 * 2 * 2),
        (format!("http-regex:{check}"), "blocks", 1),
    ] {
        let c = chart(&id);
        let got = c[field].as_i64().unwrap_or(0);
        assert!(
            got >= min,
            "{id}: {field} = {got}, expected at least {min}: {c}"
        );
        let (w, hgt) = (
            c["width"].as_f64().unwrap_or(0.0),
            c["height"].as_f64().unwrap_or(0.0),
        );
        assert!(w > 300.0 && hgt > 60.0, "{id} is laid out {w}×{hgt}");
    }
    let rows: Value = serde_json::from_str(
        browser
            .evaluate(&tab, TABLE_ROWS)
            .expect("table rows")
            .as_str()
            .unwrap_or("{}"),
    )
    .expect("table rows JSON");
    assert!(rows["failed-runs"].as_i64().unwrap_or(0) >= 2, "{rows}");
    assert!(rows["dead-letters"].as_i64().unwrap_or(0) >= 1, "{rows}");

    let png = browser.screenshot(&tab).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    let shot = target.join("browser.png");
    std::fs::write(&shot, &png).expect("save the screenshot");
    eprintln!(
        "report {} and screenshot {} ({} bytes)",
        html.display(),
        shot.display(),
        png.len()
    );
}
