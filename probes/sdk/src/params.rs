//! A job's params, checked against what `describe` declares, with typed getters whose
//! errors name the param and the value.

use crate::{Info, ParamInfo, Probe, ProbeError};

/// The params of one run: only declared ones, required ones present.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    declared: Vec<ParamInfo>,
    given: Vec<(String, String)>,
}

impl Params {
    /// Check `given` against `info`: an undeclared param or a missing required one is a
    /// `bad-config` error that names it (and lists what the probe takes).
    pub fn parse(info: &Info, given: Vec<(String, String)>) -> Result<Params, ProbeError> {
        let declared = info.params().to_vec();
        for (name, _) in &given {
            if !declared.iter().any(|p| &p.name == name) {
                let takes: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
                let takes = match takes.is_empty() {
                    true => "none".to_string(),
                    false => takes.join(", "),
                };
                return Err(ProbeError::BadConfig(format!(
                    "unknown param {name:?} (the {} probe takes: {takes})",
                    info.name()
                )));
            }
        }
        for p in declared.iter().filter(|p| p.required) {
            if !given.iter().any(|(name, _)| name == &p.name) {
                return Err(ProbeError::BadConfig(format!(
                    "param {} is required ({})",
                    p.name,
                    p.description.trim_end_matches('.')
                )));
            }
        }
        Ok(Params { declared, given })
    }

    /// The params of probe `P` from string pairs, as a job would pass them (for tests).
    pub fn of<P: Probe>(pairs: &[(&str, &str)]) -> Result<Params, ProbeError> {
        let given = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::parse(&P::describe(), given)
    }

    /// The text of param `name`: the job's value, else the declared default.
    pub fn text(&self, name: &str) -> Result<Option<&str>, ProbeError> {
        let declared = self
            .declared
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                ProbeError::Failed(format!(
                    "the probe reads param {name:?}, which its describe() does not declare"
                ))
            })?;
        let given = self.given.iter().rev().find(|(k, _)| k == name);
        Ok(given
            .map(|(_, v)| v.as_str())
            .or(declared.default.as_deref()))
    }

    /// Param `name` as a `T` (its default when unset; `None` without either).
    pub fn get<T: ParamValue>(&self, name: &str) -> Result<Option<T>, ProbeError> {
        self.get_if(name, |_| true, T::EXPECTED)
    }

    /// Param `name` as a `T` that must be set (or have a default).
    pub fn require<T: ParamValue>(&self, name: &str) -> Result<T, ProbeError> {
        self.require_if(name, |_| true, T::EXPECTED)
    }

    /// [`Params::get_if`] of a param that must be set (or have a default).
    pub fn require_if<T: ParamValue>(
        &self,
        name: &str,
        ok: impl Fn(&T) -> bool,
        expected: &str,
    ) -> Result<T, ProbeError> {
        self.get_if(name, ok, expected)?
            .ok_or_else(|| ProbeError::BadConfig(format!("param {name} is required")))
    }

    /// Param `name` as a `T` for which `ok` holds; else a `bad-config` error saying the
    /// value is not `expected` (e.g. "a positive integer").
    pub fn get_if<T: ParamValue>(
        &self,
        name: &str,
        ok: impl Fn(&T) -> bool,
        expected: &str,
    ) -> Result<Option<T>, ProbeError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        match T::parse_param(text).filter(|v| ok(v)) {
            Some(v) => Ok(Some(v)),
            None => Err(bad_param(name, text, expected)),
        }
    }
}

/// `param NAME: "VALUE" is not EXPECTED`, as a `bad-config` error.
pub fn bad_param(name: &str, value: &str, expected: &str) -> ProbeError {
    ProbeError::BadConfig(format!("param {name}: {value:?} is not {expected}"))
}

/// A type a param's text can be read as.
pub trait ParamValue: Sized {
    /// What the text must be, completing "is not ...": "a boolean (true/false)".
    const EXPECTED: &'static str;

    fn parse_param(text: &str) -> Option<Self>;
}

impl ParamValue for bool {
    const EXPECTED: &'static str = "a boolean (true/false)";

    fn parse_param(text: &str) -> Option<bool> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        }
    }
}

macro_rules! number_param {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        impl ParamValue for $ty {
            const EXPECTED: &'static str = $expected;

            fn parse_param(text: &str) -> Option<$ty> {
                text.trim().parse().ok()
            }
        }
    )*};
}

number_param!(
    u16 => "a whole number (0-65535)",
    u32 => "a whole number (0-4294967295)",
    u64 => "a whole number (0-18446744073709551615)",
    i64 => "a whole number",
);

impl ParamValue for f64 {
    const EXPECTED: &'static str = "a number";

    fn parse_param(text: &str) -> Option<f64> {
        text.trim().parse().ok().filter(|v: &f64| v.is_finite())
    }
}

impl ParamValue for String {
    const EXPECTED: &'static str = "text";

    fn parse_param(text: &str) -> Option<String> {
        Some(text.to_string())
    }
}

/// A comma-separated list of names; blanks around names are dropped, and an empty list
/// is refused (leave the param out instead).
impl ParamValue for Vec<String> {
    const EXPECTED: &'static str = "a comma-separated list of names";

    fn parse_param(text: &str) -> Option<Vec<String>> {
        let names: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (!names.is_empty()).then_some(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        Info::new("demo", "A demo.")
            .required("url", "The address to check.")
            .param_default("timeout_ms", "5000", "Timeout.")
            .param("per_core", "Per core.")
            .param("interface", "Interfaces.")
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<Params, ProbeError> {
        let given = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::parse(&info(), given)
    }

    fn message(e: ProbeError) -> String {
        match e {
            ProbeError::BadConfig(m) => m,
            other => panic!("not bad-config: {other:?}"),
        }
    }

    #[test]
    fn unknown_and_missing_params_are_named() {
        let e = message(parse(&[("url", "x"), ("colour", "red")]).unwrap_err());
        assert_eq!(
            e,
            "unknown param \"colour\" (the demo probe takes: url, timeout_ms, per_core, interface)"
        );
        let e = message(parse(&[]).unwrap_err());
        assert_eq!(e, "param url is required (The address to check)");
        let none = Params::parse(&Info::new("bare", "."), vec![("a".into(), "b".into())]);
        assert!(message(none.unwrap_err()).ends_with("(the bare probe takes: none)"));
    }

    #[test]
    fn typed_getters_use_defaults_and_name_bad_values() {
        let p = parse(&[("url", " http://x/ "), ("per_core", "Off")]).expect("params");
        assert_eq!(p.get::<u32>("timeout_ms"), Ok(Some(5000)));
        assert_eq!(p.get::<bool>("per_core"), Ok(Some(false)));
        assert_eq!(p.get::<Vec<String>>("interface"), Ok(None));
        assert_eq!(p.require::<String>("url"), Ok(" http://x/ ".to_string()));
        let e = p.require::<Vec<String>>("interface").unwrap_err();
        assert_eq!(message(e), "param interface is required");

        let p = parse(&[("url", "u"), ("timeout_ms", "0"), ("per_core", "maybe")]).expect("p");
        let e = p.get_if::<u32>("timeout_ms", |t| *t > 0, "a positive integer");
        assert_eq!(
            message(e.unwrap_err()),
            "param timeout_ms: \"0\" is not a positive integer"
        );
        let e = p.get::<bool>("per_core").unwrap_err();
        assert_eq!(
            message(e),
            "param per_core: \"maybe\" is not a boolean (true/false)"
        );
    }

    #[test]
    fn values_of_each_type() {
        assert_eq!(u16::parse_param("70000"), None);
        assert_eq!(u64::parse_param(" 42 "), Some(42));
        assert_eq!(i64::parse_param("-5"), Some(-5));
        assert_eq!(f64::parse_param("1e3"), Some(1000.0));
        assert_eq!(f64::parse_param("inf"), None);
        assert_eq!(f64::parse_param("NaN"), None);
        assert_eq!(
            Vec::<String>::parse_param(" eth0, ,lo "),
            Some(vec!["eth0".to_string(), "lo".to_string()])
        );
        assert_eq!(Vec::<String>::parse_param(" , "), None);
        assert_eq!(bool::parse_param("YES"), Some(true));
    }

    #[test]
    fn reading_an_undeclared_param_is_a_probe_bug_not_bad_config() {
        let p = parse(&[("url", "u")]).expect("params");
        assert!(matches!(
            p.get::<u32>("timeout"),
            Err(ProbeError::Failed(_))
        ));
    }
}
