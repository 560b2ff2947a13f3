//! A Prometheus registry that belongs to one process and is never installed globally, so
//! tests can run several in one process and nothing counts behind the code's back.

use std::sync::{Arc, Mutex};

use metrics::{Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

type Refresh = Box<dyn Fn() + Send + Sync>;

/// The metrics of one process. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    recorder: Arc<PrometheusRecorder>,
    refresh: Arc<Mutex<Vec<Refresh>>>,
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}

impl Registry {
    /// `histograms`: each histogram's name and bucket upper bounds (base units).
    ///
    /// # Errors
    /// When a bucket list is empty.
    pub fn new(histograms: &[(&'static str, &[f64])]) -> anyhow::Result<Registry> {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in histograms {
            builder = builder
                .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
                .map_err(|e| anyhow::anyhow!("histogram {name}: {e}"))?;
        }
        Ok(Registry {
            recorder: Arc::new(builder.build_recorder()),
            refresh: Arc::default(),
        })
    }

    /// A counter; `name` ends in `_total`. The same name and labels give the same counter.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> metrics::Counter {
        self.recorder
            .describe_counter(KeyName::from(name), None, SharedString::from(help));
        self.recorder
            .register_counter(&key(name, labels), &metadata())
    }

    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> metrics::Gauge {
        self.recorder
            .describe_gauge(KeyName::from(name), None, SharedString::from(help));
        self.recorder
            .register_gauge(&key(name, labels), &metadata())
    }

    /// A histogram; its buckets were given to [`Registry::new`] (else it renders as a summary).
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> metrics::Histogram {
        self.recorder
            .describe_histogram(KeyName::from(name), None, SharedString::from(help));
        self.recorder
            .register_histogram(&key(name, labels), &metadata())
    }

    /// Run `f` before every render: for gauges read from state at scrape time
    /// (spool size, queue depth) rather than updated on every change.
    pub fn on_render(&self, f: impl Fn() + Send + Sync + 'static) {
        self.refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// Everything in the Prometheus text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        for f in self
            .refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            f();
        }
        self.recorder.handle().render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_buckets_under_the_given_names() {
        let r = Registry::new(&[("t_duration_seconds", &[0.1, 1.0])]).unwrap();
        r.counter("t_runs_total", "Runs.", &[("job", "cpu")])
            .increment(2);
        r.histogram("t_duration_seconds", "Run time.", &[])
            .record(0.5);
        let g = r.gauge("t_spool_bytes", "Spool size.", &[]);
        r.on_render(move || g.set(7.0));
        let text = r.render();
        for want in [
            "# HELP t_runs_total Runs.",
            "# TYPE t_runs_total counter",
            "t_runs_total{job=\"cpu\"} 2",
            "# TYPE t_duration_seconds histogram",
            "t_duration_seconds_bucket{le=\"0.1\"} 0",
            "t_duration_seconds_bucket{le=\"1\"} 1",
            "t_duration_seconds_count 1",
            "t_spool_bytes 7",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let r = Registry::new(&[]).unwrap();
        r.counter("t_total", "x", &[("job", "a\"b\\c\nd")])
            .increment(1);
        let text = r.render();
        assert!(text.contains(r#"t_total{job="a\"b\\c\nd"} 1"#), "{text}");
    }
}
