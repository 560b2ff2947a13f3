//! `host validate`: exit 0 on a good configuration, 78 with one line per problem (file,
//! line, job) otherwise; `--connect` completes a TLS handshake with the broker.

mod common;

use std::path::Path;
use std::process::Output;

use sonde_tests::{free_port, Env};

fn validate(cache: &Path, args: &[&str]) -> Output {
    common::host_command(cache)
        .arg("validate")
        .args(args)
        .output()
        .expect("run host validate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_good_config_passes_and_names_its_jobs() {
    let dir = common::scratch();
    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        format!(
            "probe_dirs = [\"{}\"]\n[[job]]\nprobe = \"cpu\"\n[[job]]\nname = \"home\"\nprobe = \"http-check\"\n\
             params = {{ url = \"http://127.0.0.1:1/\", regex = \"x\" }}\nallow_http = [\"http://127.0.0.1:1\"]\n",
            common::repo_root().join("probes").display()
        ),
    )
    .unwrap();
    let out = validate(
        &dir.path().join("cache"),
        &["--config", &config.display().to_string()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("OK: 2 job(s): cpu, home"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn every_problem_is_one_line_naming_file_line_and_job_and_exit_is_78() {
    let dir = common::scratch();
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"not a component").unwrap();
    let config = dir.path().join("host.toml");
    let probes = common::repo_root().join("probes");
    std::fs::write(
        &config,
        format!(
            "probe_dirs = [\"{probes}\"]\n\
             [[job]]\nprobe = \"cpu\"\nparams = {{ bogus = \"1\" }}\n\
             [[job]]\nname = \"shop\"\nprobe = \"http-check\"\nparams = {{ regex = \"x\" }}\n\
             [[job]]\nname = \"bad\"\nprobe = \"{broken}\"\n\
             [kafka]\nbrokers = \"127.0.0.1:1\"\nca = \"{missing}\"\n",
            probes = probes.display(),
            broken = broken.display(),
            missing = dir.path().join("no-such-ca.pem").display()
        ),
    )
    .unwrap();
    let cfg = config.display().to_string();
    let out = validate(&dir.path().join("cache"), &["--config", &cfg]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&cfg)).collect();
    let has = |at: &str, words: &[&str]| {
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{cfg}:{at}")) && words.iter().all(|w| l.contains(w)))
    };
    assert!(
        has("2:", &["job \"cpu\"", "unknown param `bogus`"]),
        "{stderr}"
    );
    assert!(has("5:", &["job \"shop\"", "url"]), "{stderr}");
    assert!(has("9:", &["job \"bad\"", "broken.wasm"]), "{stderr}");
    assert!(has("12:", &["[kafka]", "no-such-ca.pem"]), "{stderr}");
    assert_eq!(lines.len(), 4, "one line per problem:\n{stderr}");
    assert!(out.stdout.is_empty(), "no summary on failure");
}

#[test]
fn a_syntax_error_names_the_line() {
    let dir = common::scratch();
    let config = dir.path().join("host.toml");
    std::fs::write(&config, "[[job]]\nprobe = \"cpu\"\nintervall_ms = 5\n").unwrap();
    let cfg = config.display().to_string();
    let out = validate(&dir.path().join("cache"), &["--config", &cfg]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.starts_with(&format!("{cfg}:3:")) && stderr.contains("intervall_ms"),
        "{stderr}"
    );
}

#[test]
fn connect_completes_a_tls_handshake_or_says_why_not() {
    let env = Env::load();
    let dir = common::scratch();
    let cache = dir.path().join("cache");
    let cpu = common::probe("cpu").display().to_string();
    let certs = env.host_cert_dir.display().to_string();
    let ok = validate(
        &cache,
        &[
            "--probes",
            &cpu,
            "--connect",
            "--kafka-brokers",
            &env.kafka_brokers,
            "--cert-dir",
            &certs,
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("answered over TLS"),
        "{}",
        text(&ok.stdout)
    );

    // A certificate the broker's CA did not sign: the handshake fails, so does validate.
    let wrong = env.wrong_cert_dir().display().to_string();
    let stranger = validate(
        &cache,
        &[
            "--probes",
            &cpu,
            "--connect",
            "--kafka-brokers",
            &env.kafka_brokers,
            "--cert-dir",
            &wrong,
        ],
    );
    let stderr = text(&stranger.stderr);
    assert_eq!(stranger.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("no TLS session"), "{stderr}");

    let closed = format!("127.0.0.1:{}", free_port());
    let refused = validate(
        &cache,
        &[
            "--probes",
            &cpu,
            "--connect",
            "--kafka-brokers",
            &closed,
            "--cert-dir",
            &certs,
        ],
    );
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains(&format!("Kafka {closed}: no TLS session")),
        "{stderr}"
    );
}

#[test]
fn version_is_printed() {
    let out = common::host_command(Path::new("/nonexistent"))
        .arg("--version")
        .output()
        .expect("host --version");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("host {}", env!("CARGO_PKG_VERSION"))
    );
}
