//! Where the spool lives when no `--spool-dir` is given: a state directory that fits a
//! service, never the working directory by accident.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{legacy, segment, CURSOR_FILE};

/// The spool directory the previous release used by default, relative to the working directory.
pub const OLD_DEFAULT_DIR: &str = ".sonde-spool";

/// The default spool directory, first that applies: `$STATE_DIRECTORY/spool` (set by
/// systemd's `StateDirectory=`), `/var/lib/sonde/spool` for root,
/// `$XDG_STATE_HOME/sonde/spool`, `$HOME/.local/state/sonde/spool`. Relative values are
/// ignored, as the XDG specification asks. `None` when none applies.
pub fn default_dir(var: impl Fn(&str) -> Option<String>, is_root: bool) -> Option<PathBuf> {
    crate::state_dir::default_dir(var, is_root, "spool")
}

/// The default for this process.
pub fn default_dir_here() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    default_dir(|name| std::env::var(name).ok(), is_root)
}

/// Undelivered messages in the spool directory `dir`, counted without opening it: no
/// lock taken, nothing changed. Damaged records are not counted.
pub fn undelivered(dir: &Path) -> io::Result<u64> {
    let cursor = fs::read_to_string(dir.join(CURSOR_FILE))
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut count = 0;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(base) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(segment::parse_file_name)
        else {
            continue;
        };
        if legacy::is_format_1(&path)? {
            let records = legacy::count(&path)?;
            count += (base + records).saturating_sub(base.max(cursor));
        } else {
            count += segment::seqs(&path)?
                .into_iter()
                .filter(|&seq| seq >= cursor)
                .count() as u64;
        }
    }
    Ok(count)
}

/// A warning line when the working directory holds a spool of the previous release's
/// default location with undelivered runs, and it is not the spool in use.
pub fn stray_spool_warning(in_use: &Path) -> Option<String> {
    let stray = std::env::current_dir().ok()?.join(OLD_DEFAULT_DIR);
    if !stray.is_dir() || same_dir(&stray, in_use) {
        return None;
    }
    let runs = undelivered(&stray).ok().filter(|&n| n > 0)?;
    Some(format!(
        "{} holds {runs} undelivered runs of an earlier host that are not sent: the spool is now {} \
         (run the host once with --spool-dir {} to deliver them)",
        stray.display(),
        in_use.display(),
        OLD_DEFAULT_DIR
    ))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    /// (environment, running as root, the default it gives).
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, Option<&'a str>);

    #[test]
    fn default_dir_order() {
        let all = [
            ("STATE_DIRECTORY", "/var/lib/sonde:/var/lib/other"),
            ("XDG_STATE_HOME", "/home/u/.state"),
            ("HOME", "/home/u"),
        ];
        let cases: [Case; 7] = [
            (&all, false, Some("/var/lib/sonde/spool")),
            (&all, true, Some("/var/lib/sonde/spool")),
            (&all[1..], true, Some("/var/lib/sonde/spool")),
            (&all[1..], false, Some("/home/u/.state/sonde/spool")),
            (&all[2..], false, Some("/home/u/.local/state/sonde/spool")),
            (
                &[("XDG_STATE_HOME", "relative"), ("STATE_DIRECTORY", "rel")],
                false,
                None,
            ),
            (&[], false, None),
        ];
        for (vars, root, want) in cases {
            assert_eq!(
                default_dir(lookup(vars), root),
                want.map(PathBuf::from),
                "{vars:?} root={root}"
            );
        }
    }
}
