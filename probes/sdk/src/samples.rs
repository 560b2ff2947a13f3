//! Building a run's samples: name, value, unit, then labels.

use std::ops::Deref;

use crate::Sample;

impl Sample {
    /// A sample without labels. `name` follows OpenTelemetry (`system.cpu.utilization`,
    /// or `sonde.` for Sonde's own), `unit` is UCUM (`1`, `By`, `s`, `By/s`, `{packet}`).
    pub fn new(name: &str, value: f64, unit: &str) -> Sample {
        Sample {
            name: name.into(),
            value,
            unit: unit.into(),
            labels: Vec::new(),
        }
    }

    /// Add a label.
    pub fn label(&mut self, key: &str, value: impl Into<String>) -> &mut Sample {
        self.labels.push((key.into(), value.into()));
        self
    }

    /// The value of label `key`, if set.
    pub fn label_value(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The samples of one run, optionally all carrying the same labels (e.g. `url`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    common: Vec<(String, String)>,
    samples: Vec<Sample>,
}

impl Samples {
    pub fn new() -> Samples {
        Samples::default()
    }

    /// Every sample added from now on carries label `key` = `value` first.
    pub fn with_label(mut self, key: &str, value: impl Into<String>) -> Samples {
        self.common.push((key.into(), value.into()));
        self
    }

    /// Add a sample (with the common labels); chain `.label(k, v)` for more.
    pub fn add(&mut self, name: &str, value: f64, unit: &str) -> &mut Sample {
        let mut sample = Sample::new(name, value, unit);
        sample.labels.clone_from(&self.common);
        self.samples.push(sample);
        let last = self.samples.len() - 1;
        &mut self.samples[last]
    }

    /// The first sample named `name` whose labels include all of `labels` (for tests).
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label_value(k) == Some(*v)))
    }

    pub fn into_vec(self) -> Vec<Sample> {
        self.samples
    }
}

impl Deref for Samples {
    type Target = [Sample];

    fn deref(&self) -> &[Sample] {
        &self.samples
    }
}

impl Extend<Sample> for Samples {
    fn extend<I: IntoIterator<Item = Sample>>(&mut self, iter: I) {
        self.samples.extend(iter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_labels_come_first_and_find_matches_labels() {
        let mut out = Samples::new().with_label("url", "http://x/");
        out.add("sonde.http.check.up", 1.0, "1");
        out.add("sonde.http.check.duration", 0.5, "s")
            .label("phase", "total");
        assert_eq!(out.len(), 2);
        let d = out
            .find("sonde.http.check.duration", &[("phase", "total")])
            .expect("duration");
        assert_eq!(
            d.labels,
            [
                ("url".to_string(), "http://x/".to_string()),
                ("phase".to_string(), "total".to_string())
            ]
        );
        assert!(out
            .find("sonde.http.check.duration", &[("phase", "dns")])
            .is_none());
        assert_eq!(out.into_vec()[0].unit, "1");
    }
}
