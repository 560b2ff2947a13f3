//! A well-formed probe for the wrong contract version (`sonde:probe@9.0.0`).

wit_bindgen::generate!({ world: "probe", path: "wit" });

struct WrongVersion;

impl Guest for WrongVersion {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "wrong-version".into(),
            version: "9.0.0".into(),
            description: "Built against sonde:probe@9.0.0; a 0.1 host must refuse it.".into(),
            default_interval_ms: 1_000,
            params: Vec::new(),
        }
    }

    fn run(_params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        // Uses an import so the component names the interface version it was built for.
        let total = sonde::probe::host_metrics::memory().total_bytes;
        sonde::probe::log::log(sonde::probe::log::Level::Info, "wrong-version ran");
        Ok(vec![Sample {
            name: "test.wrong_version".into(),
            value: total as f64,
            unit: "By".into(),
            labels: Vec::new(),
        }])
    }
}

export!(WrongVersion);
