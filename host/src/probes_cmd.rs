//! `host probes list [paths]` and `host probes describe FILE`.

use std::path::PathBuf;

use crate::cli::ProbesCommand;
use crate::runtime::probe::{Host, ProbeDescription};
use crate::schedule::watch::wasm_files;

pub async fn run(host: &Host, cmd: &ProbesCommand) -> anyhow::Result<()> {
    match cmd {
        ProbesCommand::List { paths } => {
            let mut files: Vec<PathBuf> = Vec::new();
            for p in paths {
                if p.is_dir() {
                    files.extend(wasm_files(p));
                } else {
                    files.push(p.clone());
                }
            }
            let mut failed = 0;
            for file in files {
                match host.load(&file).await {
                    Ok(p) => println!(
                        "{:<16} {:<8} {}  ({})",
                        p.info.name,
                        p.info.version,
                        p.info.description,
                        file.display()
                    ),
                    Err(e) => {
                        failed += 1;
                        eprintln!("{e:#}");
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} file(s) could not be loaded");
            }
            Ok(())
        }
        ProbesCommand::Describe { file } => {
            let probe = host.load(file).await?;
            print!("{}", render(&probe.info));
            Ok(())
        }
    }
}

/// Human-readable describe() output.
pub fn render(info: &ProbeDescription) -> String {
    let mut out = format!(
        "name: {}\nversion: {}\ndescription: {}\ndefault_interval_ms: {}\nparams:",
        info.name, info.version, info.description, info.default_interval_ms
    );
    if info.params.is_empty() {
        out.push_str(" (none)");
    }
    out.push('\n');
    for p in &info.params {
        let req = if p.required { "required" } else { "optional" };
        let default = p
            .default
            .as_ref()
            .map(|d| format!(", default {d:?}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {} ({req}{default}): {}\n",
            p.name, p.description
        ));
    }
    out
}
