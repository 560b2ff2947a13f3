//! The Debian package (`just package`; `just test` builds it from the debug build with
//! `just package dev`): unpacked with `dpkg-deb -x`, it holds both binaries, the bundled
//! probes, the units and the example configs as conffiles, and what it installs runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use sonde_tests::{program, workspace_root};

/// The newest `target/debian/sonde_*.deb`.
fn package() -> PathBuf {
    let dir = workspace_root().join("target/debian");
    let newest = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("sonde_") && n.ends_with(".deb"))
            })
            .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
    });
    newest.unwrap_or_else(|| {
        panic!(
            "no sonde_*.deb in {}: run `just package` (or `just package dev`)",
            dir.display()
        )
    })
}

/// `dpkg-deb OPTION DEB [DIR]`: its stdout.
fn dpkg_deb(option: &str, deb: &Path, dir: Option<&Path>) -> String {
    let out = Command::new(program("dpkg-deb", "dpkg"))
        .arg(option)
        .arg(deb)
        .args(dir)
        .output()
        .expect("run dpkg-deb");
    assert!(
        out.status.success(),
        "dpkg-deb {option}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_package_installs_what_an_operator_needs_and_it_runs() {
    let deb = package();
    let root = tempfile::tempdir().expect("scratch dir");
    let unpacked = root.path().join("root");
    dpkg_deb("-x", &deb, Some(&unpacked));

    let listing = dpkg_deb("-c", &deb, None);
    for file in [
        "./usr/bin/sonde-host",
        "./usr/bin/sonde-recorder",
        "./usr/lib/sonde/probes/cpu.wasm",
        "./usr/lib/sonde/probes/memory.wasm",
        "./usr/lib/sonde/probes/bandwidth.wasm",
        "./usr/lib/sonde/probes/load.wasm",
        "./usr/lib/sonde/probes/disk.wasm",
        "./usr/lib/sonde/probes/filesystem.wasm",
        "./usr/lib/sonde/probes/http-check.wasm",
        "./usr/lib/sonde/probes/json-health.wasm",
        "./usr/lib/sonde/probes/http-slo.wasm",
        "./lib/systemd/system/sonde-host.service",
        "./lib/systemd/system/sonde-recorder.service",
        "./etc/sonde/host.toml",
        "./etc/sonde/recorder.ini",
        "./usr/share/sonde/prometheus/sonde-alerts.yml",
        "./usr/share/doc/sonde/operations.md",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(file)),
            "{} lacks {file}:\n{listing}",
            deb.display()
        );
    }
    let control = root.path().join("control");
    dpkg_deb("-e", &deb, Some(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        ["/etc/sonde/host.toml", "/etc/sonde/recorder.ini"]
    );
    assert!(
        control.join("postinst").is_file(),
        "no postinst (creates the sonde user)"
    );

    // Each unit starts a binary the package ships.
    for unit in ["sonde-host.service", "sonde-recorder.service"] {
        let text = std::fs::read_to_string(unpacked.join("lib/systemd/system").join(unit)).unwrap();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .and_then(|l| l.split_whitespace().next())
            .expect("ExecStart");
        assert!(
            unpacked.join(exec.trim_start_matches('/')).is_file(),
            "{unit}: {exec} not in the package"
        );
    }

    // The packaged host runs a packaged probe once.
    let host = unpacked.join("usr/bin/sonde-host");
    let probe = unpacked.join("usr/lib/sonde/probes/cpu.wasm");
    let run = Command::new(&host)
        .arg("--once")
        .arg("--probes")
        .arg(&probe)
        .arg("--cache-dir")
        .arg(root.path().join("cache"))
        .env_remove("KAFKA_SERVER")
        .output()
        .expect("run the packaged host");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let msg: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not a JSON run ({e}): {stdout}"));
    assert_eq!(
        (msg["probe"].as_str(), msg["status"].as_str()),
        (Some("cpu"), Some("ok")),
        "{msg}"
    );

    // The example host.toml validates once its probe directory is where the package put it.
    let example = std::fs::read_to_string(unpacked.join("etc/sonde/host.toml")).unwrap();
    let local = root.path().join("host.toml");
    std::fs::write(
        &local,
        example.replace(
            "/usr/lib/sonde/probes",
            &unpacked.join("usr/lib/sonde/probes").display().to_string(),
        ),
    )
    .unwrap();
    let valid = Command::new(&host)
        .arg("--cache-dir")
        .arg(root.path().join("cache"))
        .args(["validate", "--config"])
        .arg(&local)
        .output()
        .expect("validate the example");
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );

    let version = Command::new(unpacked.join("usr/bin/sonde-recorder"))
        .arg("--version")
        .output()
        .expect("run the packaged recorder");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("recorder {}", env!("CARGO_PKG_VERSION"))
    );
}
