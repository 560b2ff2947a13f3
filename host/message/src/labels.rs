//! A sample's labels: a JSON object of strings in which no key may appear twice.
//!
//! serde's map support keeps the last of two equal keys; which value a series then gets
//! would depend on the encoder, so the message is refused instead.
//!
//! [`Labels`] is a vector of (key, value) kept sorted by key: a sample carries a handful of
//! labels, so one allocation holds them all, where a map allocated a node per sample and
//! the recorder decodes a million samples a second. Byte order of the keys is the order a
//! `BTreeMap<String, String>` iterates in, so the wire form and everything derived from the
//! order (the series identity) are the same.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::limits::preview;

/// A sample's labels, unique keys in byte order. Compares, orders and hashes like the
/// sorted list of its pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    pub const fn new() -> Labels {
        Labels(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Set `key` to `value`; returns the value it replaces, as a map's `insert` does.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &String> {
        self.0.iter().map(|(_, v)| v)
    }

    /// From pairs in any order, refusing a key given twice (the key is returned).
    pub fn from_unique(mut pairs: Vec<(String, String)>) -> Result<Labels, String> {
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        match pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            Some(w) => Err(w[0].0.clone()),
            None => Ok(Labels(pairs)),
        }
    }
}

/// Pairs in any order; of two equal keys the last wins, as when collecting into a map.
impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Labels {
        let mut pairs: Vec<(String, String)> = iter.into_iter().collect();
        // Stable: of equal keys, the later stays later. O(n log n), however many repeat.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match unique.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => unique.push(pair),
            }
        }
        Labels(unique)
    }
}

impl<const N: usize> From<[(String, String); N]> for Labels {
    fn from(pairs: [(String, String); N]) -> Labels {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Labels {
        // Already unique and in key order.
        Labels(map.into_iter().collect())
    }
}

/// The value of `key`; panics when there is none, as a map's index does.
impl std::ops::Index<&str> for Labels {
    type Output = String;

    fn index(&self, key: &str) -> &String {
        self.get(key).unwrap_or_else(|| panic!("no label {key:?}"))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        d.deserialize_map(UniqueLabels)
    }
}

struct UniqueLabels;

impl<'de> Visitor<'de> for UniqueLabels {
    type Value = Labels;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of string labels")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(16));
        while let Some(pair) = map.next_entry::<String, String>()? {
            pairs.push(pair);
        }
        Labels::from_unique(pairs).map_err(|key| {
            A::Error::custom(format_args!("label key \"{}\" given twice", preview(&key)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_owned()
    }

    #[test]
    fn keeps_key_order_and_unique_keys() {
        let mut l = Labels::new();
        assert_eq!(l.insert(s("b"), s("2")), None);
        assert_eq!(l.insert(s("a"), s("1")), None);
        assert_eq!(l.insert(s("c"), s("3")), None);
        assert_eq!(l.insert(s("b"), s("two")), Some(s("2")));
        let pairs: Vec<_> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(pairs, ["a=1", "b=two", "c=3"]);
        assert_eq!(l.get("b").map(String::as_str), Some("two"));
        assert!(l.contains_key("c") && !l.contains_key("d"));
        assert_eq!(l.remove("a"), Some(s("1")));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn orders_and_serialises_as_the_map_did() {
        let pairs = [(s("z"), s("1")), (s("a"), s("2")), (s("ab"), s("3"))];
        let map: BTreeMap<String, String> = pairs.clone().into();
        let labels = Labels::from(pairs);
        assert_eq!(
            serde_json::to_string(&labels).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert!(labels.iter().eq(map.iter()));
        assert_eq!(Labels::from(map.clone()), labels);
        let other: BTreeMap<String, String> = [(s("a"), s("3"))].into();
        assert_eq!(labels.cmp(&Labels::from(other.clone())), map.cmp(&other));
    }

    #[test]
    fn collecting_keeps_the_last_of_equal_keys_as_a_map_does() {
        let pairs = [
            ("b", "1"),
            ("a", "1"),
            ("b", "2"),
            ("c", "1"),
            ("a", "2"),
            ("b", "3"),
        ]
        .map(|(k, v)| (s(k), s(v)));
        let map: BTreeMap<String, String> = pairs.clone().into_iter().collect();
        let labels: Labels = pairs.into_iter().collect();
        assert!(labels.iter().eq(map.iter()), "{labels:?}");
        // Many repeats of few keys: as a map collects them.
        let many = (0..10_000).map(|i| (format!("k{}", i % 7), i.to_string()));
        let map: BTreeMap<String, String> = many.clone().collect();
        assert!(many.collect::<Labels>().iter().eq(map.iter()));
    }

    #[test]
    fn decoding_refuses_a_key_given_twice_wherever_it_is() {
        let ok: Labels = serde_json::from_str(r#"{"b":"1","a":"2"}"#).unwrap();
        assert_eq!(ok.keys().collect::<Vec<_>>(), ["a", "b"]);
        for twice in [r#"{"a":"1","a":"2"}"#, r#"{"a":"1","b":"2","a":"3"}"#] {
            let err = serde_json::from_str::<Labels>(twice)
                .unwrap_err()
                .to_string();
            assert!(err.contains("label key \"a\" given twice"), "{err}");
        }
        assert!(serde_json::from_str::<Labels>(r#"{"a":1}"#).is_err());
    }
}
