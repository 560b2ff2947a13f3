//! docs/writing-probes.md, Python and JavaScript sections, step by step: the example code is
//! taken from the page, built by tests/stack/build-probes.sh (the script behind
//! `just build-probes`) and run with the `host --probes FILE --once` command the page gives.
//! The probe directories are scratch copies, so the repository's own `probes/` is left alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sonde_message::RunStatus;

fn page() -> String {
    let path = common::repo_root().join("docs/writing-probes.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The text of the `## heading` section.
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let start = page
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/writing-probes.md has no `## {heading}` section"));
    let rest = &page[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// The first fenced block of `lang` in `text`, without the list indentation.
fn code_block(text: &str, lang: &str) -> String {
    let fence = format!("```{lang}\n");
    let start = text
        .find(&fence)
        .unwrap_or_else(|| panic!("no ```{lang} block in:\n{text}"));
    let indent = text[..start].rsplit('\n').next().unwrap_or("").len();
    let body = &text[start + fence.len()..];
    let end = body
        .find("```")
        .unwrap_or_else(|| panic!("unterminated ```{lang} block"));
    body[..end]
        .lines()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Step 2: the build script on one probe directory; returns the component it wrote.
fn build_probe(dir: &Path) -> PathBuf {
    let out = Command::new(common::repo_root().join("tests/stack/build-probes.sh"))
        .arg(dir)
        .output()
        .expect("run tests/stack/build-probes.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "build-probes.sh {} failed:\n{stderr}",
        dir.display()
    );
    let wasm = dir.with_extension("wasm");
    let bytes =
        std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", wasm.display()));
    assert_eq!(
        bytes.get(4..8),
        Some(&[0x0d, 0, 1, 0][..]),
        "{} is a component",
        wasm.display()
    );
    wasm
}

/// Step 3: `host --probes FILE --once`, plus a run with a bad param through a host.toml.
fn run_probe(wasm: &Path, bad_param: (&str, &str)) -> (Vec<sonde_message::Sample>, String) {
    let cache = common::shared_cache();
    let wasm_arg = wasm.display().to_string();
    let once = common::run_host(&cache, &["--probes", &wasm_arg, "--once"]);
    assert!(
        once.success,
        "host --probes {wasm_arg} --once failed:\n{}",
        once.stderr
    );
    assert_eq!(once.messages.len(), 1, "{}", once.stderr);
    let run = &once.messages[0];
    assert_eq!(run.status, RunStatus::Ok, "{run:?}");

    let config = wasm.with_extension("toml");
    let job = common::job_toml("bad", wasm, &[bad_param], &[], "");
    std::fs::write(&config, job).expect("write host.toml");
    let bad = common::run_host(
        &cache,
        &["--config", &config.display().to_string(), "--once"],
    );
    let error = bad
        .messages
        .first()
        .and_then(|m| m.error.clone())
        .unwrap_or_else(|| panic!("no error run:\n{}", bad.stderr));
    (run.samples.clone(), error)
}

/// A scratch `probes/<name>/` under target/ (beside the repository's own node_modules).
fn scratch_probe(name: &str) -> (tempfile::TempDir, PathBuf) {
    let target = common::repo_root().join("target");
    std::fs::create_dir_all(&target).expect("target dir");
    let root = tempfile::tempdir_in(&target).expect("scratch dir");
    let dir = root.path().join("probes").join(name);
    std::fs::create_dir_all(&dir).expect("probe dir");
    (root, dir)
}

#[test]
fn python_section_steps_build_and_run() {
    let page = page();
    let text = section(&page, "Python");
    assert!(
        text.contains("just build-probes")
            && text.contains("--probes probes/memory-headroom.wasm --once")
    );
    let (_root, dir) = scratch_probe("memory-headroom");
    std::fs::write(dir.join("app.py"), code_block(text, "python")).expect("write app.py");

    // The bindings the page points to.
    let bindings = dir.parent().expect("probes dir").join("bindings");
    let out = Command::new(common::repo_root().join(".dev/venv/bin/componentize-py"))
        .current_dir(common::repo_root())
        .args(["-d", "wit", "-w", "probe", "bindings"])
        .arg(&bindings)
        .output()
        .expect("componentize-py is installed in .dev/venv (just prereqs)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bindings.join("wit_world/imports/host_metrics.py").is_file());

    let wasm = build_probe(&dir);
    let (samples, error) = run_probe(&wasm, ("min_ratio", "lots"));
    let value = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in {samples:?}"))
            .value
    };
    let headroom = value("sonde.memory.headroom");
    assert!(headroom > 0.0 && headroom <= 1.0, "{samples:?}");
    assert_eq!(
        value("sonde.memory.headroom.low"),
        f64::from(u8::from(headroom < 0.1))
    );
    assert_eq!(error, "bad config: param min_ratio: 'lots' is not a number");
}

#[test]
fn javascript_section_steps_build_and_run() {
    let page = page();
    let text = section(&page, "JavaScript");
    assert!(
        text.contains("just build-probes")
            && text.contains("--probes probes/net-errors.wasm --once")
    );
    let (_root, dir) = scratch_probe("net-errors");
    let example = common::repo_root().join("probes/http-slo");
    for file in ["package.json", "package-lock.json", ".npmrc"] {
        std::fs::copy(example.join(file), dir.join(file))
            .unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    // The same lock file as http-slo's: its node_modules (installed by `npm ci` in
    // build-probes.sh) serves, so the test does not download the toolchain again.
    let modules = example.join("node_modules");
    assert!(
        modules.is_dir(),
        "{} is missing: run `just build-probes`",
        modules.display()
    );
    std::os::unix::fs::symlink(&modules, dir.join("node_modules")).expect("link node_modules");
    std::fs::write(dir.join("probe.js"), code_block(text, "js")).expect("write probe.js");

    let wasm = build_probe(&dir);
    let (samples, error) = run_probe(&wasm, ("interface", "nope0"));
    let lo: Vec<_> = samples
        .iter()
        .filter(|s| s.labels.get("interface").map(String::as_str) == Some("lo"))
        .collect();
    assert_eq!(lo.len(), 2, "receive and transmit of lo: {samples:?}");
    assert!(lo
        .iter()
        .all(|s| s.name == "system.network.errors" && s.unit == "{error}" && s.value >= 0.0));
    assert_eq!(error, "unavailable: no interface nope0");
}
