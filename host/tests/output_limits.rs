//! The host never publishes what the recorder would refuse: a real component returning
//! output over the message limits gets an error run saying why (`output invalid: ...`),
//! non-finite values are dropped and counted, error texts are sanitised, and names that
//! would break every message stop the job or the host before any run. Every line printed
//! passes the recorder's own `decode` (`common::decode_lines`).

mod common;

use sonde_message::{RunMessage, RunStatus};

const MODES: [&str; 7] = [
    "ok",
    "non-finite",
    "duplicate-label",
    "nul-name",
    "oversize-label",
    "control-error",
    "huge-error",
];

fn run_of<'a>(messages: &'a [RunMessage], job: &str) -> &'a RunMessage {
    messages
        .iter()
        .find(|m| m.job == job)
        .unwrap_or_else(|| panic!("no run of job {job} in {messages:?}"))
}

#[test]
fn output_over_the_message_limits_is_never_published() {
    let dir = common::scratch();
    let probe = common::test_probe("bad-output");
    let jobs: String = MODES
        .iter()
        .map(|mode| {
            format!(
                "[[job]]\nname = \"{mode}\"\nprobe = \"{}\"\nparams = {{ mode = \"{mode}\" }}\n\n",
                probe.display()
            )
        })
        .collect();
    let config = dir.path().join("host.toml");
    std::fs::write(&config, jobs).expect("write host.toml");
    let out = common::run_host(
        dir.path(),
        &["--once", "--config", &config.display().to_string()],
    );
    assert_eq!(out.messages.len(), MODES.len(), "{}", out.stderr);

    let ok = run_of(&out.messages, "ok");
    assert_eq!((ok.status, ok.samples.len()), (RunStatus::Ok, 1));

    let non_finite = run_of(&out.messages, "non-finite");
    assert_eq!(non_finite.status, RunStatus::Ok, "{non_finite:?}");
    let names: Vec<&str> = non_finite.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["bad.first", "bad.last"]);
    assert_eq!(non_finite.dropped_non_finite, 3);

    for (job, want) in [
        (
            "duplicate-label",
            "output invalid: samples[0].labels: key \"k\" given twice",
        ),
        (
            "nul-name",
            "output invalid: samples[0].name: control character U+0000 at byte 3",
        ),
        (
            "oversize-label",
            "output invalid: samples[0].labels[\"url\"]: 3000 bytes, more than the 2048 allowed",
        ),
        (
            "control-error",
            "failed: nul\\u{0} and escape \\u{1b}[2J in an error",
        ),
    ] {
        let run = run_of(&out.messages, job);
        assert_eq!(run.status, RunStatus::Error, "{job}");
        assert_eq!(run.error.as_deref(), Some(want), "{job}");
        assert!(run.samples.is_empty(), "{job}");
    }
    let huge = run_of(&out.messages, "huge-error");
    let text = huge.error.as_deref().unwrap_or_default();
    assert_eq!(text.len(), sonde_message::limits::MAX_ERROR_BYTES);
    assert!(
        text.starts_with("failed: xxx") && text.ends_with('…'),
        "{text}"
    );
}

#[test]
fn names_that_would_break_every_message_are_refused_up_front() {
    let dir = common::scratch();
    let memory = common::probe("memory").display().to_string();
    let long_host = "h".repeat(sonde_message::limits::MAX_HOST_BYTES + 1);
    let out = common::run_host(
        dir.path(),
        &["--once", "--hostname", &long_host, "--probes", &memory],
    );
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("host name: 256 bytes, more than the 255 allowed; set --hostname"),
        "{}",
        out.stderr
    );
    assert!(out.messages.is_empty());

    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        format!(
            "[[job]]\nname = \"bell\\u0007job\"\nprobe = \"{memory}\"\n\n[[job]]\nname = \"fine\"\nprobe = \"{memory}\"\n"
        ),
    )
    .expect("write host.toml");
    let out = common::run_host(
        dir.path(),
        &["--once", "--config", &config.display().to_string()],
    );
    assert!(!out.success, "a refused job makes --once fail");
    assert!(
        out.stderr
            .contains("job name: control character U+0007 at byte 4"),
        "{}",
        out.stderr
    );
    assert_eq!(out.messages.len(), 1, "the other job runs");
    assert_eq!(out.messages[0].job, "fine");
}
