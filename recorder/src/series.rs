//! `series` ids: one row per (host, job, metric, unit, labels), looked up once and then
//! served from memory. Lookups hash borrowed fields, so the hot path allocates nothing, and
//! a batch hashes each sample once: [`SeriesCache::resolve`] hands back every sample's id.
//! The in-memory hash is foldhash with a per-process random seed: several times cheaper
//! than SipHash on these short texts, and a sender cannot aim collisions at it.
//!
//! The identity is the operator's: `job` is the job name from the host's configuration, so a
//! probe cannot write into another job's series by claiming its name. The probe's claimed
//! name is kept in `series.probe` as an attribute (from the run that created the series).
//!
//! Uniqueness rests on `identity`, a SHA-256 of [`canonical_identity`], with a unique index on
//! (`identity`, `identity_seq`): no btree ever holds the unbounded texts. Two identities with
//! the same hash (never seen for SHA-256, but handled) get the next `identity_seq`; every
//! lookup compares the full identity, never the hash alone.
//!
//! Series rows are inserted in their own autocommitted statement, outside the batch
//! transaction: an id handed out is therefore durable and safe to cache even if the batch
//! that needed it rolls back.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use anyhow::{Context, Result};
use foldhash::fast::RandomState;
use sha2::{Digest, Sha256};
use sonde_message::{Labels, RunMessage, Sample};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// Bumped if [`canonical_identity`] ever changes (migration 5 computes the same bytes in SQL
/// for the series that existed before it).
const IDENTITY_TAG: &[u8] = b"sonde-series-v1";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub host: String,
    pub job: String,
    pub metric: String,
    pub unit: String,
    pub labels: Labels,
}

impl SeriesKey {
    pub fn of(m: &RunMessage, s: &Sample) -> SeriesKey {
        SeriesKey {
            host: m.host.clone(),
            job: m.job.clone(),
            metric: s.name.clone(),
            unit: s.unit.clone(),
            labels: s.labels.clone(),
        }
    }

    fn matches(&self, m: &RunMessage, s: &Sample) -> bool {
        self.metric == s.name
            && self.job == m.job
            && self.host == m.host
            && self.unit == s.unit
            && self.labels == s.labels
    }

    /// SHA-256 of [`canonical_identity`]: the indexed `series.identity`.
    pub fn identity_hash(&self) -> Vec<u8> {
        Sha256::digest(canonical_identity(self)).to_vec()
    }
}

/// The bytes the identity hash is taken of: a tag, then host, job, metric and unit, the
/// label count and each label (key, value) in byte order, every text prefixed by its length
/// in bytes (u32, big-endian), so no two identities share an encoding.
pub fn canonical_identity(k: &SeriesKey) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        // Texts are bounded far below 4 GiB by the message limits.
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(IDENTITY_TAG);
    for field in [&k.host, &k.job, &k.metric, &k.unit] {
        text(&mut out, field);
    }
    out.extend_from_slice(&(k.labels.len() as u32).to_be_bytes());
    for (key, value) in &k.labels {
        text(&mut out, key);
        text(&mut out, value);
    }
    out
}

/// Known series ids, by content hash (collisions kept side by side).
#[derive(Debug, Default)]
pub struct SeriesCache {
    state: RandomState,
    ids: HashMap<u64, Vec<(SeriesKey, i64)>, RandomState>,
}

impl SeriesCache {
    fn hash_of(&self, m: &RunMessage, s: &Sample) -> u64 {
        self.state
            .hash_one((&m.host, &m.job, &s.name, &s.unit, &s.labels))
    }

    fn hash_of_key(&self, k: &SeriesKey) -> u64 {
        self.state
            .hash_one((&k.host, &k.job, &k.metric, &k.unit, &k.labels))
    }

    fn lookup(&self, hash: u64, m: &RunMessage, s: &Sample) -> Option<i64> {
        self.ids
            .get(&hash)?
            .iter()
            .find(|(k, _)| k.matches(m, s))
            .map(|(_, id)| *id)
    }

    pub fn id(&self, m: &RunMessage, s: &Sample) -> Option<i64> {
        self.lookup(self.hash_of(m, s), m, s)
    }

    pub fn len(&self) -> usize {
        self.ids.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn remember(&mut self, key: SeriesKey, id: i64) {
        self.ids
            .entry(self.hash_of_key(&key))
            .or_default()
            .push((key, id));
    }

    /// Make every series of `runs` known, creating the missing ones; returns the id of every
    /// sample, run by run in order.
    pub async fn resolve<'a>(
        &mut self,
        client: &Client,
        runs: impl Iterator<Item = &'a RunMessage>,
    ) -> Result<Vec<i64>> {
        let mut ids = Vec::new();
        // Samples not in the cache: (index in `ids`, hash, run, sample).
        let mut misses = Vec::new();
        for m in runs {
            for s in &m.samples {
                let hash = self.hash_of(m, s);
                match self.lookup(hash, m, s) {
                    Some(id) => ids.push(id),
                    None => {
                        misses.push((ids.len(), hash, m, s));
                        ids.push(0);
                    }
                }
            }
        }
        if misses.is_empty() {
            return Ok(ids);
        }
        // Sorted, so concurrent recorders insert in the same order and cannot deadlock.
        // The value is the probe name of the first run that needs the series.
        let mut missing: BTreeMap<SeriesKey, &str> = BTreeMap::new();
        for (_, _, m, s) in &misses {
            missing
                .entry(SeriesKey::of(m, s))
                .or_insert(m.probe.as_str());
        }
        self.create(client, missing).await?;
        for (index, hash, m, s) in misses {
            ids[index] = self.lookup(hash, m, s).context("series id not resolved")?;
        }
        Ok(ids)
    }

    /// Insert the `missing` series (value: the probe that first needs it) and remember
    /// their ids.
    async fn create(&mut self, client: &Client, missing: BTreeMap<SeriesKey, &str>) -> Result<()> {
        let keys: Vec<&SeriesKey> = missing.keys().collect();
        let identities: Vec<Vec<u8>> = keys.iter().map(|k| k.identity_hash()).collect();
        let hosts: Vec<&str> = keys.iter().map(|k| k.host.as_str()).collect();
        let jobs: Vec<&str> = keys.iter().map(|k| k.job.as_str()).collect();
        let probes: Vec<&str> = missing.values().copied().collect();
        let metrics: Vec<&str> = keys.iter().map(|k| k.metric.as_str()).collect();
        let units: Vec<&str> = keys.iter().map(|k| k.unit.as_str()).collect();
        let labels: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| serde_json::to_value(&k.labels))
            .collect::<Result<_, _>>()
            .context("encoding labels")?;
        client
            .execute(
                "INSERT INTO series (identity, host, job, probe, metric, unit, labels)
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[],
                                      $5::text[], $6::text[], $7::jsonb[])
                 ON CONFLICT (identity, identity_seq) DO NOTHING",
                &[
                    &identities,
                    &hosts,
                    &jobs,
                    &probes,
                    &metrics,
                    &units,
                    &labels,
                ],
            )
            .await
            .context("creating series")?;
        let params: [&(dyn ToSql + Sync); 6] =
            [&identities, &hosts, &jobs, &metrics, &units, &labels];
        let rows = client
            .query(
                "SELECT DISTINCT ON (k.i) k.i, s.id
                 FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
                      WITH ORDINALITY AS k(identity, host, job, metric, unit, labels, i)
                 JOIN series s ON s.identity = k.identity AND s.host = k.host AND s.job = k.job
                              AND s.metric = k.metric AND s.unit = k.unit AND s.labels = k.labels
                 ORDER BY k.i, s.id",
                &params,
            )
            .await
            .context("reading series ids")?;
        let mut found = vec![false; keys.len()];
        for row in rows {
            let index = usize::try_from(row.get::<_, i64>(0) - 1).context("bad ordinality")?;
            let key = *keys.get(index).context("bad ordinality")?;
            found[index] = true;
            self.remember(key.clone(), row.get(1));
        }
        for (i, key) in keys.iter().enumerate().filter(|(i, _)| !found[*i]) {
            let id = resolve_collision(client, key, &identities[i], probes[i], &labels[i]).await?;
            self.remember((*key).clone(), id);
        }
        Ok(())
    }
}

/// `key`'s identity hash is taken by another identity: give `key` the next free
/// `identity_seq` (or find the row a concurrent recorder just made for it).
async fn resolve_collision(
    client: &Client,
    key: &SeriesKey,
    identity: &Vec<u8>,
    probe: &str,
    labels: &serde_json::Value,
) -> Result<i64> {
    tracing::warn!(
        "series identity hash collision for host {} job {} metric {}: stored under the next identity_seq",
        key.host,
        key.job,
        key.metric
    );
    let params: [&(dyn ToSql + Sync); 7] = [
        identity,
        &key.host,
        &key.job,
        &key.metric,
        &key.unit,
        labels,
        &probe,
    ];
    const MATCH: &str =
        "identity = $1 AND host = $2 AND job = $3 AND metric = $4 AND unit = $5 AND labels = $6";
    // Each attempt either finds the row or takes a free seq; losing a race to another
    // recorder costs one more attempt.
    for _ in 0..8 {
        if let Some(row) = client
            .query_opt(
                &format!("SELECT id FROM series WHERE {MATCH} ORDER BY id LIMIT 1"),
                &params[..6],
            )
            .await
            .context("reading a colliding series")?
        {
            return Ok(row.get(0));
        }
        client
            .execute(
                "INSERT INTO series (identity, identity_seq, host, job, metric, unit, labels, probe)
                 SELECT $1, coalesce(max(identity_seq) + 1, 0), $2, $3, $4, $5, $6, $7
                 FROM series WHERE identity = $1
                 ON CONFLICT (identity, identity_seq) DO NOTHING",
                &params,
            )
            .await
            .context("creating a colliding series")?;
    }
    anyhow::bail!(
        "could not create series for host {} job {} metric {}: identity_seq contended",
        key.host,
        key.job,
        key.metric
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> RunMessage {
        let mut m = RunMessage::new("h", "cpu", "1", "cpu-job", chrono::Utc::now());
        m.samples.push(Sample {
            name: "x".into(),
            value: 1.0,
            unit: "1".into(),
            labels: [("a".to_string(), "b".to_string())].into(),
        });
        m
    }

    #[test]
    fn key_hash_matches_lookup_hash() {
        let m = message();
        let s = &m.samples[0];
        let key = SeriesKey::of(&m, s);
        let mut cache = SeriesCache::default();
        assert_eq!(cache.hash_of_key(&key), cache.hash_of(&m, s));
        cache.remember(key, 42);
        assert_eq!(cache.id(&m, s), Some(42));
        let mut other = s.clone();
        other.unit = "By".into();
        assert_eq!(cache.id(&m, &other), None);
        // The probe a run claims is not part of the identity; the job is.
        let mut impostor = m.clone();
        impostor.probe = "other".into();
        assert_eq!(cache.id(&impostor, s), Some(42));
        impostor.job = "other-job".into();
        assert_eq!(cache.id(&impostor, s), None);
    }

    #[test]
    fn canonical_identity_separates_fields_unambiguously() {
        let m = message();
        let key = SeriesKey::of(&m, &m.samples[0]);
        let mut shifted = key.clone();
        // Moving bytes from one field to the next must change the encoding.
        shifted.host = "hc".into();
        shifted.job = "pu-job".into();
        assert_ne!(canonical_identity(&key), canonical_identity(&shifted));
        let mut label_shift = key.clone();
        label_shift.labels = [("ab".to_string(), String::new())].into();
        assert_ne!(canonical_identity(&key), canonical_identity(&label_shift));
        assert_eq!(key.identity_hash().len(), 32);
        assert_eq!(key.identity_hash(), key.clone().identity_hash());
    }
}
