//! Refuse components built against an incompatible version of `sonde:probe`.
//!
//! Compatible means: same major version, and for 0.x the same minor version
//! (semver's rule for pre-1.0 packages). The check reads the component's imports
//! (`sonde:probe/<interface>@X.Y.Z`) before any linking, so the refusal names both versions
//! instead of a linker error.

use wasmtime::component::Component;
use wasmtime::Engine;

/// The version of `wit/probe.wit` this host implements.
pub const HOST_WIT_VERSION: &str = "0.1.0";
const PACKAGE: &str = "sonde:probe/";

/// Every `sonde:probe` version a component imports that this host cannot serve.
pub fn check(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        let Some(rest) = name.strip_prefix(PACKAGE) else {
            continue;
        };
        let Some((_, version)) = rest.split_once('@') else {
            continue;
        };
        if !compatible(HOST_WIT_VERSION, version) {
            return Err(format!(
                "built against sonde:probe@{version}, but this host implements sonde:probe@{HOST_WIT_VERSION} \
                 (import `{name}`); rebuild the probe against wit/probe.wit {HOST_WIT_VERSION}"
            ));
        }
    }
    Ok(())
}

fn parse(v: &str) -> Option<(u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Semver compatibility of `theirs` with `ours`.
pub fn compatible(ours: &str, theirs: &str) -> bool {
    match (parse(ours), parse(theirs)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn semver_rules() {
        assert!(compatible("0.1.0", "0.1.3"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(!compatible("0.1.0", "1.1.0"));
        assert!(compatible("1.2.0", "1.0.0"));
        assert!(!compatible("1.2.0", "2.0.0"));
        assert!(!compatible("0.1.0", "9.0.0"));
        assert!(!compatible("0.1.0", "garbage"));
    }
}
