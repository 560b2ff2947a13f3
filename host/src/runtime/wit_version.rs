//! Which version of the `sonde:probe` contract a component was built against, and
//! whether this host implements it.
//!
//! The rule (docs/probe-contract.md): a new minor version only adds functions (and the
//! types they use); nothing released changes. For 0.x every minor version is a contract
//! of its own, so the host links each one it lists ([`ContractVersion`]) and a
//! component must match one of them in major and minor. From 1.0 on, a component built
//! against 1.m runs on a host implementing 1.n for any n ≥ m. A patch version changes
//! documentation only and never matters.

use wasmtime::component::Component;
use wasmtime::Engine;

const PACKAGE: &str = "sonde:probe/";

/// A contract version this host implements, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContractVersion {
    V0_1,
    V0_2,
}

impl ContractVersion {
    pub const ALL: [ContractVersion; 2] = [ContractVersion::V0_1, ContractVersion::V0_2];
    /// What `wit/probe.wit` defines and new probes are built against.
    pub const NEWEST: ContractVersion = ContractVersion::V0_2;

    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
        }
    }
}

/// `sonde:probe@0.1.0 and sonde:probe@0.2.0`: what the host implements, for messages.
pub fn host_versions() -> String {
    let names: Vec<String> = ContractVersion::ALL
        .iter()
        .map(|v| format!("sonde:probe@{}", v.as_str()))
        .collect();
    names.join(" and ")
}

/// The `sonde:probe` version the component imports (`None` when it imports nothing of
/// the package), or a message when it imports two different ones.
pub fn imported_version(engine: &Engine, component: &Component) -> Result<Option<String>, String> {
    let mut found: Option<(String, String)> = None;
    for (name, _) in component.component_type().imports(engine) {
        let Some((_, version)) = name
            .strip_prefix(PACKAGE)
            .and_then(|rest| rest.split_once('@'))
        else {
            continue;
        };
        match &found {
            Some((first, first_import)) if first != version => {
                return Err(format!(
                    "imports two versions of the contract, sonde:probe@{first} (`{first_import}`) \
                     and sonde:probe@{version} (`{name}`); build it against one"
                ))
            }
            Some(_) => {}
            None => found = Some((version.to_string(), name.to_string())),
        }
    }
    Ok(found.map(|(version, _)| version))
}

/// The contract version the component links against, or why this host cannot run it.
/// A component that imports nothing of the package gets the newest.
pub fn check(engine: &Engine, component: &Component) -> Result<ContractVersion, String> {
    let Some(theirs) = imported_version(engine, component)? else {
        return Ok(ContractVersion::NEWEST);
    };
    serving(&theirs).ok_or_else(|| {
        format!(
            "built against sonde:probe@{theirs}, but this host implements {}; rebuild the \
             probe against wit/probe.wit (sonde:probe@{})",
            host_versions(),
            ContractVersion::NEWEST.as_str()
        )
    })
}

/// The implemented version that serves a component built against `theirs`.
pub fn serving(theirs: &str) -> Option<ContractVersion> {
    ContractVersion::ALL
        .into_iter()
        .rev()
        .find(|ours| compatible(ours.as_str(), theirs))
}

fn parse(v: &str) -> Option<(u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether a host implementing `ours` runs a component built against `theirs`.
pub fn compatible(ours: &str, theirs: &str) -> bool {
    match (parse(ours), parse(theirs)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, ours_minor)), Some((b, their_minor))) => a == b && their_minor <= ours_minor,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_rules() {
        assert!(compatible("0.1.0", "0.1.3"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(!compatible("0.1.0", "1.1.0"));
        assert!(compatible("1.2.0", "1.0.0"));
        assert!(!compatible("1.2.0", "1.3.0"), "1.3 may call what 1.2 lacks");
        assert!(!compatible("1.2.0", "2.0.0"));
        assert!(!compatible("0.1.0", "9.0.0"));
        assert!(!compatible("0.1.0", "garbage"));
    }

    #[test]
    fn each_listed_minor_is_served_by_itself() {
        assert_eq!(serving("0.1.0"), Some(ContractVersion::V0_1));
        assert_eq!(serving("0.1.7"), Some(ContractVersion::V0_1));
        assert_eq!(serving("0.2.0"), Some(ContractVersion::V0_2));
        assert_eq!(serving("0.3.0"), None);
        assert_eq!(serving("0.0.9"), None);
        assert_eq!(host_versions(), "sonde:probe@0.1.0 and sonde:probe@0.2.0");
    }
}
