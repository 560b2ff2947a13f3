//! The native unit tests of the probes not written in Rust (Rust probes' own tests run with
//! `cargo test`): `python3 -m unittest` in every Python probe (a directory with an app.py)
//! and `node --test` in every JavaScript probe (a package.json) under probes/ and
//! tests/probes/. A missing interpreter fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn probe_dirs(marker: &str) -> Vec<PathBuf> {
    let root = sonde_tests::workspace_root();
    let mut dirs: Vec<PathBuf> = ["probes", "tests/probes"]
        .iter()
        .flat_map(|folder| std::fs::read_dir(root.join(folder)).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join(marker).is_file())
        .collect();
    dirs.sort();
    dirs
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        // No __pycache__ in the probe directory: componentize-py would bundle it.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} in {}: {e}", dir.display()));
    assert!(
        out.status.success(),
        "{program} {} in {} failed:\n{}{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_probes_pass_their_unit_tests() {
    let dirs = probe_dirs("app.py");
    assert!(!dirs.is_empty(), "no Python probe found");
    for dir in dirs {
        run(&dir, "python3", &["-m", "unittest", "-q"]);
    }
}

#[test]
fn javascript_probes_pass_their_unit_tests() {
    let dirs = probe_dirs("package.json");
    assert!(!dirs.is_empty(), "no JavaScript probe found");
    for dir in dirs {
        run(&dir, "node", &["--test"]);
    }
}
