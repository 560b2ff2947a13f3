//! The schema, as numbered migrations applied at start. Idempotent and safe when several
//! recorders start at once (one transaction under an advisory lock).

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// Arbitrary constant naming the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x534F_4E44_4501;

/// (version, what it does, SQL). Append only; never edit an applied one.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "series, probe_run, measurement (partitioned by day), kafka_offset, dead_letter",
    r#"
CREATE TABLE series (
    id      bigserial PRIMARY KEY,
    host    text  NOT NULL,
    probe   text  NOT NULL,
    metric  text  NOT NULL,
    unit    text  NOT NULL,
    labels  jsonb NOT NULL DEFAULT '{}',
    UNIQUE (host, probe, metric, unit, labels)
);
CREATE TABLE probe_run (
    run_id        uuid PRIMARY KEY,
    host          text NOT NULL,
    probe         text NOT NULL,
    probe_version text NOT NULL,
    job           text NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_us   bigint NOT NULL,
    status        text NOT NULL CHECK (status IN ('ok', 'error')),
    error         text,
    topic         text NOT NULL,
    "partition"   integer NOT NULL,
    "offset"      bigint NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX probe_run_host_probe_started ON probe_run (host, probe, started_at);
CREATE TABLE measurement (
    series_id bigint NOT NULL,
    time      timestamptz NOT NULL,
    value     double precision NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX measurement_series_time ON measurement (series_id, time);
CREATE TABLE measurement_default PARTITION OF measurement DEFAULT;
CREATE TABLE kafka_offset (
    topic       text NOT NULL,
    "partition" integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, "partition")
);
CREATE TABLE dead_letter (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    "partition" integer NOT NULL,
    "offset"    bigint NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, "partition", "offset")
);
"#,
)];

/// Apply every migration not yet recorded in `schema_migrations`, then (re)create the
/// seed-compatible view named `measure_table`. Returns how many migrations ran.
pub async fn run(client: &mut Client, measure_table: &str) -> Result<usize> {
    let tx = client
        .transaction()
        .await
        .context("starting the migration transaction")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             description text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .context("creating schema_migrations")?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut ran = 0;
    for (version, description, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("applying migration {version} ({description})"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
            &[version, description],
        )
        .await?;
        tracing::info!("applied migration {version}: {description}");
        ran += 1;
    }
    tx.batch_execute(&compat_view_sql(measure_table))
        .await
        .with_context(|| format!("creating the view {measure_table} (postgres.measure_table)"))?;
    tx.commit().await.context("committing migrations")?;
    Ok(ran)
}

/// The seed's `metrics(hostname, metric, submetric, value, timestamp)` shape over the
/// normalised tables: `submetric` is the labels as `k=v,k=v` (NULL when there are none).
/// `measure_table` is validated as a plain identifier by the config parser.
pub fn compat_view_sql(measure_table: &str) -> String {
    format!(
        r#"CREATE OR REPLACE VIEW "{measure_table}" AS
SELECT s.host AS hostname,
       s.metric,
       (SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM jsonb_each_text(s.labels)) AS submetric,
       m.value,
       m.time AS "timestamp",
       s.probe,
       s.unit
FROM measurement m JOIN series s ON s.id = m.series_id"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_unique() {
        let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(versions[0], 1);
    }

    #[test]
    fn view_keeps_the_seed_columns() {
        let sql = compat_view_sql("aiven_monitor_measure");
        for col in ["hostname", "metric", "submetric", "value", "\"timestamp\""] {
            assert!(sql.contains(col), "{col} missing");
        }
    }
}
