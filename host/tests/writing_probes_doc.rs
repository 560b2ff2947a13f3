//! docs/writing-probes.md, Rust section, followed step by step in a scratch copy of the
//! repository: `just new-probe` makes a crate whose source is what the page shows, whose
//! native unit tests pass, which builds to a component, runs with `host --once` and is
//! listed with its contract version and language.
//!
//! Cargo builds into this checkout's target directory, so only the new crate and the
//! SDK are compiled; `host` is this build's binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sonde_message::RunStatus;

/// The probe the page creates.
const NAME: &str = "uptime-alert";

/// The fenced blocks of the page's `## Rust` section, in order: (language, text).
fn rust_section_blocks(page: &str) -> Vec<(String, String)> {
    let start = page.find("\n## Rust").expect("a `## Rust` section");
    let section = &page[start + 1..];
    let section = section[3..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + 3]);
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(lang) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let mut text = String::new();
        for line in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            text.push_str(line.get(indent..).unwrap_or(line.trim_start()));
            text.push('\n');
        }
        blocks.push((lang.trim().to_string(), text));
    }
    blocks
}

/// The files of the checkout (tracked and new, not ignored) copied under `to`.
fn copy_checkout(from: &Path, to: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(from)
        .output()
        .expect("git ls-files (git is needed to copy the checkout)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for rel in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("utf-8 path"));
        let source = from.join(rel);
        if !source.is_file() {
            continue; // deleted in the working tree
        }
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&source, &target).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
    }
}

fn target_dir(repo: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), PathBuf::from)
}

/// Run one command line of the page in the copy: its stdout and stderr, or the test
/// fails with them.
fn run_step(copy: &Path, bin: &Path, cache: &Path, target: &Path, line: &str) -> (String, String) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", line])
        .current_dir(copy)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target)
        .env("SONDE_CACHE_DIR", cache)
        .env_remove("KAFKA_SERVER")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{line}`: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "`{line}` failed:\n{stdout}{stderr}");
    (stdout, stderr)
}

#[test]
fn the_rust_steps_of_writing_probes_work_as_written() {
    let repo = common::repo_root().canonicalize().expect("repository root");
    let page = std::fs::read_to_string(repo.join("docs/writing-probes.md")).expect("page");
    let blocks = rust_section_blocks(&page);
    assert!(blocks.len() >= 5, "too few steps: {blocks:?}");

    let scratch = common::scratch();
    let copy = scratch.path().join("sonde");
    copy_checkout(&repo, &copy);
    assert!(
        !copy.join("probes").join(NAME).exists(),
        "probes/{NAME} exists already"
    );
    let bin = scratch.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_host"), bin.join("host")).expect("link host");
    let cache = scratch.path().join("cache");
    let target = target_dir(&repo);

    let crate_dir = copy.join("probes").join(NAME);
    let wasm = copy.join("probes").join(format!("{NAME}.wasm"));
    let mut checked = Vec::new();
    for (lang, text) in &blocks {
        if lang == "rust" {
            // The page shows the generated source; it must be what the template makes.
            let generated = std::fs::read_to_string(crate_dir.join("src/lib.rs"))
                .expect("the page shows the source after `just new-probe` made it");
            assert!(
                generated.starts_with(text.as_str()),
                "the page's source is not what `just new-probe` writes; generated:\n{generated}"
            );
            checked.push("source");
            continue;
        }
        if lang != "sh" {
            continue;
        }
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (stdout, stderr) = run_step(&copy, &bin, &cache, &target, line);
            let out = format!("{stdout}{stderr}");
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                ["just", "new-probe", name] => {
                    assert_eq!(name, NAME);
                    assert!(crate_dir.join("Cargo.toml").is_file(), "{out}");
                    checked.push("new-probe");
                }
                ["cargo", "test", "-p", package] => {
                    assert_eq!(package, format!("sonde-probe-{NAME}"));
                    assert!(
                        out.contains("test result: ok. 2 passed"),
                        "the template's two unit tests ran:\n{out}"
                    );
                    checked.push("unit tests");
                }
                ["just", "build-probes", ..] => {
                    let bytes = std::fs::read(&wasm).expect("the component was written");
                    assert_eq!(
                        bytes[4..8],
                        [0x0d, 0, 1, 0],
                        "a component, not a core module"
                    );
                    checked.push("build");
                }
                ["host", "--probes", _, "--once"] => {
                    let runs = common::decode_lines(&stdout);
                    assert_eq!(runs.len(), 1, "{out}");
                    assert_eq!(runs[0].status, RunStatus::Ok, "{out}");
                    assert_eq!(runs[0].probe, NAME);
                    let names: Vec<&str> =
                        runs[0].samples.iter().map(|s| s.name.as_str()).collect();
                    assert_eq!(names, ["system.uptime", "sonde.host.recently_booted"]);
                    checked.push("run");
                }
                ["host", "probes", "list", ..] => {
                    let row = out
                        .lines()
                        .find(|l| l.starts_with(NAME))
                        .unwrap_or_else(|| panic!("no {NAME} row:\n{out}"));
                    let cells: Vec<&str> = row.split_whitespace().collect();
                    assert_eq!(cells[2..4], ["0.2.0", "Rust"], "{row}");
                    checked.push("list");
                }
                _ => panic!("a step this test does not check: `{line}`"),
            }
        }
    }
    assert_eq!(
        checked,
        ["new-probe", "source", "unit tests", "build", "run", "list"]
    );
}

#[test]
fn new_probe_refuses_bad_names_in_one_line_and_writes_nothing() {
    let repo = common::repo_root();
    let before = std::fs::read_dir(repo.join("probes"))
        .expect("probes/")
        .count();
    for (name, says) in [
        (
            "Disk_Latency",
            "use lowercase letters, digits and single hyphens",
        ),
        (
            "disk--latency",
            "use lowercase letters, digits and single hyphens",
        ),
        ("-x", "use lowercase letters, digits and single hyphens"),
        (
            "../escape",
            "use lowercase letters, digits and single hyphens",
        ),
        ("sdk", "is reserved"),
        ("cpu", "probes/cpu already exists"),
    ] {
        let out = Command::new(repo.join("tests/stack/new-probe.sh"))
            .arg(name)
            .output()
            .expect("run new-probe.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
    let after = std::fs::read_dir(repo.join("probes"))
        .expect("probes/")
        .count();
    assert_eq!(before, after, "nothing was written under probes/");
}
