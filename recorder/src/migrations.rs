//! The schema, as numbered migrations applied at start. Idempotent and safe when several
//! recorders start at once (one transaction under an advisory lock).

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// Arbitrary constant naming the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x534F_4E44_4501;

/// (version, what it does, SQL). Append only; never edit an applied one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
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
    ),
    (
        2,
        "series of the bundled probes take the OpenTelemetry-conformant metric names",
        RENAME_TO_OTEL_NAMES,
    ),
    (
        3,
        "probe_run.component_sha256: which component build produced each run",
        "ALTER TABLE probe_run ADD COLUMN component_sha256 text",
    ),
    (
        4,
        "http-check durations recorded in ms are converted to s",
        HTTP_DURATION_TO_SECONDS,
    ),
    (
        5,
        "series keyed on a SHA-256 of (host, job, metric, unit, labels); probe_run.dropped_non_finite",
        SERIES_IDENTITY,
    ),
    (
        6,
        "probe_run.recorded_at: the start of the statement that copied the run",
        // clock_timestamp() is volatile, and a volatile default makes COPY insert row by
        // row; statement_timestamp() is stable, so runs are copied in bulk (several times
        // cheaper). All runs of one batch share the COPY's start time.
        "ALTER TABLE probe_run ALTER COLUMN recorded_at SET DEFAULT statement_timestamp()",
    ),
];

/// The bundled probes' series recorded under the names of Sonde 0.1 take the names of
/// docs/probes.md, so a name never means two things in one database: rates move out of
/// OpenTelemetry's counter names (`system.network.io` is a byte counter, not By/s), swap
/// becomes `system.paging.*`, `available` memory its own metric, the `irq` cpu state
/// OpenTelemetry's `interrupt`, and the HTTP check metrics go under `sonde.`. Units and
/// values stay as recorded here; migration 4 converts the one unit that changed. A renamed
/// series whose new identity exists already (a
/// newer host recorded by an older recorder) is merged into it. Only the bundled probes'
/// series are touched: what another probe meant by a name is not known here.
const RENAME_TO_OTEL_NAMES: &str = r#"
CREATE TEMP TABLE series_rename ON COMMIT DROP AS
SELECT s.id, s.host, s.probe, r.new_metric AS metric, r.new_unit AS unit, s.labels
FROM series s
JOIN (VALUES
    ('bandwidth', 'system.network.io', 'By/s', 'sonde.network.io.rate', 'By/s'),
    ('bandwidth', 'system.network.packets', '1/s', 'sonde.network.packet.rate', '{packet}/s'),
    ('bandwidth', 'system.network.errors', '1/s', 'sonde.network.error.rate', '{error}/s'),
    ('bandwidth', 'system.network.threshold_exceeded', 'By/s', 'sonde.network.threshold_exceeded', 'By/s'),
    ('memory', 'system.swap.usage', 'By', 'system.paging.usage', 'By'),
    ('memory', 'system.swap.utilization', '1', 'system.paging.utilization', '1'),
    ('http-check', 'http.check.duration', 'ms', 'sonde.http.check.duration', 'ms'),
    ('http-check', 'http.check.status_code', '1', 'sonde.http.check.status_code', '1'),
    ('http-check', 'http.check.regex_match', '1', 'sonde.http.check.regex_match', '1'),
    ('http-check', 'http.check.up', '1', 'sonde.http.check.up', '1'),
    ('http-check', 'http.check.error', '1', 'sonde.http.check.error', '1')
) AS r(probe, old_metric, old_unit, new_metric, new_unit)
  ON s.probe = r.probe AND s.metric = r.old_metric AND s.unit = r.old_unit;
INSERT INTO series_rename
SELECT id, host, probe, 'system.memory.linux.available', unit, labels - 'state'
FROM series
WHERE probe = 'memory' AND metric = 'system.memory.usage' AND labels->>'state' = 'available';
INSERT INTO series_rename
SELECT id, host, probe, metric, unit, jsonb_set(labels, '{state}', '"interrupt"')
FROM series
WHERE probe = 'cpu' AND metric = 'system.cpu.utilization' AND labels->>'state' = 'irq';
CREATE TEMP TABLE series_merge ON COMMIT DROP AS
SELECT r.id AS old_id, t.id AS new_id
FROM series_rename r
JOIN series t ON t.host = r.host AND t.probe = r.probe AND t.metric = r.metric
             AND t.unit = r.unit AND t.labels = r.labels AND t.id <> r.id;
UPDATE measurement m SET series_id = g.new_id FROM series_merge g WHERE m.series_id = g.old_id;
DELETE FROM series s USING series_merge g WHERE s.id = g.old_id;
UPDATE series s SET metric = r.metric, unit = r.unit, labels = r.labels
FROM series_rename r
WHERE s.id = r.id AND NOT EXISTS (SELECT 1 FROM series_merge g WHERE g.old_id = r.id);
"#;

/// `sonde.http.check.duration` is in seconds (OpenTelemetry's unit for durations); the
/// series migration 2 renamed kept the milliseconds they were recorded in. Their values
/// are divided by 1000 and they join the seconds series of the same check where one exists
/// (a host already sending seconds), so one name has one unit.
const HTTP_DURATION_TO_SECONDS: &str = r#"
CREATE TEMP TABLE duration_ms ON COMMIT DROP AS
SELECT s.id AS old_id, t.id AS new_id
FROM series s
LEFT JOIN series t ON t.host = s.host AND t.probe = s.probe AND t.metric = s.metric
                  AND t.unit = 's' AND t.labels = s.labels
WHERE s.probe = 'http-check' AND s.metric = 'sonde.http.check.duration' AND s.unit = 'ms';
UPDATE measurement m SET value = m.value / 1000, series_id = coalesce(d.new_id, d.old_id)
FROM duration_ms d WHERE m.series_id = d.old_id;
DELETE FROM series s USING duration_ms d WHERE s.id = d.old_id AND d.new_id IS NOT NULL;
UPDATE series s SET unit = 's' FROM duration_ms d WHERE s.id = d.old_id AND d.new_id IS NULL;
"#;

/// Series identity becomes the operator's (the job, not the probe's claimed name) and is
/// enforced on a hash rather than a btree over unbounded texts (an index row over ~2.7 KB
/// fails). Existing series get the job their runs were recorded under when that is one job,
/// else their probe name; series that now share an identity keep their rows under successive
/// `identity_seq` (lookups take the lowest id). `series_identity` computes the same bytes as
/// `series::canonical_identity`; a test holds the two together.
const SERIES_IDENTITY: &str = r#"
ALTER TABLE series
    ADD COLUMN job text,
    ADD COLUMN identity bytea,
    ADD COLUMN identity_seq integer NOT NULL DEFAULT 0;
WITH single_job AS (
    SELECT host, probe, min(job) AS job FROM probe_run
    GROUP BY host, probe HAVING count(DISTINCT job) = 1
)
UPDATE series s SET job = j.job FROM single_job j WHERE j.host = s.host AND j.probe = s.probe;
UPDATE series SET job = probe WHERE job IS NULL;
CREATE FUNCTION pg_temp.series_identity(text, text, text, text, jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $fn$
SELECT sha256(
    convert_to('sonde-series-v1', 'UTF8')
    || int4send(octet_length($1)) || convert_to($1, 'UTF8')
    || int4send(octet_length($2)) || convert_to($2, 'UTF8')
    || int4send(octet_length($3)) || convert_to($3, 'UTF8')
    || int4send(octet_length($4)) || convert_to($4, 'UTF8')
    || int4send((SELECT count(*)::int4 FROM jsonb_object_keys($5)))
    || coalesce((SELECT string_agg(
                     int4send(octet_length(key)) || convert_to(key, 'UTF8')
                     || int4send(octet_length(value)) || convert_to(value, 'UTF8'),
                     ''::bytea ORDER BY convert_to(key, 'UTF8'))
                 FROM jsonb_each_text($5)), ''::bytea))
$fn$;
UPDATE series SET identity = pg_temp.series_identity(host, job, metric, unit, labels);
DROP FUNCTION pg_temp.series_identity(text, text, text, text, jsonb);
WITH ranked AS (
    SELECT id, row_number() OVER (PARTITION BY identity ORDER BY id) - 1 AS seq FROM series
)
UPDATE series s SET identity_seq = r.seq FROM ranked r WHERE r.id = s.id AND r.seq > 0;
ALTER TABLE series
    ALTER COLUMN job SET NOT NULL,
    ALTER COLUMN identity SET NOT NULL,
    DROP CONSTRAINT series_host_probe_metric_unit_labels_key;
CREATE UNIQUE INDEX series_identity_key ON series (identity, identity_seq);
CREATE INDEX series_host_job ON series (host, job);
ALTER TABLE probe_run ADD COLUMN dropped_non_finite integer NOT NULL DEFAULT 0;
"#;

/// Apply every migration not yet recorded in `schema_migrations`, then (re)create the
/// seed-compatible view named `measure_table`. Returns how many migrations ran.
pub async fn run(client: &mut Client, measure_table: &str) -> Result<usize> {
    run_through(client, measure_table, i32::MAX).await
}

/// [`run`], stopping after migration `last_version`: how upgrade tests make a database
/// as an older recorder left it. The view is only (re)made when running through the newest
/// migration: it reads columns older schemas lack.
pub async fn run_through(
    client: &mut Client,
    measure_table: &str,
    last_version: i32,
) -> Result<usize> {
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
        if applied.contains(version) || *version > last_version {
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
    if last_version >= LAST_VERSION {
        tx.batch_execute(&compat_view_sql(measure_table))
            .await
            .with_context(|| {
                format!("creating the view {measure_table} (postgres.measure_table)")
            })?;
    }
    tx.commit().await.context("committing migrations")?;
    Ok(ran)
}

/// The newest migration.
const LAST_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The seed's `metrics(hostname, metric, submetric, value, timestamp)` shape over the
/// normalised tables: `submetric` is the labels as `k=v,k=v` (NULL when there are none).
/// Columns are only ever appended (`CREATE OR REPLACE VIEW` cannot drop or reorder them).
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
       s.unit,
       s.job
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
