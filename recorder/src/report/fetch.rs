//! Runs the report's queries and shapes their rows into [`Report`]. The only module of the
//! report that talks to PostgreSQL.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::data::{
    CheckCharts, DeadLetter, Event, FailedRun, HostCharts, Lane, Line, Report, Window,
};
use super::queries::{self, Query};
use super::scale::{self, Unit};

/// A chart has at most this many buckets unless `--bucket` says otherwise: enough detail
/// for a 760-pixel-wide chart, and a 24 h × 100 host page stays a few megabytes.
pub const MAX_BUCKETS: i64 = 300;

/// What to fetch.
#[derive(Debug, Clone)]
pub struct Request {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Empty: every host.
    pub host: String,
    /// Fixed bucket width; `None` picks one from the data's span.
    pub bucket_secs: Option<i64>,
}

async fn rows(client: &Client, q: Query, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
    client
        .query(q.sql.as_str(), &params[..q.param_count()])
        .await
        .with_context(|| format!("report query `{}`", q.name))
}

fn text(row: &Row, column: &str) -> String {
    row.get::<_, Option<String>>(column).unwrap_or_default()
}

fn secs(row: &Row) -> i64 {
    row.get::<_, DateTime<Utc>>("time").timestamp()
}

/// Query everything the page shows.
pub async fn fetch(client: &Client, request: &Request, now: DateTime<Utc>) -> Result<Report> {
    let span_row = client
        .query_one(
            queries::run_span().sql.as_str(),
            &[&request.since, &request.until, &request.host],
        )
        .await
        .context("report query `run_span`")?;
    let first: Option<DateTime<Utc>> = span_row.get("first_run");
    let runs: i64 = span_row.get("runs");
    let data_from = first.unwrap_or(request.since).timestamp();
    let until = request.until.timestamp();
    let bucket = request
        .bucket_secs
        .unwrap_or_else(|| scale::bucket_secs(until - data_from, MAX_BUCKETS));
    let window = Window {
        from: data_from.div_euclid(bucket) * bucket,
        to: until.div_euclid(bucket) * bucket + bucket,
        bucket_secs: bucket,
    };
    let from = DateTime::<Utc>::from_timestamp(window.from, 0).unwrap_or(request.since);
    let bucket_param = bucket as f64;
    let params: [&(dyn ToSql + Sync); 4] = [&from, &request.until, &request.host, &bucket_param];
    // Tables cover the whole requested window: a dead letter may predate the first run.
    let whole: [&(dyn ToSql + Sync); 3] = [&request.since, &request.until, &request.host];

    let (cpu, memory, network, threshold, up, status, latency, regex, failed, dead) = futures::try_join!(
        rows(client, queries::cpu(), &params),
        rows(client, queries::memory(), &params),
        rows(client, queries::network(), &params),
        rows(client, queries::network_threshold(), &params),
        rows(client, queries::http_up(), &params),
        rows(client, queries::http_status(), &params),
        rows(client, queries::http_latency(), &params),
        rows(client, queries::http_regex(), &params),
        rows(client, queries::failed_runs(), &whole),
        rows(client, queries::dead_letters(), &whole),
    )?;

    let mut hosts: BTreeMap<String, HostCharts> = BTreeMap::new();
    for (h, lines) in lines_by_host(&cpu, &["state"], "percent") {
        host(&mut hosts, h).cpu = lines;
    }
    for (h, mut lines) in lines_by_host(&memory, &["state"], "bytes") {
        // used first, then available: the same colours on every host
        lines.sort_by_key(|l| l.label != "used");
        host(&mut hosts, h).memory = lines;
    }
    for (h, lines) in lines_by_host(&network, &["interface", "direction"], "bytes_per_second") {
        host(&mut hosts, h).network = lines;
    }
    for row in &threshold {
        let events: i64 = row.get("events");
        let peak: f64 = row.get("peak_bytes_per_second");
        let threshold: f64 = text(row, "threshold").parse().unwrap_or(f64::NAN);
        let text = format!(
            "{} {}: {events} run(s) above {}, peak {}",
            text(row, "interface"),
            text(row, "direction"),
            scale::format_value(threshold, Unit::BytesPerSecond),
            scale::format_value(peak, Unit::BytesPerSecond),
        );
        host(&mut hosts, text_host(row))
            .threshold_events
            .push(Event {
                time: secs(row),
                text,
            });
    }

    let mut checks: BTreeMap<(String, String), CheckCharts> = BTreeMap::new();
    for row in &up {
        let ratio: f64 = row.get("up_ratio");
        check(&mut checks, row).up.push((secs(row), ratio));
    }
    for row in &status {
        let runs: i64 = row.get("runs");
        let code = text(row, "status_code");
        push_cell(
            &mut check(&mut checks, row).status,
            &code,
            secs(row),
            runs as f64,
        );
    }
    for row in &latency {
        let phase = text(row, "phase");
        let (p50, p95): (f64, f64) = (row.get("p50_ms"), row.get("p95_ms"));
        let c = check(&mut checks, row);
        push_point(
            &mut c.latency,
            &format!("{phase} p50"),
            false,
            secs(row),
            p50,
        );
        push_point(
            &mut c.latency,
            &format!("{phase} p95"),
            true,
            secs(row),
            p95,
        );
    }
    for row in &regex {
        let ratio: f64 = row.get("match_ratio");
        push_cell(
            &mut check(&mut checks, row).regex,
            &text(row, "regex"),
            secs(row),
            ratio,
        );
    }
    let mut checks: Vec<CheckCharts> = checks.into_values().collect();
    for c in &mut checks {
        normalise_status(&mut c.status);
        c.latency.sort_by(|a, b| a.label.cmp(&b.label));
    }

    let failed_runs_total = failed.first().map(|r| r.get("total")).unwrap_or(0);
    let dead_letters_total = dead.first().map(|r| r.get("total")).unwrap_or(0);
    Ok(Report {
        generated_at: now,
        window,
        since: request.since.timestamp(),
        host_filter: (!request.host.is_empty()).then(|| request.host.clone()),
        runs,
        hosts: hosts.into_values().collect(),
        checks,
        failed_runs: failed
            .iter()
            .map(|r| FailedRun {
                time: r.get("time"),
                host: text(r, "host"),
                probe: text(r, "probe"),
                job: text(r, "job"),
                error: text(r, "error"),
            })
            .collect(),
        failed_runs_total,
        dead_letters: dead
            .iter()
            .map(|r| DeadLetter {
                time: r.get("time"),
                topic: text(r, "topic"),
                partition: r.get("partition"),
                offset: r.get("offset"),
                reason: text(r, "reason"),
                payload_start: text(r, "payload_start"),
            })
            .collect(),
        dead_letters_total,
    })
}

fn host(hosts: &mut BTreeMap<String, HostCharts>, name: String) -> &mut HostCharts {
    hosts.entry(name.clone()).or_insert_with(|| HostCharts {
        host: name,
        ..HostCharts::default()
    })
}

/// The check a row is about: (host, url).
fn check<'a>(
    checks: &'a mut BTreeMap<(String, String), CheckCharts>,
    row: &Row,
) -> &'a mut CheckCharts {
    let key = (text_host(row), text(row, "url"));
    checks.entry(key.clone()).or_insert_with(|| CheckCharts {
        host: key.0,
        url: key.1,
        ..CheckCharts::default()
    })
}

fn text_host(row: &Row) -> String {
    text(row, "host")
}

/// Rows of (time, host, label columns…, value) into lines per host, labelled by the label
/// columns joined with spaces. Rows arrive in time order, so every line is too.
fn lines_by_host(rows: &[Row], labels: &[&str], value: &str) -> BTreeMap<String, Vec<Line>> {
    let mut by_host: BTreeMap<String, BTreeMap<String, Line>> = BTreeMap::new();
    for row in rows {
        let label = labels
            .iter()
            .map(|c| text(row, c))
            .collect::<Vec<_>>()
            .join(" ");
        let v: f64 = row.get(value);
        by_host
            .entry(text_host(row))
            .or_default()
            .entry(label.clone())
            .or_insert_with(|| Line::new(label))
            .points
            .push((secs(row), v));
    }
    by_host
        .into_iter()
        .map(|(h, lines)| (h, lines.into_values().collect()))
        .collect()
}

fn push_point(lines: &mut Vec<Line>, label: &str, dashed: bool, t: i64, v: f64) {
    match lines.iter_mut().find(|l| l.label == label) {
        Some(line) => line.points.push((t, v)),
        None => lines.push(Line {
            label: label.to_owned(),
            points: vec![(t, v)],
            dashed,
        }),
    }
}

fn push_cell(lanes: &mut Vec<Lane>, label: &str, t: i64, v: f64) {
    match lanes.iter_mut().find(|l| l.label == label) {
        Some(lane) => lane.cells.push((t, v)),
        None => lanes.push(Lane {
            label: label.to_owned(),
            cells: vec![(t, v)],
        }),
    }
}

/// Status lanes hold run counts per bucket; turn them into shares of the bucket's runs.
fn normalise_status(lanes: &mut [Lane]) {
    let mut totals: BTreeMap<i64, f64> = BTreeMap::new();
    for lane in lanes.iter() {
        for (t, n) in &lane.cells {
            *totals.entry(*t).or_default() += n;
        }
    }
    for lane in lanes.iter_mut() {
        for (t, n) in &mut lane.cells {
            *n /= totals.get(t).copied().filter(|s| *s > 0.0).unwrap_or(1.0);
        }
    }
    lanes.sort_by(|a, b| a.label.cmp(&b.label));
}
