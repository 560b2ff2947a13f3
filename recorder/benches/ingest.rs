//! Recorder throughput against the local stack (`just up`), in one run:
//! 1. the recorder consuming a pre-filled topic of 1,000,000 samples (100,000 runs × 10);
//! 2. `psql \copy` of the same rows into the same table shape (a fresh database);
//! 3. one INSERT + COMMIT per row (the seed systems' pattern) on a 5,000-row sample.
//!
//! Timing is symmetric: the recorder and `psql \copy` are both timed from their first data
//! to their last row committed, start-up excluded. The recorder's start-up (process start,
//! schema check, Kafka TLS, group join, stored offsets read) ends when it logs its partition
//! assignments; psql's (process start, TLS, authentication) is left out by its own `\timing`
//! of the `\copy`. Each side's time from process start to the last commit is printed too.
//!
//! Runs the recorder and `psql \copy` in `SONDE_BENCH_ROUNDS` rounds (3), each over its own
//! freshly filled topic and databases, and reports the round with the median ratio:
//! PostgreSQL with durable settings varies by ±0.1× between single runs here.
//!
//! Each side starts on a freshly checkpointed server: a round writes about half of
//! `max_wal_size` in WAL, so a checkpoint the previous side's WAL triggered would otherwise
//! land in whichever window comes next. The WAL each side wrote is printed as well: the
//! recorder's includes its `probe_run` rows and offsets.
//!
//! Prints a markdown table. `SONDE_BENCH_RUNS` changes the number of runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sonde_tests::{create_test_database, pg_connect, Env};

#[path = "../tests/common/mod.rs"]
mod common;

const SAMPLES_PER_RUN: usize = 10;
const PER_ROW_SAMPLE: usize = 5_000;
const PARTITIONS: i32 = 4;

/// One side's figures: seconds from first data to last commit, and from process start.
struct Timed {
    secs: f64,
    with_startup_secs: f64,
}

/// User + system CPU seconds of process `pid` so far, from `/proc/PID/stat`.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

/// One round: the recorder over a freshly filled topic, then `psql \copy` of its rows.
struct Round {
    recorder: Timed,
    /// CPU seconds the recorder used in `recorder.secs`.
    recorder_cpu_secs: f64,
    copy: Timed,
    /// MB of WAL each side wrote in its timed window.
    recorder_wal_mb: f64,
    copy_wal_mb: f64,
    /// The recorder's database (rows to sample for the per-row method) and the copy's.
    db: tokio_postgres::Client,
    copy_client: tokio_postgres::Client,
    topic: String,
}

impl Round {
    /// Recorder rows/s ÷ `psql \copy` rows/s.
    fn ratio(&self) -> f64 {
        self.copy.secs / self.recorder.secs
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn bench() {
    let runs = env_number("SONDE_BENCH_RUNS", 100_000);
    let rounds = env_number("SONDE_BENCH_ROUNDS", 3).max(1);
    let samples = (runs * SAMPLES_PER_RUN) as i64;
    let mut done = Vec::with_capacity(rounds);
    for i in 1..=rounds {
        eprintln!("round {i} of {rounds}");
        done.push(round(runs).await);
    }
    // The round whose ratio is the median is reported; every round's ratio is listed.
    done.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let ratios: Vec<String> = done.iter().map(|r| format!("{:.2}", r.ratio())).collect();
    let Round {
        recorder,
        recorder_cpu_secs: recorder_cpu,
        copy,
        recorder_wal_mb,
        copy_wal_mb,
        db,
        copy_client,
        topic,
    } = done.swap_remove(done.len() / 2);

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

    let rate = |secs: f64| samples as f64 / secs;
    let recorder_rate = rate(recorder.secs);
    let copy_rate = rate(copy.secs);
    let per_row_rate = sample.len() as f64 / per_row_secs;
    println!("\n### Recorder ingest ({samples} samples, {runs} runs; same machine, same run)\n");
    println!(
        "The median of {rounds} rounds (recorder ÷ `psql \\copy` by round: {}).\n",
        ratios.join(", ")
    );
    println!("Both timed from first data to last row committed, start-up excluded; the last two columns count from process start.\n");
    println!("| method | rows | seconds | rows/s | recorder ÷ method | seconds from process start | rows/s from process start |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| recorder (Kafka TLS → PostgreSQL SSL, exactly-once) | {samples} | {:.2} | {recorder_rate:.0} | 1.00× | {:.2} | {:.0} |",
        recorder.secs,
        recorder.with_startup_secs,
        rate(recorder.with_startup_secs)
    );
    println!(
        "| `psql \\copy` into the same table | {samples} | {:.2} | {copy_rate:.0} | {:.2}× | {:.2} | {:.0} |",
        copy.secs,
        recorder_rate / copy_rate,
        copy.with_startup_secs,
        rate(copy.with_startup_secs)
    );
    println!(
        "| INSERT + COMMIT per row | {} | {per_row_secs:.2} | {per_row_rate:.0} | {:.1}× | — | — |",
        sample.len(),
        recorder_rate / per_row_rate
    );
    println!(
        "\nThe recorder used {recorder_cpu:.2} CPU-seconds over its {:.2} s ({:.2} per million samples).",
        recorder.secs,
        recorder_cpu * 1e6 / samples as f64
    );
    println!(
        "\nWAL written in the timed window: recorder {recorder_wal_mb:.0} MB, `psql \\copy` {copy_wal_mb:.0} MB."
    );
    println!("\nGoal: ≥ 0.8× COPY, ≥ 50× per-row.");
    // For `just bench`, which adds a row for the Python consumer on the same topic.
    println!(
        "BENCH_RESULT recorder_rate={recorder_rate:.0} copy_rate={copy_rate:.0} per_row_rate={per_row_rate:.0} \
         recorder_startup_secs={:.2} copy_startup_secs={:.2} recorder_rate_from_start={:.0} copy_rate_from_start={:.0} recorder_cpu_secs={recorder_cpu:.2} recorder_wal_mb={recorder_wal_mb:.0} copy_wal_mb={copy_wal_mb:.0} round_ratios={} topic={} samples={samples}",
        recorder.with_startup_secs - recorder.secs,
        copy.with_startup_secs - copy.secs,
        rate(recorder.with_startup_secs),
        rate(copy.with_startup_secs),
        ratios.join(","),
        topic
    );
}

async fn round(runs: usize) -> Round {
    let samples = (runs * SAMPLES_PER_RUN) as i64;
    let t = common::fresh_target("rec-bench", PARTITIONS).await;
    let env = t.env.clone();

    eprintln!(
        "pre-filling {} with {runs} runs ({samples} samples)…",
        t.topic
    );
    let producer = common::producer(&env);
    for chunk in common::make_runs(runs, SAMPLES_PER_RUN).chunks(10_000) {
        common::produce(&producer, &t.topic, &common::encoded(chunk)).await;
    }

    eprintln!("recorder…");
    let db = pg_connect(&env, &t.database).await.expect("connect");
    checkpoint(&db).await;
    let (recorder, recorder_cpu_secs, wal_at_ready) = time_recorder(&t, &db, runs as i64).await;
    let recorder_wal_mb = megabytes(wal_position(&db).await - wal_at_ready);
    assert_eq!(
        common::count(&db, "SELECT count(*) FROM measurement").await,
        samples,
        "recorder lost or doubled rows"
    );

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
    checkpoint(&copy_client).await;
    let wal_before = wal_position(&copy_client).await;
    let copy = psql(
        &env,
        &copy_db,
        &format!(
            "\\copy measurement (series_id, time, value) FROM '{}'",
            file.display()
        ),
    );
    let copy_wal_mb = megabytes(wal_position(&copy_client).await - wal_before);
    assert_eq!(
        common::count(&copy_client, "SELECT count(*) FROM measurement").await,
        samples
    );
    eprintln!(
        "round: recorder {:.2} s ({recorder_cpu_secs:.2} CPU-s, {recorder_wal_mb:.0} MB WAL), \\copy {:.2} s ({copy_wal_mb:.0} MB WAL)",
        recorder.secs, copy.secs
    );
    Round {
        recorder,
        recorder_cpu_secs,
        copy,
        recorder_wal_mb,
        copy_wal_mb,
        db,
        copy_client,
        topic: t.topic,
    }
}

/// Flush every dirty buffer (`pg_checkpoint`, granted by tests/stack/postgres.sh).
async fn checkpoint(client: &tokio_postgres::Client) {
    client
        .batch_execute("CHECKPOINT")
        .await
        .expect("CHECKPOINT");
}

/// The server's WAL insert position in bytes.
async fn wal_position(client: &tokio_postgres::Client) -> i64 {
    let sql = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint";
    client
        .query_one(sql, &[])
        .await
        .expect("WAL position")
        .get(0)
}

fn megabytes(bytes: i64) -> f64 {
    bytes as f64 / 1e6
}

/// Run the recorder over the pre-filled topic until all `runs` offsets are committed.
/// Also returns the CPU seconds the recorder used in the timed part and the WAL position
/// where it began.
async fn time_recorder(
    t: &common::Target,
    db: &tokio_postgres::Client,
    runs: i64,
) -> (Timed, f64, i64) {
    let spawned = Instant::now();
    let mut recorder = common::Recorder::start(t, "batch.max_rows = 50000\n");
    let assigned = format!("assigned {}/", t.topic);
    while recorder.log().matches(&assigned).count() < PARTITIONS as usize {
        recorder.assert_running();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let wal_at_ready = wal_position(db).await;
    let ready = Instant::now();
    let cpu_at_ready = cpu_secs(recorder.child.id());
    // Polled every 10 ms: often enough to time the end within 0.5 % of a run of seconds,
    // seldom enough to leave PostgreSQL's CPU to the recorder.
    let offsets = "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset";
    while common::count(db, offsets).await < runs {
        recorder.assert_running();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let timed = Timed {
        secs: ready.elapsed().as_secs_f64(),
        with_startup_secs: spawned.elapsed().as_secs_f64(),
    };
    let cpu = cpu_secs(recorder.child.id()) - cpu_at_ready;
    assert!(recorder.terminate(), "recorder did not stop cleanly");
    (timed, cpu, wal_at_ready)
}

/// Run one psql meta-command over SSL (verify-full) against `db`, timed by psql's own
/// `\timing` (the command alone) and from process start to exit.
fn psql(env: &Env, db: &str, command: &str) -> Timed {
    let conninfo = format!(
        "host={} port={} user={} dbname={db} sslmode=verify-full sslrootcert={}",
        env.pg_host,
        env.pg_port,
        env.pg_user,
        env.pg_root_cert.display()
    );
    let started = Instant::now();
    let out = Command::new("psql")
        .arg(&conninfo)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", "\\timing on", "-c"])
        .arg(command)
        .env("PGPASSWORD", env.pg_password())
        .stderr(Stdio::inherit())
        .output()
        .expect("run psql");
    let with_startup_secs = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "psql {command} failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // "Time: 1234.567 ms (00:01.235)"
    let ms: f64 = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("psql printed no timing for {command}: {stdout}"));
    Timed {
        secs: ms / 1000.0,
        with_startup_secs,
    }
}
