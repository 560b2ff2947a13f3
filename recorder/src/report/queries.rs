//! The report's SQL, the one source for `recorder report`, the Grafana dashboard in
//! `contrib/grafana/` and the queries listed in docs/report.md.
//!
//! Every query takes positional parameters: `$1` window start and `$2` window end
//! (timestamptz, end excluded), `$3` host name or `''` for every host, `$4` bucket width in
//! seconds. A query uses a prefix of them (the dead-letter query only `$1` and `$2`).
//! Time-series queries return `time` first and in ascending order, then text columns that
//! name a line, then numbers, which is the long format Grafana reads as it is.
//!
//! Downsampling happens here, not in the renderer: one row per series and bucket.

use super::metrics as m;

/// How a query's rows are meant to be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `time` plus label columns plus values: a chart.
    TimeSeries,
    /// Rows as they are: a table.
    Table,
}

/// One named query.
#[derive(Debug, Clone)]
pub struct Query {
    /// Stable identifier (also the PREPARE name in the docs).
    pub name: &'static str,
    pub title: &'static str,
    pub shape: Shape,
    pub sql: String,
}

impl Query {
    /// How many of `$1..$4` the query uses.
    pub fn param_count(&self) -> usize {
        (1..=4)
            .rev()
            .find(|n| self.sql.contains(&format!("${n}")))
            .unwrap_or(0)
    }
}

/// The bucket expression: `m.time` rounded down to a multiple of `$4` seconds since 2000-01-01 UTC.
const BUCKET: &str =
    "date_bin(make_interval(secs => $4), m.time, TIMESTAMPTZ '2000-01-01 00:00:00+00')";

/// A time-series query over the samples `filter` selects, in the window and host filter:
/// `time`, then `columns` (`keys` text columns naming a line, then the aggregates), one row
/// per line and bucket.
fn binned(
    name: &'static str,
    title: &'static str,
    filter: &str,
    keys: usize,
    columns: &str,
) -> Query {
    let group = (1..=keys + 1)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Query {
        name,
        title,
        shape: Shape::TimeSeries,
        sql: format!(
            "SELECT {BUCKET} AS time,
       {columns}
FROM series s JOIN measurement m ON m.series_id = s.id
WHERE {filter}
  AND ($3 = '' OR s.host = $3) AND m.time >= $1 AND m.time < $2
GROUP BY {group} ORDER BY {group}"
        ),
    }
}

pub fn cpu() -> Query {
    binned(
        "cpu",
        "CPU utilisation by state (%)",
        &format!(
            "s.metric = '{}' AND s.labels->>'cpu' = '{}'",
            m::CPU_UTILIZATION,
            m::CPU_TOTAL
        ),
        2,
        "s.host, s.labels->>'state' AS state, avg(m.value) * 100 AS percent",
    )
}

pub fn memory() -> Query {
    binned(
        "memory",
        "Memory used and available (bytes)",
        &format!(
            "(s.metric = '{}' AND s.labels->>'state' = '{}' OR s.metric = '{}')",
            m::MEMORY_USAGE,
            m::MEMORY_USED_STATE,
            m::MEMORY_AVAILABLE
        ),
        2,
        &format!(
            "s.host, CASE WHEN s.metric = '{}' THEN 'available' ELSE 'used' END AS state,
       avg(m.value) AS bytes",
            m::MEMORY_AVAILABLE
        ),
    )
}

pub fn network() -> Query {
    binned(
        "network",
        "Bandwidth per interface (bytes/s)",
        &format!("s.metric = '{}'", m::NETWORK_RATE),
        3,
        "s.host, s.labels->>'interface' AS interface, s.labels->>'direction' AS direction,
       avg(m.value) AS bytes_per_second",
    )
}

pub fn network_threshold() -> Query {
    binned(
        "network_threshold",
        "Bandwidth threshold events",
        &format!("s.metric = '{}'", m::NETWORK_THRESHOLD),
        3,
        "s.host, s.labels->>'interface' AS interface, s.labels->>'direction' AS direction,
       max(s.labels->>'threshold') AS threshold, count(*) AS events,
       max(m.value) AS peak_bytes_per_second",
    )
}

pub fn http_up() -> Query {
    binned(
        "http_up",
        "HTTP check up (share of runs up)",
        &format!("s.metric = '{}'", m::HTTP_UP),
        2,
        "s.host, s.labels->>'url' AS url, avg(m.value) AS up_ratio",
    )
}

pub fn http_status() -> Query {
    binned(
        "http_status",
        "HTTP status codes (runs per code)",
        &format!("s.metric = '{}'", m::HTTP_STATUS),
        3,
        "s.host, s.labels->>'url' AS url, m.value::bigint::text AS status_code, count(*) AS runs",
    )
}

pub fn http_latency() -> Query {
    binned(
        "http_latency",
        "HTTP latency by phase, p50 and p95 (ms)",
        &format!("s.metric = '{}'", m::HTTP_DURATION),
        3,
        &format!(
            "s.host, s.labels->>'url' AS url, s.labels->>'phase' AS phase,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value) * {ms} AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY m.value) * {ms} AS p95_ms",
            ms = m::HTTP_DURATION_TO_MS
        ),
    )
}

pub fn http_regex() -> Query {
    binned(
        "http_regex",
        "HTTP body regex match (share of runs matching)",
        &format!("s.metric = '{}'", m::HTTP_REGEX_MATCH),
        3,
        "s.host, s.labels->>'url' AS url, s.labels->>'regex' AS regex, avg(m.value) AS match_ratio",
    )
}

/// At most this many rows of failed runs and of dead letters (the totals are counted too).
pub const TABLE_ROWS: i64 = 100;

pub fn failed_runs() -> Query {
    Query {
        name: "failed_runs",
        title: "Failed runs (newest first)",
        shape: Shape::Table,
        sql: format!(
            "SELECT started_at AS time, host, probe, job, error, count(*) OVER () AS total
FROM probe_run
WHERE status = 'error' AND ($3 = '' OR host = $3) AND started_at >= $1 AND started_at < $2
ORDER BY started_at DESC LIMIT {TABLE_ROWS}"
        ),
    }
}

pub fn dead_letters() -> Query {
    Query {
        name: "dead_letters",
        title: "Dead letters (newest first)",
        shape: Shape::Table,
        sql: format!(
            "SELECT received_at AS time, topic, \"partition\", \"offset\", reason,
       encode(substring(payload FROM 1 FOR 200), 'escape') AS payload_start,
       count(*) OVER () AS total
FROM dead_letter
WHERE received_at >= $1 AND received_at < $2
ORDER BY received_at DESC LIMIT {TABLE_ROWS}"
        ),
    }
}

/// First and last run in the window (to choose the bucket width) and how many runs.
pub fn run_span() -> Query {
    Query {
        name: "run_span",
        title: "First and last run in the window",
        shape: Shape::Table,
        sql: "SELECT min(started_at) AS first_run, max(started_at) AS last_run, count(*) AS runs
FROM probe_run
WHERE ($3 = '' OR host = $3) AND started_at >= $1 AND started_at < $2"
            .to_owned(),
    }
}

/// Every query, in the order the report runs them.
pub fn all() -> Vec<Query> {
    vec![
        run_span(),
        cpu(),
        memory(),
        network(),
        network_threshold(),
        http_up(),
        http_status(),
        http_latency(),
        http_regex(),
        failed_runs(),
        dead_letters(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parameters_a_prefix() {
        let queries = all();
        let mut names: Vec<_> = queries.iter().map(|q| q.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), queries.len());
        for q in &queries {
            let n = q.param_count();
            for i in 1..=n {
                assert!(q.sql.contains(&format!("${i}")), "{} lacks ${i}", q.name);
            }
            assert!(n >= 2, "{} ignores the window", q.name);
        }
        assert_eq!(dead_letters().param_count(), 2);
        assert_eq!(cpu().param_count(), 4);
    }

    #[test]
    fn time_series_start_with_time_in_ascending_order() {
        for q in all().iter().filter(|q| q.shape == Shape::TimeSeries) {
            assert!(q.sql.starts_with("SELECT date_bin("), "{}", q.name);
            assert!(q.sql.contains("AS time,"), "{}", q.name);
            assert!(q.sql.contains("ORDER BY 1,"), "{}", q.name);
        }
    }

    #[test]
    fn metric_names_come_from_the_metrics_module() {
        assert!(network().sql.contains(&format!("'{}'", m::NETWORK_RATE)));
        assert!(cpu().sql.contains("s.labels->>'cpu' = 'total'"));
    }
}
