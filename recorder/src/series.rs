//! `series` ids: one row per (host, probe, metric, unit, labels), looked up once and then
//! served from memory. Lookups hash borrowed fields, so the hot path allocates nothing.
//!
//! Series rows are inserted in their own autocommitted statement, outside the batch
//! transaction: an id handed out is therefore durable and safe to cache even if the batch
//! that needed it rolls back.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use anyhow::{Context, Result};
use sonde_message::{RunMessage, Sample};
use tokio_postgres::Client;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    host: String,
    probe: String,
    metric: String,
    unit: String,
    labels: BTreeMap<String, String>,
}

impl SeriesKey {
    fn of(m: &RunMessage, s: &Sample) -> SeriesKey {
        SeriesKey {
            host: m.host.clone(),
            probe: m.probe.clone(),
            metric: s.name.clone(),
            unit: s.unit.clone(),
            labels: s.labels.clone(),
        }
    }

    fn matches(&self, m: &RunMessage, s: &Sample) -> bool {
        self.metric == s.name
            && self.host == m.host
            && self.probe == m.probe
            && self.unit == s.unit
            && self.labels == s.labels
    }
}

fn hash_of(m: &RunMessage, s: &Sample) -> u64 {
    let mut h = DefaultHasher::new();
    (&m.host, &m.probe, &s.name, &s.unit, &s.labels).hash(&mut h);
    h.finish()
}

/// Known series ids, by content hash (collisions kept side by side).
#[derive(Debug, Default)]
pub struct SeriesCache {
    ids: HashMap<u64, Vec<(SeriesKey, i64)>>,
}

impl SeriesCache {
    pub fn id(&self, m: &RunMessage, s: &Sample) -> Option<i64> {
        self.ids
            .get(&hash_of(m, s))?
            .iter()
            .find(|(k, _)| k.matches(m, s))
            .map(|(_, id)| *id)
    }

    pub fn len(&self) -> usize {
        self.ids.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Make every series of `runs` known, creating the missing ones.
    pub async fn resolve<'a>(
        &mut self,
        client: &Client,
        runs: impl Iterator<Item = &'a RunMessage>,
    ) -> Result<()> {
        // Sorted, so concurrent recorders insert in the same order and cannot deadlock.
        let mut missing: BTreeMap<SeriesKey, ()> = BTreeMap::new();
        for m in runs {
            for s in &m.samples {
                if self.id(m, s).is_none() {
                    missing.insert(SeriesKey::of(m, s), ());
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let keys: Vec<&SeriesKey> = missing.keys().collect();
        let hosts: Vec<&str> = keys.iter().map(|k| k.host.as_str()).collect();
        let probes: Vec<&str> = keys.iter().map(|k| k.probe.as_str()).collect();
        let metrics: Vec<&str> = keys.iter().map(|k| k.metric.as_str()).collect();
        let units: Vec<&str> = keys.iter().map(|k| k.unit.as_str()).collect();
        let labels: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| serde_json::to_value(&k.labels))
            .collect::<Result<_, _>>()
            .context("encoding labels")?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&hosts, &probes, &metrics, &units, &labels];
        client
            .execute(
                "INSERT INTO series (host, probe, metric, unit, labels)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])
                 ON CONFLICT (host, probe, metric, unit, labels) DO NOTHING",
                &params,
            )
            .await
            .context("creating series")?;
        let rows = client
            .query(
                "SELECT k.i, s.id
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])
                      WITH ORDINALITY AS k(host, probe, metric, unit, labels, i)
                 JOIN series s ON s.host = k.host AND s.probe = k.probe AND s.metric = k.metric
                              AND s.unit = k.unit AND s.labels = k.labels",
                &params,
            )
            .await
            .context("reading series ids")?;
        for row in rows {
            let index = usize::try_from(row.get::<_, i64>(0) - 1).context("bad ordinality")?;
            let key = (*keys.get(index).context("bad ordinality")?).clone();
            let id: i64 = row.get(1);
            let mut h = DefaultHasher::new();
            (&key.host, &key.probe, &key.metric, &key.unit, &key.labels).hash(&mut h);
            self.ids.entry(h.finish()).or_default().push((key, id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_matches_lookup_hash() {
        let mut m = RunMessage::new("h", "cpu", "1", "cpu", chrono::Utc::now());
        m.samples.push(Sample {
            name: "x".into(),
            value: 1.0,
            unit: "1".into(),
            labels: [("a".to_string(), "b".to_string())].into(),
        });
        let s = &m.samples[0];
        let key = SeriesKey::of(&m, s);
        let mut h = DefaultHasher::new();
        (&key.host, &key.probe, &key.metric, &key.unit, &key.labels).hash(&mut h);
        assert_eq!(h.finish(), hash_of(&m, s));
        let mut cache = SeriesCache::default();
        cache.ids.entry(hash_of(&m, s)).or_default().push((key, 42));
        assert_eq!(cache.id(&m, s), Some(42));
        let mut other = s.clone();
        other.unit = "By".into();
        assert_eq!(cache.id(&m, &other), None);
    }
}
