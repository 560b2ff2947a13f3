//! Upgrading a database written under the bundled probes' old metric names: migration 2
//! renames their series to the names of docs/probes.md, merges a series whose new
//! identity exists already, keeps every measurement, and leaves other probes alone;
//! migration 4 converts the HTTP check durations from ms to s.

use sonde_recorder::migrations;
use sonde_tests::{create_test_database, pg_connect, Env};
use tokio_postgres::Client;

/// One series an older recorder left (probe, metric, unit, labels; one measurement
/// each) `->` what it is after the upgrade (metric, unit, labels; same probe).
const CASES: &str = r#"
bandwidth system.network.io By/s {"interface":"lo","direction":"receive"} -> sonde.network.io.rate By/s {"interface":"lo","direction":"receive"}
bandwidth system.network.packets 1/s {"interface":"lo","direction":"receive"} -> sonde.network.packet.rate {packet}/s {"interface":"lo","direction":"receive"}
bandwidth system.network.errors 1/s {"interface":"lo","direction":"receive"} -> sonde.network.error.rate {error}/s {"interface":"lo","direction":"receive"}
bandwidth system.network.threshold_exceeded By/s {"interface":"lo","threshold":"10"} -> sonde.network.threshold_exceeded By/s {"interface":"lo","threshold":"10"}
memory system.memory.usage By {"state":"available"} -> system.memory.linux.available By {}
memory system.memory.usage By {"state":"used"} -> system.memory.usage By {"state":"used"}
memory system.swap.usage By {"state":"used"} -> system.paging.usage By {"state":"used"}
memory system.swap.utilization 1 {"state":"used"} -> system.paging.utilization 1 {"state":"used"}
cpu system.cpu.utilization 1 {"cpu":"total","state":"irq"} -> system.cpu.utilization 1 {"cpu":"total","state":"interrupt"}
cpu system.cpu.utilization 1 {"cpu":"total","state":"user"} -> system.cpu.utilization 1 {"cpu":"total","state":"user"}
http-check http.check.duration ms {"url":"http://x/","phase":"total"} -> sonde.http.check.duration s {"url":"http://x/","phase":"total"}
http-check http.check.up 1 {"url":"http://x/"} -> sonde.http.check.up 1 {"url":"http://x/"}
http-check http.check.status_code 1 {"url":"http://x/"} -> sonde.http.check.status_code 1 {"url":"http://x/"}
http-check http.check.regex_match 1 {"url":"http://x/"} -> sonde.http.check.regex_match 1 {"url":"http://x/"}
http-check http.check.error 1 {"url":"http://x/","kind":"dns"} -> sonde.http.check.error 1 {"url":"http://x/","kind":"dns"}
custom system.network.io By/s {"interface":"lo"} -> system.network.io By/s {"interface":"lo"}
"#;

/// (probe, metric, unit, labels as normalised JSON).
type Identity = (String, String, String, String);

/// The cases as (before, after). The last one is another probe's series: what it meant
/// by the name is its own business, so it stays.
fn cases() -> Vec<(Identity, Identity)> {
    CASES
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (old, new) = line.split_once(" -> ").expect("`old -> new`");
            let old: Vec<&str> = old.split(' ').collect();
            let new: Vec<&str> = new.split(' ').collect();
            let id = |probe: &str, f: &[&str]| -> Identity {
                (probe.into(), f[0].into(), f[1].into(), normalised(f[2]))
            };
            (id(old[0], &old[1..]), id(old[0], &new))
        })
        .collect()
}

async fn insert_series(db: &Client, (probe, metric, unit, labels): &Identity) -> i64 {
    db.query_one(
        "INSERT INTO series (host, probe, metric, unit, labels)
         VALUES ('web-1', $1, $2, $3, $4::text::jsonb) RETURNING id",
        &[&probe, &metric, &unit, &labels],
    )
    .await
    .unwrap_or_else(|e| panic!("insert {metric} {labels}: {e}"))
    .get(0)
}

async fn insert_measurement(db: &Client, series_id: i64, value: f64) {
    db.execute(
        "INSERT INTO measurement (series_id, time, value) VALUES ($1, now(), $2)",
        &[&series_id, &value],
    )
    .await
    .unwrap_or_else(|e| panic!("insert measurement: {e}"));
}

/// Every series with its values, in id order.
async fn series_with_values(db: &Client) -> Vec<(Identity, Vec<f64>)> {
    db.query(
        "SELECT s.probe, s.metric, s.unit, s.labels::text,
                array_agg(m.value ORDER BY m.value) FILTER (WHERE m.value IS NOT NULL)
         FROM series s LEFT JOIN measurement m ON m.series_id = s.id
         GROUP BY s.id ORDER BY s.id",
        &[],
    )
    .await
    .expect("read series")
    .iter()
    .map(|r| {
        let labels: String = r.get(3);
        (
            (r.get(0), r.get(1), r.get(2), normalised(&labels)),
            r.get(4),
        )
    })
    .collect()
}

/// A measurement's value after the upgrade: durations go from ms to s.
fn value_after(value: f64, old: &Identity, new: &Identity) -> f64 {
    if old.2 == "ms" && new.2 == "s" {
        value / 1000.0
    } else {
        value
    }
}

fn normalised(labels: &str) -> String {
    serde_json::from_str::<serde_json::Value>(labels)
        .expect("labels json")
        .to_string()
}

#[tokio::test]
async fn old_metric_names_are_renamed_merged_and_keep_their_measurements() {
    let env = Env::load();
    let database = create_test_database(&env).await;
    let mut db = pg_connect(&env, &database)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    migrations::run_through(&mut db, "aiven_monitor_measure", 1)
        .await
        .expect("schema as the first release left it");
    let cases = cases();
    for (i, (old, _)) in cases.iter().enumerate() {
        let id = insert_series(&db, old).await;
        insert_measurement(&db, id, i as f64).await;
    }
    // A newer host recorded by the older recorder: the first rate's new name exists already.
    let newer = insert_series(&db, &cases[0].1).await;
    insert_measurement(&db, newer, 100.0).await;

    let ran = migrations::run(&mut db, "aiven_monitor_measure")
        .await
        .expect("upgrade");
    assert!(ran >= 1, "the rename migration ran");

    // By id: the renamed series in order, then the one the first was merged into.
    let mut want: Vec<(Identity, Vec<f64>)> = cases
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, (old, new))| (new.clone(), vec![value_after(i as f64, old, new)]))
        .collect();
    want.push((cases[0].1.clone(), vec![0.0, 100.0]));
    assert_eq!(series_with_values(&db).await, want);

    // The compatibility view shows the new names.
    let metrics: Vec<String> = db
        .query(
            "SELECT DISTINCT metric FROM aiven_monitor_measure WHERE hostname = 'web-1' ORDER BY 1",
            &[],
        )
        .await
        .expect("query the view")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        metrics.contains(&"system.paging.usage".to_string()),
        "{metrics:?}"
    );
    assert!(
        !metrics.contains(&"system.swap.usage".to_string()),
        "{metrics:?}"
    );

    // Running again changes nothing.
    assert_eq!(
        migrations::run(&mut db, "aiven_monitor_measure")
            .await
            .expect("rerun"),
        0
    );
    assert_eq!(series_with_values(&db).await, want);
}

#[tokio::test]
async fn durations_in_ms_become_seconds_and_join_the_seconds_series() {
    let env = Env::load();
    let database = create_test_database(&env).await;
    let mut db = pg_connect(&env, &database)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    migrations::run_through(&mut db, "aiven_monitor_measure", 2)
        .await
        .expect("schema as migration 2 left it");
    let series = |url: &str, unit: &str| -> Identity {
        (
            "http-check".into(),
            "sonde.http.check.duration".into(),
            unit.into(),
            normalised(&format!(r#"{{"url":"{url}","phase":"total"}}"#)),
        )
    };
    // http://a/ has old ms rows and new s rows; http://b/ only old ones.
    let a_ms = insert_series(&db, &series("http://a/", "ms")).await;
    insert_measurement(&db, a_ms, 12.0).await;
    insert_measurement(&db, a_ms, 250.0).await;
    let a_s = insert_series(&db, &series("http://a/", "s")).await;
    insert_measurement(&db, a_s, 0.005).await;
    let b_ms = insert_series(&db, &series("http://b/", "ms")).await;
    insert_measurement(&db, b_ms, 7.0).await;

    migrations::run(&mut db, "aiven_monitor_measure")
        .await
        .expect("upgrade");

    assert_eq!(
        series_with_values(&db).await,
        vec![
            (series("http://a/", "s"), vec![0.005, 0.012, 0.25]),
            (series("http://b/", "s"), vec![0.007]),
        ]
    );
}
