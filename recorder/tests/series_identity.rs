//! Series identity against the real PostgreSQL: the migration that keys series on a SHA-256
//! keeps existing series (and computes the same bytes as the recorder), collisions of the
//! hash never merge two series, and labels far beyond a btree row are stored.

use sonde_message::{Labels, RunMessage, Sample};
use sonde_recorder::migrations;
use sonde_recorder::series::{SeriesCache, SeriesKey};
use sonde_tests::{create_test_database, pg_connect, Env};
use tokio_postgres::Client;

async fn fresh_database() -> Client {
    let env = Env::load();
    let database = create_test_database(&env).await;
    pg_connect(&env, &database).await.expect("connect")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(host: &str, probe: &str, job: &str, metric: &str, l: &Labels) -> RunMessage {
    let mut m = RunMessage::new(host, probe, "0.1.0", job, chrono::Utc::now());
    m.samples.push(Sample {
        name: metric.into(),
        value: 1.0,
        unit: "1".into(),
        labels: l.clone(),
    });
    m
}

/// The id `m`'s only sample resolves to, with a cache of its own (so PostgreSQL answers).
async fn resolve(db: &Client, m: &RunMessage) -> i64 {
    let mut cache = SeriesCache::default();
    cache
        .resolve(db, std::iter::once(m))
        .await
        .expect("resolve series");
    cache.id(m, &m.samples[0]).expect("resolved id")
}

async fn series_count(db: &Client) -> i64 {
    db.query_one("SELECT count(*) FROM series", &[])
        .await
        .expect("count series")
        .get(0)
}

/// A run of `probe` under `job` on web-1, as the first schema stored it.
async fn insert_v1_run(db: &Client, probe: &str, job: &str) {
    db.execute(
        "INSERT INTO probe_run (run_id, host, probe, probe_version, job, started_at, duration_us, status, topic, \"partition\", \"offset\")
         VALUES ($1, 'web-1', $2, '0.1.0', $3, now(), 1, 'ok', 't', 0, 0)",
        &[&uuid::Uuid::now_v7(), &probe, &job],
    )
    .await
    .expect("insert a version-1 run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_series_keep_their_ids_across_the_identity_migration() {
    let mut db = fresh_database().await;
    migrations::run_through(&mut db, "aiven_monitor_measure", 1)
        .await
        .expect("schema version 1");
    // Byte order differs from collation order here ("B" < "a" < "é"), and one label set is empty.
    let mixed = labels(&[("a", "1"), ("é", "ü"), ("B", "2")]);
    let none = labels(&[]);
    let old_series = [
        ("web-1", "cpu", "system.cpu.utilization", &mixed),
        ("web-1", "cpu", "system.cpu.count", &none),
        ("web-1", "http-check", "http.check.up", &none),
        ("web-1", "orphan", "orphan.metric", &none),
        ("web-1", "swap-a", "swapped", &none),
        ("web-1", "swap-b", "swapped", &none),
    ];
    let mut ids = Vec::new();
    for (host, probe, metric, l) in old_series {
        let l = serde_json::to_value(l).expect("labels as JSON");
        let row = db
            .query_one(
                "INSERT INTO series (host, probe, metric, unit, labels) VALUES ($1, $2, $3, '1', $4) RETURNING id",
                &[&host, &probe, &metric, &l],
            )
            .await
            .expect("insert a version-1 series");
        ids.push(row.get::<_, i64>(0));
    }
    // Runs tell which job each probe ran under: one job, two jobs, or (orphan) none.
    for (probe, job) in [
        ("cpu", "cpu-job"),
        ("http-check", "site-a"),
        ("http-check", "site-b"),
        ("swap-a", "swap"),
        ("swap-b", "swap"),
    ] {
        insert_v1_run(&db, probe, job).await;
    }
    // The view as recorders before migration 2 made it (no `job` column).
    db.batch_execute(
        r#"CREATE VIEW aiven_monitor_measure AS
SELECT s.host AS hostname, s.metric,
       (SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM jsonb_each_text(s.labels)) AS submetric,
       m.value, m.time AS "timestamp", s.probe, s.unit
FROM measurement m JOIN series s ON s.id = m.series_id"#,
    )
    .await
    .expect("the version-1 view");
    migrations::run(&mut db, "aiven_monitor_measure")
        .await
        .expect("migrate to the newest schema");

    // Every identity PostgreSQL computed equals the recorder's own.
    let rows = db
        .query(
            "SELECT host, job, metric, unit, labels, identity FROM series ORDER BY id",
            &[],
        )
        .await
        .expect("read migrated series");
    let jobs: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(
        jobs,
        ["cpu-job", "cpu-job", "http-check", "orphan", "swap", "swap"],
        "job: the single job of the probe's runs, else the probe name"
    );
    for row in &rows {
        let l: serde_json::Value = row.get(4);
        let key = SeriesKey {
            host: row.get(0),
            job: row.get(1),
            metric: row.get(2),
            unit: row.get(3),
            labels: serde_json::from_value(l).expect("labels"),
        };
        let stored: Vec<u8> = row.get(5);
        assert_eq!(stored, key.identity_hash(), "identity of {key:?}");
    }

    // New runs find the old rows: same ids, no new series.
    let before = series_count(&db).await;
    let cpu = run("web-1", "cpu", "cpu-job", "system.cpu.utilization", &mixed);
    assert_eq!(resolve(&db, &cpu).await, ids[0]);
    let swapped = run("web-1", "swap-b", "swap", "swapped", &none);
    assert_eq!(
        resolve(&db, &swapped).await,
        ids[4],
        "the lowest id of a merged identity"
    );
    assert_eq!(series_count(&db).await, before);
    // The compatibility view reads the migrated schema.
    db.query(
        "SELECT hostname, metric, submetric, job FROM aiven_monitor_measure",
        &[],
    )
    .await
    .expect("the view over the migrated tables");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_collision_never_shares_a_series() {
    let mut db = fresh_database().await;
    migrations::run(&mut db, "aiven_monitor_measure")
        .await
        .expect("migrate");
    let victim = run(
        "web-1",
        "cpu",
        "cpu",
        "system.cpu.utilization",
        &labels(&[]),
    );
    let key = SeriesKey::of(&victim, &victim.samples[0]);
    // Another identity stored under the victim's hash, as a real collision would be.
    let collider: i64 = db
        .query_one(
            "INSERT INTO series (identity, host, job, probe, metric, unit, labels)
             VALUES ($1, 'other-host', 'other-job', 'cpu', 'other.metric', '1', '{}') RETURNING id",
            &[&key.identity_hash()],
        )
        .await
        .expect("insert the colliding series")
        .get(0);
    let id = resolve(&db, &victim).await;
    assert_ne!(id, collider, "a collision must not merge two series");
    let seq: i32 = db
        .query_one("SELECT identity_seq FROM series WHERE id = $1", &[&id])
        .await
        .expect("read the new series")
        .get(0);
    assert_eq!(seq, 1);
    assert_eq!(
        resolve(&db, &victim).await,
        id,
        "found again, not made twice"
    );
    assert_eq!(series_count(&db).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_far_beyond_a_btree_row_are_stored() {
    let mut db = fresh_database().await;
    migrations::run(&mut db, "aiven_monitor_measure")
        .await
        .expect("migrate");
    let max = sonde_message::limits::MAX_LABEL_VALUE_BYTES;
    let big: Labels = (0..sonde_message::limits::MAX_LABELS_PER_SAMPLE)
        .map(|i| (format!("label-{i}"), format!("{i}{}", "v".repeat(max - 3))))
        .collect();
    let m = run("web-1", "http-check", "site", "http.check.up", &big);
    sonde_message::validate(&m, chrono::Utc::now()).expect("within the message limits");
    let id = resolve(&db, &m).await;
    let stored: i64 = db
        .query_one(
            "SELECT octet_length(labels::text)::bigint FROM series WHERE id = $1",
            &[&id],
        )
        .await
        .expect("read the series")
        .get(0);
    assert!(stored > 100_000, "{stored} bytes of labels");
}

/// Every migration from the first schema on, composed: an HTTP check recorded under its
/// first name in ms is renamed (2), converted to seconds (4) and keyed on the hash of its
/// job's identity (5), and the host of today (job name, new metric name, seconds) writes
/// into that same series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_schema_database_upgrades_through_every_migration() {
    let mut db = fresh_database().await;
    migrations::run_through(&mut db, "aiven_monitor_measure", 1)
        .await
        .expect("schema version 1");
    let url = labels(&[("url", "http://x/"), ("phase", "total")]);
    let old_labels = serde_json::to_value(&url).expect("labels as JSON");
    let old_id: i64 = db
        .query_one(
            "INSERT INTO series (host, probe, metric, unit, labels)
             VALUES ('web-1', 'http-check', 'http.check.duration', 'ms', $1) RETURNING id",
            &[&old_labels],
        )
        .await
        .expect("insert a version-1 series")
        .get(0);
    db.execute(
        "INSERT INTO measurement (series_id, time, value) VALUES ($1, now(), 250)",
        &[&old_id],
    )
    .await
    .expect("insert a version-1 measurement");
    insert_v1_run(&db, "http-check", "site").await;

    let ran = migrations::run(&mut db, "aiven_monitor_measure")
        .await
        .expect("migrate from version 1 to the newest schema");
    assert_eq!(ran, 5, "migrations 2 to 6");

    let row = db
        .query_one(
            "SELECT s.job, s.metric, s.unit, s.identity, m.value
             FROM series s JOIN measurement m ON m.series_id = s.id WHERE s.id = $1",
            &[&old_id],
        )
        .await
        .expect("the migrated series keeps its id and measurement");
    let (job, metric, unit): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        (job.as_str(), metric.as_str(), unit.as_str()),
        ("site", "sonde.http.check.duration", "s")
    );
    assert_eq!(row.get::<_, f64>(4), 0.25, "250 ms became 0.25 s");
    let mut today = RunMessage::new("web-1", "http-check", "0.2.0", "site", chrono::Utc::now());
    today.samples.push(Sample {
        name: "sonde.http.check.duration".into(),
        value: 0.1,
        unit: "s".into(),
        labels: url,
    });
    let key = SeriesKey::of(&today, &today.samples[0]);
    assert_eq!(
        row.get::<_, Vec<u8>>(3),
        key.identity_hash(),
        "the hash is taken after the rename and the unit change"
    );
    assert_eq!(
        resolve(&db, &today).await,
        old_id,
        "today's host writes into it"
    );
    assert_eq!(series_count(&db).await, 1);
}
