//! Recorder throughput against the local stack (`just up`), in one run:
//! 1. the recorder consuming a pre-filled topic of 1,000,000 samples (100,000 runs × 10);
//! 2. `psql \copy` of the same rows into the same table shape (a fresh database);
//! 3. one INSERT + COMMIT per row (the seed systems' pattern) on a 5,000-row sample.
//!
//! Prints a markdown table. `SONDE_BENCH_RUNS` changes the number of runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sonde_tests::{create_test_database, pg_connect, Env};

#[path = "../tests/common/mod.rs"]
mod common;

const SAMPLES_PER_RUN: usize = 10;
const PER_ROW_SAMPLE: usize = 5_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let runs: usize = std::env::var("SONDE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let samples = (runs * SAMPLES_PER_RUN) as i64;
    let t = common::fresh_target("rec-bench", 4).await;
    let env = t.env.clone();

    eprintln!(
        "pre-filling {} with {runs} runs ({samples} samples)…",
        t.topic
    );
    let producer = common::producer(&env);
    for chunk in common::make_runs(runs, SAMPLES_PER_RUN).chunks(10_000) {
        common::produce(&producer, &t.topic, &common::encoded(chunk)).await;
    }

    // 1. The recorder. Timed from its first committed batch to the last, so process start
    //    and the consumer-group join are not counted.
    eprintln!("recorder…");
    let mut recorder = common::Recorder::start(&t, "batch.max_rows = 50000\n");
    let db = pg_connect(&env, &t.database).await.expect("connect");
    let offsets = "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset";
    while common::count(&db, offsets).await == 0 {
        if let Ok(Some(status)) = recorder.child.try_wait() {
            panic!("recorder exited ({status}):\n{}", recorder.log());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let rows_at_start = common::count(&db, "SELECT count(*) FROM measurement").await;
    while common::count(&db, offsets).await < runs as i64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recorder_secs = started.elapsed().as_secs_f64();
    let recorder_rows =
        common::count(&db, "SELECT count(*) FROM measurement").await - rows_at_start;
    assert_eq!(
        common::count(&db, "SELECT count(*) FROM measurement").await,
        samples,
        "recorder lost or doubled rows"
    );
    recorder.terminate();

    // 2. psql \copy of the same rows into a fresh database with the same schema.
    eprintln!("psql \\copy…");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rows.tsv");
    psql(
        &env,
        &t.database,
        &format!(
            "\\copy (SELECT series_id, time, value FROM measurement) TO '{}'",
            file.display()
        ),
    );
    let copy_db = create_test_database(&env).await;
    let mut copy_client = pg_connect(&env, &copy_db).await.expect("connect");
    sonde_recorder::migrations::run(&mut copy_client, "aiven_monitor_measure")
        .await
        .expect("migrate");
    let mut partitions = sonde_recorder::partitions::Partitions::default();
    partitions
        .ensure_ahead(&mut copy_client)
        .await
        .expect("partitions");
    let started = Instant::now();
    psql(
        &env,
        &copy_db,
        &format!(
            "\\copy measurement (series_id, time, value) FROM '{}'",
            file.display()
        ),
    );
    let copy_secs = started.elapsed().as_secs_f64();
    assert_eq!(
        common::count(&copy_client, "SELECT count(*) FROM measurement").await,
        samples
    );

    // 3. One INSERT + COMMIT per row, on a sample.
    eprintln!("INSERT + COMMIT per row…");
    copy_client
        .batch_execute("TRUNCATE measurement")
        .await
        .expect("truncate");
    let sample = db
        .query(
            "SELECT series_id, time, value FROM measurement LIMIT $1",
            &[&(PER_ROW_SAMPLE as i64)],
        )
        .await
        .expect("read sample");
    let insert = copy_client
        .prepare("INSERT INTO measurement (series_id, time, value) VALUES ($1, $2, $3)")
        .await
        .expect("prepare");
    let started = Instant::now();
    for row in &sample {
        let (id, time, value): (i64, chrono::DateTime<chrono::Utc>, f64) =
            (row.get(0), row.get(1), row.get(2));
        copy_client
            .execute(&insert, &[&id, &time, &value])
            .await
            .expect("insert");
    }
    let per_row_secs = started.elapsed().as_secs_f64();

    let recorder_rate = recorder_rows as f64 / recorder_secs;
    let copy_rate = samples as f64 / copy_secs;
    let per_row_rate = sample.len() as f64 / per_row_secs;
    println!("\n### Recorder ingest ({samples} samples, {runs} runs; same machine, same run)\n");
    println!("| method | rows | seconds | rows/s | recorder ÷ method |");
    println!("|---|---:|---:|---:|---:|");
    println!("| recorder (Kafka TLS → PostgreSQL SSL, exactly-once) | {recorder_rows} | {recorder_secs:.2} | {recorder_rate:.0} | 1.00× |");
    println!(
        "| `psql \\copy` into the same table | {samples} | {copy_secs:.2} | {copy_rate:.0} | {:.2}× |",
        recorder_rate / copy_rate
    );
    println!(
        "| INSERT + COMMIT per row | {} | {per_row_secs:.2} | {per_row_rate:.0} | {:.1}× |",
        sample.len(),
        recorder_rate / per_row_rate
    );
    println!("\nGoal: ≥ 0.5× COPY, ≥ 50× per-row.");
    // For `just bench`, which adds a row for the Python consumer on the same topic.
    println!(
        "BENCH_RESULT recorder_rate={recorder_rate:.0} copy_rate={copy_rate:.0} per_row_rate={per_row_rate:.0} topic={}",
        t.topic
    );
}

/// Run one psql meta-command over SSL (verify-full) against `db`.
fn psql(env: &Env, db: &str, command: &str) {
    let conninfo = format!(
        "host={} port={} user={} dbname={db} sslmode=verify-full sslrootcert={}",
        env.pg_host,
        env.pg_port,
        env.pg_user,
        env.pg_root_cert.display()
    );
    let status = Command::new("psql")
        .arg(&conninfo)
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-qc")
        .arg(command)
        .env("PGPASSWORD", env.pg_password())
        .stdout(Stdio::null())
        .status()
        .expect("run psql");
    assert!(status.success(), "psql {command} failed");
}
