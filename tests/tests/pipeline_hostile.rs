//! Drill: hostile probes (an infinite loop and a memory bomb) are scheduled beside the four
//! real probes, all at 1 s. The real jobs' runs reach PostgreSQL on their schedule, the
//! hostile runs are recorded as errors, and nothing is lost or doubled.

mod pipeline;

use std::time::Duration;

use pipeline::ledger::wait_for_stored;
use pipeline::page::Page;
use pipeline::{assert_exactly_once, job, Expect, Pipeline, Scale};
use sonde_tests::Env;

const REAL: [&str; 4] = ["cpu", "memory", "bandwidth", "http-check"];
const INTERVAL_MS: i64 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_probes_beside_the_real_ones_leave_their_schedule_intact() {
    let page = Page::serve();
    let mut p = Pipeline::new(Env::load(), "hostile", 3).await;
    let window = Scale::from_env().pick(Duration::from_secs(20), Duration::from_secs(120));
    let origin = format!("http://127.0.0.1:{}", page.port);
    p.write_host_config(&format!(
        "{}{}{}{}{}{}",
        job("cpu", "cpu", 1000, "params = { per_core = \"false\" }"),
        job("memory", "memory", 1000, ""),
        job("bandwidth", "bandwidth", 1000, ""),
        job(
            "http-check",
            "http-check",
            1000,
            &format!(
                "params = {{ url = \"{origin}/\", regex = \"drill page\", timeout_ms = 2000 }}\nallow_http = [\"{origin}\"]"
            )
        ),
        job("spin", "spin", 1000, "timeout_ms = 500"),
        job("membomb", "membomb", 1000, "max_memory_bytes = 67108864"),
    ));
    let tap = p.tap();
    let _recorder = p.start_recorder("batch.max_delay_ms = 200");
    let mut host = p.start_host();
    wait_for_stored(&p, 6, Duration::from_secs(90)).await;
    tokio::time::sleep(window).await;
    host.assert_running();
    p.stop_host(&mut host);

    let ledger = assert_exactly_once(&p, &tap, Expect::default()).await;
    let stored = &ledger.stored;

    // The span the real jobs ran over, and how many 1 s ticks fit in it.
    let real_runs: Vec<_> = REAL.iter().flat_map(|j| stored.runs_of(j)).collect();
    let first = real_runs
        .iter()
        .map(|r| r.started_at)
        .min()
        .expect("real runs");
    let last = real_runs
        .iter()
        .map(|r| r.started_at)
        .max()
        .expect("real runs");
    let ticks = (last - first).num_milliseconds() / INTERVAL_MS;
    for name in REAL {
        let runs = stored.runs_of(name);
        let failed: Vec<_> = runs.iter().filter(|r| r.status != "ok").collect();
        assert!(
            failed.is_empty(),
            "{name}: failed runs beside the hostile probes: {failed:?}"
        );
        assert!(
            runs.len() as i64 >= ticks - 1,
            "{name}: {} runs over a span of {ticks} ticks of {INTERVAL_MS} ms",
            runs.len()
        );
        let widest = runs
            .windows(2)
            .map(|w| (w[1].started_at - w[0].started_at).num_milliseconds())
            .max()
            .unwrap_or(0);
        assert!(
            widest <= 3 * INTERVAL_MS,
            "{name}: {widest} ms between two consecutive runs at a {INTERVAL_MS} ms interval"
        );
        eprintln!(
            "{name}: {} runs over {ticks} ticks, widest gap {widest} ms",
            runs.len()
        );
    }

    let db = sonde_tests::pg_connect(&p.env, &p.database)
        .await
        .expect("connect to the drill's database");
    // The page was up and matched the regex in every check.
    let up = db
        .query(
            "SELECT m.value FROM measurement m JOIN series s ON s.id = m.series_id \
             WHERE s.probe = 'http-check' AND s.metric = 'sonde.http.check.up'",
            &[],
        )
        .await
        .expect("read sonde.http.check.up");
    let up: Vec<f64> = up.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        up.len(),
        stored.runs_of("http-check").len(),
        "one sonde.http.check.up per check"
    );
    assert!(
        up.iter().all(|v| *v == 1.0),
        "sonde.http.check.up values: {up:?}"
    );
    for (name, text) in [("spin", "timeout"), ("membomb", "memory limit")] {
        let rows = db
            .query(
                "SELECT status::text, coalesce(error, '') FROM probe_run WHERE job = $1",
                &[&name],
            )
            .await
            .expect("read the hostile runs");
        assert!(rows.len() >= 2, "{name}: only {} runs recorded", rows.len());
        for row in &rows {
            let (status, error): (String, String) = (row.get(0), row.get(1));
            assert_eq!(status, "error", "{name} run recorded as {status}: {error}");
            assert!(
                error.contains(text),
                "{name}: error {error:?} lacks {text:?}"
            );
        }
        eprintln!("{name}: {} runs, all recorded as errors", rows.len());
    }
}
