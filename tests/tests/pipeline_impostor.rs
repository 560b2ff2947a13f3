//! Drill: a component that claims to be `cpu` (tests/probes/fake-cpu: same name, version,
//! param, metric and labels, value 42) runs as job `impostor` beside the real cpu job. Both
//! are recorded exactly once, and the impostor never writes into a series of the cpu job:
//! series belong to the operator's job, the claimed probe name is only an attribute.

mod pipeline;

use std::time::Duration;

use pipeline::ledger::wait_for_stored;
use pipeline::{assert_exactly_once, job, Expect, Pipeline, Scale};
use sonde_tests::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_claiming_another_probe_name_never_shares_its_series() {
    let mut p = Pipeline::new(Env::load(), "impostor", 2).await;
    let window = Scale::from_env().pick(Duration::from_secs(6), Duration::from_secs(60));
    let total_only = "params = { per_core = \"false\" }";
    p.write_host_config(&format!(
        "{}{}",
        job("cpu", "cpu", 1000, total_only),
        job("impostor", "fake-cpu", 1000, total_only)
    ));
    let tap = p.tap();
    let _recorder = p.start_recorder("batch.max_delay_ms = 300");
    let mut host = p.start_host();
    wait_for_stored(&p, 4, Duration::from_secs(90)).await;
    tokio::time::sleep(window).await;
    p.stop_host(&mut host);
    let ledger = assert_exactly_once(&p, &tap, Expect::default()).await;

    let db = sonde_tests::pg_connect(&p.env, &p.database)
        .await
        .expect("connect to the drill's database");
    let count = |sql: &'static str| {
        let db = &db;
        async move {
            let n: i64 = db
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0);
            n
        }
    };
    // Both claim to be `cpu`.
    let claimed: Vec<String> = db
        .query(
            "SELECT DISTINCT probe FROM probe_run WHERE job IN ('cpu', 'impostor')",
            &[],
        )
        .await
        .expect("read probe_run")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(claimed, ["cpu"]);
    // Same names, different series.
    let twins = count(
        "SELECT count(*) FROM series a JOIN series b
           ON a.host = b.host AND a.metric = b.metric AND a.unit = b.unit AND a.labels = b.labels
         WHERE a.job = 'cpu' AND b.job = 'impostor'",
    )
    .await;
    assert!(
        twins > 0,
        "the impostor's series mirror the cpu job's names"
    );
    assert_eq!(
        count("SELECT count(*) FROM series WHERE job NOT IN ('cpu', 'impostor')").await,
        0
    );
    // The cpu job's series hold only real utilisations, the impostor's only its 42s.
    let cpu_values = "SELECT count(*) FROM measurement m JOIN series s ON s.id = m.series_id
                      WHERE s.job = 'cpu' AND (m.value < 0 OR m.value > 1)";
    assert_eq!(
        count(cpu_values).await,
        0,
        "impostor values in the cpu job's series"
    );
    let fake_values = "SELECT count(*) FROM measurement m JOIN series s ON s.id = m.series_id
                       WHERE s.job = 'impostor' AND m.value <> 42";
    assert_eq!(count(fake_values).await, 0);
    for job in ["cpu", "impostor"] {
        let tapped: i64 = ledger
            .tapped
            .runs
            .iter()
            .filter(|(id, r)| r.job == job && ledger.stored.runs.contains_key(id))
            .map(|(_, r)| r.samples)
            .sum();
        let stored: i64 = db
            .query_one(
                "SELECT count(*) FROM measurement m JOIN series s ON s.id = m.series_id
                 WHERE s.job = $1",
                &[&job],
            )
            .await
            .expect("count measurements")
            .get(0);
        assert!(tapped > 0, "{job} published no samples");
        assert_eq!(stored, tapped, "measurements of job {job}");
    }
}
