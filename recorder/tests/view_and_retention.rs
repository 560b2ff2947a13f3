//! The seed-compatible view (`postgres.measure_table`) returns exactly what was written, and
//! `postgres.retention_days` drops old daily partitions and old rows of `measurement_default`
//! when the recorder starts. Real broker, real PostgreSQL, the recorder binary.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::*;
use sonde_message::{RunMessage, Sample};
use sonde_tests::pg_connect;

const OFFSETS: &str = "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset";

fn run_at(job: &str, started_at: DateTime<Utc>, labels: &[(&str, &str)], value: f64) -> RunMessage {
    let mut m = RunMessage::new("view-host", "cpu", "0.1.0", job, started_at);
    m.samples.push(Sample {
        name: "system.cpu.utilization".into(),
        value,
        unit: "1".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    });
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compatibility_view_returns_what_was_written() {
    let t = fresh_target("rec-view", 2).await;
    let now = Utc::now() - Duration::minutes(5);
    let runs = vec![
        run_at("cpu", now, &[("state", "user"), ("cpu", "0")], 0.25),
        run_at("cpu", now + Duration::seconds(1), &[], 0.5),
        run_at(
            "other",
            now + Duration::seconds(2),
            &[("b", "2"), ("a", "1")],
            7.0,
        ),
    ];
    produce(&producer(&t.env), &t.topic, &encoded(&runs)).await;
    let mut recorder = Recorder::start(&t, "postgres.measure_table = legacy_metrics\n");
    let db = pg_connect(&t.env, &t.database).await.expect("connect");
    wait_for_count(&db, OFFSETS, runs.len() as i64).await;

    let rows = db
        .query(
            "SELECT hostname, metric, submetric, value, \"timestamp\", probe, unit, job
             FROM legacy_metrics ORDER BY \"timestamp\"",
            &[],
        )
        .await
        .expect("query the view named by postgres.measure_table");
    assert_eq!(rows.len(), runs.len());
    let want_submetric = [Some("cpu=0,state=user"), None, Some("a=1,b=2")];
    for ((row, m), submetric) in rows.iter().zip(&runs).zip(want_submetric) {
        let s = &m.samples[0];
        assert_eq!(row.get::<_, String>(0), m.host);
        assert_eq!(row.get::<_, String>(1), s.name);
        assert_eq!(row.get::<_, Option<String>>(2).as_deref(), submetric);
        assert_eq!(row.get::<_, f64>(3), s.value);
        let at: DateTime<Utc> = row.get(4);
        assert_eq!(at.timestamp_micros(), m.started_at.timestamp_micros());
        assert_eq!(row.get::<_, String>(5), m.probe);
        assert_eq!(row.get::<_, String>(6), s.unit);
        assert_eq!(row.get::<_, String>(7), m.job);
    }
    assert!(recorder.terminate());
}

/// Names of `measurement`'s partitions.
async fn partitions(db: &tokio_postgres::Client) -> Vec<String> {
    db.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'measurement'::regclass ORDER BY 1",
        &[],
    )
    .await
    .expect("list partitions")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_partitions_and_old_default_rows() {
    let t = fresh_target("rec-retention", 2).await;
    let now = Utc::now();
    // 10 days ago gets a daily partition; 40 days ago is before the backfill window and
    // lands in measurement_default; today stays.
    let ages = [(10, 3), (40, 2), (0, 4)];
    let mut runs = Vec::new();
    let mut by_age = BTreeMap::new();
    for (days, n) in ages {
        for i in 0..n {
            let at = now - Duration::days(days) + Duration::seconds(i);
            runs.push(run_at("cpu", at, &[], i as f64));
        }
        by_age.insert(days, n);
    }
    let producer = producer(&t.env);
    produce(&producer, &t.topic, &encoded(&runs)).await;
    let mut first = Recorder::start(&t, "");
    let db = pg_connect(&t.env, &t.database).await.expect("connect");
    wait_for_count(&db, OFFSETS, runs.len() as i64).await;
    assert!(first.terminate());
    let old_day =
        sonde_recorder::partitions::partition_name((now - Duration::days(10)).date_naive());
    assert!(
        partitions(&db).await.contains(&old_day),
        "{old_day} made for the backfill"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM measurement_default").await,
        by_age[&40]
    );

    let mut second = Recorder::start(&t, "postgres.retention_days = 5\n");
    second
        .wait_for_log(&format!("dropped partition {old_day}"))
        .await;
    // The old rows of measurement_default go right after the partitions.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM measurement").await != by_age[&0] {
        assert!(
            std::time::Instant::now() < deadline,
            "old rows were not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!partitions(&db).await.contains(&old_day));
    assert_eq!(
        count(&db, "SELECT count(*) FROM measurement_default").await,
        0
    );
    let today = sonde_recorder::partitions::partition_name(now.date_naive());
    assert!(partitions(&db).await.contains(&today));
    // Runs are kept; retention is about measurements.
    assert_eq!(
        count(&db, "SELECT count(*) FROM probe_run").await,
        runs.len() as i64
    );
    assert!(second.terminate());
}
