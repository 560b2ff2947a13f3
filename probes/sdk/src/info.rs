//! What `describe` returns, built in a few calls.

use crate::{ParamInfo, ProbeInfo};

/// The default `default-interval-ms` of a probe: every 10 s.
pub const DEFAULT_INTERVAL_MS: u32 = 10_000;

/// A probe's name, description, interval and params; [`crate::export!`] adds the
/// crate's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    name: String,
    description: String,
    default_interval_ms: u32,
    params: Vec<ParamInfo>,
}

impl Info {
    /// A probe that runs every [`DEFAULT_INTERVAL_MS`] and takes no params.
    pub fn new(name: &str, description: &str) -> Info {
        Info {
            name: name.into(),
            description: description.into(),
            default_interval_ms: DEFAULT_INTERVAL_MS,
            params: Vec::new(),
        }
    }

    /// How often a job runs when its config does not say.
    pub fn interval_ms(mut self, default_interval_ms: u32) -> Info {
        self.default_interval_ms = default_interval_ms;
        self
    }

    /// An optional param without a default.
    pub fn param(self, name: &str, description: &str) -> Info {
        self.declare(name, description, false, None)
    }

    /// An optional param; `default` is what [`crate::Params`] returns when it is unset.
    pub fn param_default(self, name: &str, default: &str, description: &str) -> Info {
        self.declare(name, description, false, Some(default))
    }

    /// A param every job must set; a run without it fails as `bad-config`.
    pub fn required(self, name: &str, description: &str) -> Info {
        self.declare(name, description, true, None)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    fn declare(
        mut self,
        name: &str,
        description: &str,
        required: bool,
        default: Option<&str>,
    ) -> Info {
        self.params.push(ParamInfo {
            name: name.into(),
            description: description.into(),
            required,
            default: default.map(String::from),
        });
        self
    }

    /// The WIT record, with `version`.
    pub fn into_probe_info(self, version: &str) -> ProbeInfo {
        ProbeInfo {
            name: self.name,
            version: version.into(),
            description: self.description,
            default_interval_ms: self.default_interval_ms,
            params: self.params,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_wit_record() {
        let info = Info::new("x", "An x.")
            .interval_ms(500)
            .required("url", "Where.")
            .param("regex", "What.")
            .param_default("method", "GET", "How.")
            .into_probe_info("1.2.3");
        assert_eq!((info.name.as_str(), info.version.as_str()), ("x", "1.2.3"));
        assert_eq!(info.default_interval_ms, 500);
        let p: Vec<(&str, bool, Option<&str>)> = info
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.required, p.default.as_deref()))
            .collect();
        assert_eq!(
            p,
            [
                ("url", true, None),
                ("regex", false, None),
                ("method", false, Some("GET"))
            ]
        );
    }
}
