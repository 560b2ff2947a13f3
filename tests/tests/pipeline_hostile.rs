//! Drill: every hostile test component (each crate under `tests/probes/` and each WAT
//! fixture under `tests/wat/`) is scheduled beside the four real probes, all at
//! 1 s, for 20 s (`just test`) or 120 s (`just test-long`). The real jobs' runs reach
//! PostgreSQL on their schedule, the hostile runs are recorded as the errors their attack
//! earns (or the component is refused at load and never runs), the host stays up and
//! stops promptly, and nothing is lost or doubled.
//!
//! A hostile component this drill does not know yet runs with its defaults; it must only
//! leave the real probes alone.

mod pipeline;

use std::time::{Duration, Instant};

use pipeline::ledger::Stored;
use pipeline::page::Page;
use pipeline::{assert_exactly_once, hostile_components, job, job_at, Expect, Pipeline, Scale};
use sonde_tests::Env;

const REAL: [&str; 4] = ["cpu", "memory", "bandwidth", "http-check"];
const INTERVAL_MS: i64 = 1000;

/// What a known hostile component's job sets, and what its runs must come to.
struct Known {
    name: &'static str,
    job_toml: &'static str,
    outcome: Outcome,
}

enum Outcome {
    /// Every run is an error containing this text.
    Fails(&'static str),
    /// The component is refused at load: its job never runs.
    NeverRuns,
    /// Every run ends well: the host refuses what the probe tries, not the run.
    Ok,
    /// Runs as it likes (e.g. a probe that reports what it could reach).
    Any,
}

const KNOWN: &[Known] = &[
    Known { name: "spin", job_toml: "timeout_ms = 500", outcome: Outcome::Fails("timeout: ") },
    Known { name: "membomb", job_toml: "", outcome: Outcome::Fails("memory limit: ") },
    Known { name: "trap", job_toml: "", outcome: Outcome::Fails("trap: ") },
    // 20000 samples fit in memory but not in the output budget.
    Known { name: "flood", job_toml: "params = { count = \"20000\" }", outcome: Outcome::Fails("output limit: ") },
    Known {
        name: "sneaky-fetch",
        job_toml: "params = { url = \"http://127.0.0.1:9/elsewhere\" }\nallow_http = [\"http://127.0.0.1:9/only-this\"]",
        outcome: Outcome::Fails("not-allowed"),
    },
    Known { name: "snoop", job_toml: "", outcome: Outcome::Any },
    // A thousand fetches a run of loopback through `*`: each is refused (internal address,
    // then max_fetches), none reaches anything, the run itself is fine.
    Known {
        name: "fetch-storm",
        job_toml: "params = { url = \"http://127.0.0.1:9/{n}\", timeout_ms = \"200\" }\nallow_http = [\"*\"]",
        outcome: Outcome::Ok,
    },
    Known { name: "wrong-version", job_toml: "", outcome: Outcome::NeverRuns },
    Known { name: "sleepy-describe", job_toml: "", outcome: Outcome::NeverRuns },
    Known { name: "sleepy-run", job_toml: "timeout_ms = 500", outcome: Outcome::Fails("timeout: ") },
    Known { name: "log-bomb", job_toml: "", outcome: Outcome::Fails("output limit: ") },
    Known { name: "fetch-bomb", job_toml: "", outcome: Outcome::Fails("output limit: ") },
    Known { name: "alias-names", job_toml: "", outcome: Outcome::Fails("output limit: ") },
    Known { name: "alias-small-names", job_toml: "", outcome: Outcome::Fails("output limit: ") },
    Known { name: "huge-name", job_toml: "", outcome: Outcome::Fails("output limit: ") },
    Known { name: "describe-bomb", job_toml: "", outcome: Outcome::NeverRuns },
    Known { name: "four-memories", job_toml: "", outcome: Outcome::Fails("memory limit: ") },
    Known { name: "four-memories-static", job_toml: "", outcome: Outcome::NeverRuns },
    Known { name: "many-instances", job_toml: "", outcome: Outcome::NeverRuns },
    Known { name: "many-memories", job_toml: "", outcome: Outcome::NeverRuns },
    Known { name: "many-tables", job_toml: "", outcome: Outcome::NeverRuns },
    Known { name: "sleepy-start", job_toml: "", outcome: Outcome::NeverRuns },
];

/// Waits until every real job has runs in `probe_run`.
async fn wait_for_real_runs(p: &Pipeline, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        if let Ok(stored) = Stored::read(p).await {
            if REAL.iter().all(|j| stored.runs_of(j).len() >= 2) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the real jobs did not all reach probe_run within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_probes_beside_the_real_ones_leave_their_schedule_intact() {
    let page = Page::serve();
    let mut p = Pipeline::new(Env::load(), "hostile", 3).await;
    let window = Scale::from_env().pick(Duration::from_secs(20), Duration::from_secs(120));
    let origin = format!("http://127.0.0.1:{}", page.port);
    let hostile = hostile_components(p.dir());
    let mut jobs = format!(
        "{}{}{}{}",
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
    );
    for (name, wasm) in &hostile {
        let extra = known(name).map_or("", |k| k.job_toml);
        jobs.push_str(&job_at(&format!("hostile-{name}"), wasm, 1000, extra));
    }
    p.write_host_config(&jobs);
    let tap = p.tap();
    let _recorder = p.start_recorder("batch.max_delay_ms = 200");
    let mut host = p.start_host();
    // Every component is compiled cold first, so give the real jobs time to start.
    wait_for_real_runs(&p, Duration::from_secs(300)).await;
    tokio::time::sleep(window).await;
    host.assert_running();
    p.stop_host(&mut host);

    let ledger = assert_exactly_once(&p, &tap, Expect::default()).await;
    let stored = &ledger.stored;
    for name in REAL {
        let runs = stored.runs_of(name);
        let failed: Vec<_> = runs.iter().filter(|r| r.status != "ok").collect();
        assert!(
            failed.is_empty(),
            "{name}: failed runs beside the hostile probes: {failed:?}"
        );
        // The 1 s ticks in the span the job ran over (from its load to the stop).
        let span = match (runs.first(), runs.last()) {
            (Some(first), Some(last)) => last.started_at - first.started_at,
            _ => panic!("{name}: no runs"),
        };
        let ticks = span.num_milliseconds() / INTERVAL_MS;
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
    for (name, _) in &hostile {
        let job = format!("hostile-{name}");
        let rows = db
            .query(
                "SELECT status::text, coalesce(error, '') FROM probe_run WHERE job = $1",
                &[&job],
            )
            .await
            .expect("read the hostile runs");
        let outcome = known(name).map_or(&Outcome::Any, |k| &k.outcome);
        match outcome {
            Outcome::Fails(text) => {
                assert!(rows.len() >= 2, "{name}: only {} runs recorded", rows.len());
                for row in &rows {
                    let (status, error): (String, String) = (row.get(0), row.get(1));
                    assert_eq!(status, "error", "{name} run recorded as {status}: {error}");
                    assert!(
                        error.contains(text),
                        "{name}: error {error:?} lacks {text:?}"
                    );
                }
            }
            Outcome::Ok => {
                assert!(rows.len() >= 2, "{name}: only {} runs recorded", rows.len());
                for row in &rows {
                    let (status, error): (String, String) = (row.get(0), row.get(1));
                    assert_eq!(status, "ok", "{name} run recorded as {status}: {error}");
                }
            }
            Outcome::NeverRuns => assert!(rows.is_empty(), "{name}: refused at load, yet ran"),
            Outcome::Any => {}
        }
        eprintln!("hostile {name}: {} runs recorded", rows.len());
    }
}
