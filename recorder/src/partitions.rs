//! Daily partitions of `measurement`: created ahead of time and on demand for the days a
//! batch carries within [`BACKFILL_DAYS`] of today, dropped after `postgres.retention_days`.
//! Rows of older days go to `measurement_default`: a message cannot make the recorder create
//! a table per day of the past.
//!
//! Partitions are created in their own short transaction, before the batch transaction,
//! so the batch never holds the parent's exclusive lock. Failing to create one is not fatal:
//! its rows go to `measurement_default` (logged once per cause).

use std::collections::{BTreeSet, HashSet};

use anyhow::{Context, Result};
use chrono::{Days, NaiveDate, Utc};
use tokio_postgres::Client;

/// Advisory lock serialising partition DDL between recorders.
const PARTITION_LOCK: i64 = 0x534F_4E44_4502;

/// Days created ahead of today (and kept behind it) even before data arrives.
const DAYS_AHEAD: u64 = 2;

/// How many days back a batch may have a daily partition created for it.
pub const BACKFILL_DAYS: u64 = 31;

/// Whether `day` gets a daily partition when a batch carries it on `today`.
pub fn in_window(day: NaiveDate, today: NaiveDate) -> bool {
    let first = today.checked_sub_days(Days::new(BACKFILL_DAYS));
    let last = today.checked_add_days(Days::new(DAYS_AHEAD));
    first.is_some_and(|f| day >= f) && last.is_some_and(|l| day <= l)
}

/// `measurement_p20261122` holds [2026-11-22, 2026-11-23) UTC.
pub fn partition_name(day: NaiveDate) -> String {
    format!("measurement_p{}", day.format("%Y%m%d"))
}

pub fn parse_partition_name(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name.strip_prefix("measurement_p")?, "%Y%m%d").ok()
}

/// Days whose partitions are older than the retention allows on `today` (0 = keep all).
pub fn expired(
    days: impl IntoIterator<Item = NaiveDate>,
    today: NaiveDate,
    retention_days: u32,
) -> Vec<NaiveDate> {
    if retention_days == 0 {
        return Vec::new();
    }
    let Some(cutoff) = today.checked_sub_days(Days::new(retention_days.into())) else {
        return Vec::new();
    };
    // A day's partition goes once all of it is older than the cutoff.
    days.into_iter().filter(|d| *d < cutoff).collect()
}

/// Remembers which partitions exist so the common case costs no query.
#[derive(Debug, Default)]
pub struct Partitions {
    known: HashSet<NaiveDate>,
    last_error: Option<String>,
}

impl Partitions {
    /// Forget the cache (after a reconnect: someone may have dropped partitions meanwhile).
    pub fn forget(&mut self) {
        self.known.clear();
    }

    /// Make sure a partition exists for each of `days` within the backfill window; on failure
    /// the rows go to `measurement_default` (warned once per cause).
    pub async fn ensure(&mut self, client: &mut Client, days: &BTreeSet<NaiveDate>) {
        let today = Utc::now().date_naive();
        let wanted = days
            .iter()
            .filter(|d| in_window(**d, today))
            .copied()
            .collect();
        match self.create(client, &wanted).await {
            Ok(()) => self.last_error = None,
            Err(e) => {
                let text = format!("{e:#}");
                if self.last_error.as_ref() != Some(&text) {
                    tracing::warn!("{text}; rows of those days go to measurement_default");
                    self.last_error = Some(text);
                }
            }
        }
    }

    async fn create(&mut self, client: &mut Client, days: &BTreeSet<NaiveDate>) -> Result<()> {
        let missing: Vec<NaiveDate> = days
            .iter()
            .filter(|d| !self.known.contains(d))
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
            .await?;
        for day in &missing {
            let next = day.succ_opt().context("date out of range")?;
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF measurement FOR VALUES FROM ('{day}') TO ('{next}')",
                partition_name(*day)
            );
            tx.batch_execute(&sql)
                .await
                .with_context(|| format!("creating partition {}", partition_name(*day)))?;
        }
        tx.commit().await?;
        self.known.extend(missing);
        Ok(())
    }

    /// Create the partitions around today so the first batches find them.
    pub async fn ensure_ahead(&mut self, client: &mut Client) -> Result<()> {
        let today = Utc::now().date_naive();
        let days = (0..=2 * DAYS_AHEAD)
            .filter_map(|i| {
                today
                    .checked_sub_days(Days::new(DAYS_AHEAD))?
                    .checked_add_days(Days::new(i))
            })
            .collect();
        self.create(client, &days).await
    }

    /// Drop partitions past retention; returns the dropped names.
    pub async fn apply_retention(
        &mut self,
        client: &mut Client,
        retention_days: u32,
    ) -> Result<Vec<String>> {
        if retention_days == 0 {
            return Ok(Vec::new());
        }
        let rows = client
            .query(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'measurement'::regclass",
                &[],
            )
            .await?;
        let days = rows
            .iter()
            .filter_map(|r| parse_partition_name(r.get::<_, &str>(0)));
        let today = Utc::now().date_naive();
        let mut dropped = Vec::new();
        for day in expired(days, today, retention_days) {
            let name = partition_name(day);
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
                .await?;
            tx.batch_execute(&format!("DROP TABLE IF EXISTS {name}"))
                .await?;
            tx.commit()
                .await
                .with_context(|| format!("dropping partition {name}"))?;
            self.known.remove(&day);
            tracing::info!("dropped partition {name} (older than {retention_days} days)");
            dropped.push(name);
        }
        let cutoff = today
            .checked_sub_days(Days::new(retention_days.into()))
            .context("date out of range")?;
        client
            .execute(
                "DELETE FROM measurement_default WHERE time < $1::date",
                &[&cutoff],
            )
            .await
            .context("applying retention to measurement_default")?;
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(partition_name(d("2026-11-02")), "measurement_p20261102");
        assert_eq!(
            parse_partition_name("measurement_p20261102"),
            Some(d("2026-11-02"))
        );
        assert_eq!(parse_partition_name("measurement_default"), None);
    }

    #[test]
    fn partitions_are_made_only_near_today() {
        let today = d("2026-11-22");
        assert!(in_window(today, today));
        assert!(in_window(d("2026-10-22"), today));
        assert!(!in_window(d("2026-10-21"), today));
        assert!(in_window(d("2026-11-24"), today));
        assert!(!in_window(d("2026-11-25"), today));
        assert!(!in_window(d("1970-01-01"), today));
    }

    #[test]
    fn retention_table() {
        let days = [
            d("2026-11-01"),
            d("2026-11-14"),
            d("2026-11-15"),
            d("2026-11-22"),
        ];
        let today = d("2026-11-22");
        assert_eq!(expired(days, today, 0), Vec::<NaiveDate>::new());
        assert_eq!(
            expired(days, today, 7),
            vec![d("2026-11-01"), d("2026-11-14")]
        );
        assert_eq!(expired(days, today, 30), Vec::<NaiveDate>::new());
    }
}
