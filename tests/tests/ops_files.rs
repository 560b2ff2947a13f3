//! The files an operator installs: the systemd units pass `systemd-analyze verify`, the
//! alert rules pass `promtool check rules` and their unit tests (`promtool test rules`).

mod pipeline;

use std::path::Path;
use std::process::{Command, Output};

use sonde_tests::{program, workspace_root};

fn check(what: &str, out: std::io::Result<Output>) -> String {
    let out = out.unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{all}");
    all
}

#[test]
fn systemd_units_verify_with_the_built_binaries() {
    let dir = tempfile::tempdir().expect("scratch dir");
    let units = workspace_root().join("packaging/systemd");
    for (unit, binary, packaged) in [
        ("sonde-host.service", "host", "/usr/bin/sonde-host"),
        (
            "sonde-recorder.service",
            "recorder",
            "/usr/bin/sonde-recorder",
        ),
    ] {
        let text = std::fs::read_to_string(units.join(unit)).expect("read unit");
        for key in [
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "NoNewPrivileges=yes",
            "Restart=on-failure",
            "ConfigurationDirectory=sonde",
            "User=sonde",
        ] {
            assert!(text.lines().any(|l| l == key), "{unit} lacks {key}");
        }
        assert!(
            text.contains(&format!("ExecStart={packaged} --config /etc/sonde/")),
            "{unit}"
        );
        // The unit as installed, pointing at this build's binary (verify checks it exists
        // and is executable; the package test checks the installed path).
        let built = pipeline::binary(binary);
        let local = dir.path().join(unit);
        std::fs::write(&local, text.replace(packaged, &built.display().to_string()))
            .expect("write unit");
        let out = check(
            &format!("systemd-analyze verify {unit}"),
            Command::new(program("systemd-analyze", "systemd"))
                .arg("verify")
                .arg(&local)
                .output(),
        );
        assert!(
            !out.contains(unit),
            "systemd-analyze has remarks on {unit}:\n{out}"
        );
    }
    let host = std::fs::read_to_string(units.join("sonde-host.service")).unwrap();
    for key in [
        "StateDirectory=sonde",
        "CacheDirectory=sonde",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            host.lines().any(|l| l == key),
            "sonde-host.service lacks {key}"
        );
    }
}

#[test]
fn alert_rules_check_and_their_tests_pass() {
    let dir = workspace_root().join("packaging/prometheus");
    let promtool = program("promtool", "prometheus");
    let out = check(
        "promtool check rules",
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(dir.join("sonde-alerts.yml"))
            .output(),
    );
    assert!(out.contains("SUCCESS: 8 rules found"), "{out}");
    check(
        "promtool test rules",
        Command::new(&promtool)
            .args(["test", "rules", "sonde-alerts.test.yml"])
            .current_dir(Path::new(&dir))
            .output(),
    );
}
