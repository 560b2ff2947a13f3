//! Where the host keeps state of its own (the spool, fleet bundles) when not told: a place
//! that fits a service, never the working directory by accident.

use std::path::PathBuf;

/// `leaf` under the first that applies: `$STATE_DIRECTORY` (systemd's `StateDirectory=`;
/// the first when it lists several), `/var/lib/sonde` for root, `$XDG_STATE_HOME/sonde`,
/// `$HOME/.local/state/sonde`. Relative values are ignored, as the XDG specification asks.
/// `None` when none applies.
pub fn default_dir(
    var: impl Fn(&str) -> Option<String>,
    is_root: bool,
    leaf: &str,
) -> Option<PathBuf> {
    let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    let state = var("STATE_DIRECTORY")
        .and_then(|v| v.split(':').next().map(PathBuf::from))
        .filter(|p| p.is_absolute());
    if let Some(dir) = state {
        return Some(dir.join(leaf));
    }
    if is_root {
        return Some(PathBuf::from("/var/lib/sonde").join(leaf));
    }
    if let Some(dir) = absolute("XDG_STATE_HOME") {
        return Some(dir.join("sonde").join(leaf));
    }
    absolute("HOME").map(|home| home.join(".local/state/sonde").join(leaf))
}
