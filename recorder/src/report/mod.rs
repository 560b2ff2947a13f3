//! `recorder report`: one self-contained HTML page of what was recorded — per host CPU,
//! memory and bandwidth (threshold events marked), per HTTP check up/down, status codes,
//! latency by phase and regex match, and the tables of failed runs and dead letters.
//!
//! Layers: [`queries`] (the SQL, shared with the Grafana dashboard and the docs), [`fetch`]
//! (runs it, shapes rows into [`data::Report`]), [`page`] and [`chart`] (pure rendering).

pub mod chart;
pub mod data;
pub mod fetch;
pub mod metrics;
pub mod page;
pub mod queries;
pub mod scale;

#[cfg(test)]
mod page_tests;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use chrono::Utc;

use crate::config::Config;
use crate::db::PgTarget;

/// `recorder report` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// How far back the report reaches: a number and s, m, h or d.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = parse_secs)]
    pub since: i64,
    /// Only this host (exact name); default every host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Width of one chart point (e.g. 1m); default: the window cut into at most 300.
    #[arg(long, value_name = "DURATION", value_parser = parse_secs)]
    pub bucket: Option<i64>,
    /// Where to write the HTML file (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

fn parse_secs(text: &str) -> Result<i64, String> {
    scale::parse_duration(text)
}

/// What one report took, for the log line and `just bench`.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub bytes: usize,
    pub hosts: usize,
    pub checks: usize,
    pub query_ms: u128,
    pub render_ms: u128,
}

/// Query PostgreSQL (read only) and write the page to `args.out`.
pub async fn write(config: &Config, args: &ReportArgs) -> Result<Written> {
    let target = PgTarget::new(&config.postgres)?;
    let client = target.connect().await?;
    let now = Utc::now();
    let since = now - chrono::Duration::seconds(args.since);
    let request = fetch::Request {
        since,
        until: now,
        host: args.host.clone().unwrap_or_default(),
        bucket_secs: args.bucket,
    };
    let started = Instant::now();
    let report = fetch::fetch(&client, &request, now).await.map_err(|e| {
        if is_missing_table(&e) {
            anyhow!("PostgreSQL {}: no Sonde tables yet (start the recorder once to create them): {e:#}", target.describe)
        } else {
            e
        }
    })?;
    let query_ms = started.elapsed().as_millis();
    let started = Instant::now();
    let html = page::render(&report);
    let render_ms = started.elapsed().as_millis();
    write_atomically(&args.out, html.as_bytes())?;
    Ok(Written {
        bytes: html.len(),
        hosts: report.hosts.len(),
        checks: report.checks.len(),
        query_ms,
        render_ms,
    })
}

fn is_missing_table(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(|pg| pg.code())
            .is_some_and(|code| *code == tokio_postgres::error::SqlState::UNDEFINED_TABLE)
    })
}

/// Write beside `path` and rename over it: a reader never sees half a page.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("--out {}: not a file name", path.display()))?;
    let mut tmp_name = name.to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes)
        .with_context(|| format!("--out: cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        format!(
            "--out: cannot rename {} to {}",
            tmp.display(),
            path.display()
        )
    })
}
