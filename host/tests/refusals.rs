//! What the host refuses, and how it says so: an incompatible WIT version, missing
//! required params, a bad host.toml.

mod common;

#[test]
fn incompatible_wit_version_is_refused_naming_both_versions() {
    let dir = common::scratch();
    let wrong = common::test_probe("wrong-version");
    let out = common::run_host(
        dir.path(),
        &["probes", "describe", &wrong.display().to_string()],
    );
    assert!(!out.success);
    assert!(out.stderr.contains("sonde:probe@9.0.0"), "{}", out.stderr);
    assert!(out.stderr.contains("sonde:probe@0.1.0"), "{}", out.stderr);

    // In a run it is one failed job; the others run.
    let memory = common::probe("memory");
    let out = common::run_host(
        dir.path(),
        &[
            "--once",
            "--probes",
            &wrong.display().to_string(),
            &memory.display().to_string(),
        ],
    );
    assert!(!out.success, "a refused probe makes --once fail");
    assert!(out.stderr.contains("sonde:probe@9.0.0"), "{}", out.stderr);
    assert_eq!(out.messages.len(), 1, "only the memory job runs");
    assert_eq!(out.messages[0].probe, "memory");
    assert!(out.messages[0].error.is_none());
}

#[test]
fn missing_required_param_is_one_clear_line_and_other_jobs_run() {
    let dir = common::scratch();
    let http_check = common::probe("http-check");
    let memory = common::probe("memory");
    let out = common::run_host(
        dir.path(),
        &[
            "--once",
            "--probes",
            &http_check.display().to_string(),
            &memory.display().to_string(),
        ],
    );
    assert!(!out.success);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("required param `url` is missing"))
        .unwrap_or_else(|| panic!("no missing-param error in:\n{}", out.stderr));
    assert!(line.contains("http-check"), "{line}");
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].probe, "memory");
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = common::scratch();
    let config = dir.path().join("host.toml");
    std::fs::write(&config, "[[job]]\nprobe = \"memory\"\nintervall_ms = 5\n").expect("write");
    let out = common::run_host(
        dir.path(),
        &["--once", "--config", &config.display().to_string()],
    );
    assert!(!out.success);
    let want = format!("{}:3:", config.display());
    assert!(
        out.stderr.contains(&want) && out.stderr.contains("intervall_ms"),
        "{}",
        out.stderr
    );
}

#[test]
fn describe_and_list_print_what_probes_declare() {
    let dir = common::scratch();
    let host = |args: &[&str]| common::host_stdout(dir.path(), args);
    let described = host(&[
        "probes",
        "describe",
        &common::probe("http-check").display().to_string(),
    ]);
    assert!(described.contains("name: http-check"), "{described}");
    assert!(described.contains("url (required"), "{described}");
    let listed = host(&[
        "probes",
        "list",
        &common::repo_root().join("probes").display().to_string(),
    ]);
    for name in ["cpu", "memory", "bandwidth", "http-check"] {
        assert!(
            listed.lines().any(|l| l.starts_with(name)),
            "{name} not in:\n{listed}"
        );
    }
}
