//! Labels on the wire: a JSON object of strings in which no key may appear twice.
//! serde's map support keeps the last of two equal keys; which value a series then gets
//! would depend on the encoder, so the message is refused instead.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, Error, MapAccess, Visitor};

use crate::limits::preview;

pub fn unique<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    d.deserialize_map(UniqueLabels)
}

struct UniqueLabels;

impl<'de> Visitor<'de> for UniqueLabels {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of string labels")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut labels = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, String>()? {
            if labels.contains_key(&key) {
                return Err(A::Error::custom(format_args!(
                    "label key \"{}\" given twice",
                    preview(&key)
                )));
            }
            labels.insert(key, value);
        }
        Ok(labels)
    }
}
