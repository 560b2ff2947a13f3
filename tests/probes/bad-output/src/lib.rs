//! Test-only hostile probe: returns what the message limits refuse, one way per `mode`:
//! `non-finite` (NaN and infinities beside two good samples), `duplicate-label`,
//! `nul-name`, `oversize-label`, `control-error` (a probe-error with NUL and a terminal
//! escape), `huge-error` (a 20,000-byte probe-error) and `ok`.

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::types::ParamInfo;

struct BadOutput;

fn sample(name: &str, value: f64, labels: &[(&str, &str)]) -> Sample {
    Sample {
        name: name.into(),
        value,
        unit: "1".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

impl Guest for BadOutput {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "bad-output".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: output over the message limits.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "mode".into(),
                description: "non-finite, duplicate-label, nul-name, oversize-label, \
                              control-error, huge-error or ok"
                    .into(),
                required: false,
                default: Some("ok".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let mode = params
            .iter()
            .find(|(k, _)| k == "mode")
            .map_or("ok", |(_, v)| v.as_str());
        match mode {
            "non-finite" => Ok(vec![
                sample("bad.first", 1.0, &[]),
                sample("bad.nan", f64::NAN, &[]),
                sample("bad.inf", f64::INFINITY, &[]),
                sample("bad.neg_inf", f64::NEG_INFINITY, &[]),
                sample("bad.last", 2.0, &[]),
            ]),
            "duplicate-label" => Ok(vec![sample("bad.dup", 1.0, &[("k", "1"), ("k", "2")])]),
            "nul-name" => Ok(vec![sample("bad\0name", 1.0, &[])]),
            "oversize-label" => Ok(vec![sample("bad.big", 1.0, &[("url", &"u".repeat(3000))])]),
            "control-error" => Err(ProbeError::Failed(
                "nul\0 and escape \u{1b}[2J in an error".into(),
            )),
            "huge-error" => Err(ProbeError::Failed("x".repeat(20_000))),
            "ok" => Ok(vec![sample("bad.ok", 1.0, &[])]),
            other => Err(ProbeError::BadConfig(format!("unknown mode {other:?}"))),
        }
    }
}

export!(BadOutput);
