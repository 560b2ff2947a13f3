//! `host probes list [paths]`, `describe FILE`, and the fleet's `keygen`, `publish`, `stop`.

use std::path::{Path, PathBuf};

use crate::cli::ProbesCommand;
use crate::runtime::metadata::{self, ComponentMetadata};
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
            let mut rows = Vec::new();
            for file in files {
                match host.load(&file).await {
                    Ok(p) => match inspect(&file) {
                        Ok((meta, size_bytes)) => rows.push(ListRow {
                            name: p.info.name.clone(),
                            version: p.info.version.clone(),
                            meta,
                            size_bytes,
                            file,
                        }),
                        Err(e) => {
                            failed += 1;
                            eprintln!("{e:#}");
                        }
                    },
                    Err(e) => {
                        failed += 1;
                        eprintln!("{e:#}");
                    }
                }
            }
            print!("{}", render_list(&rows));
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
        ProbesCommand::Keygen { stem } => crate::fleet::publish::keygen(stem),
        ProbesCommand::Publish(args) => crate::fleet::publish::publish(host, args).await,
        ProbesCommand::Stop(args) => crate::fleet::publish::stop(&args.job, &args.bundle).await,
    }
}

/// One loaded probe of `host probes list`.
pub struct ListRow {
    pub name: String,
    pub version: String,
    pub meta: ComponentMetadata,
    pub size_bytes: u64,
    pub file: PathBuf,
}

fn inspect(file: &Path) -> anyhow::Result<(ComponentMetadata, u64)> {
    // The file was just loaded, so it is within max_component_bytes.
    let wasm = std::fs::read(file)?;
    let meta = metadata::read(&wasm).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok((meta, wasm.len() as u64))
}

/// The `probes list` table: name, version, contract version, language, size, file and
/// the tools that built it.
pub fn render_list(rows: &[ListRow]) -> String {
    let mut table = vec![[
        "NAME".to_string(),
        "VERSION".into(),
        "WIT".into(),
        "LANGUAGE".into(),
        "SIZE".into(),
        "FILE".into(),
        "BUILT WITH".into(),
    ]];
    for r in rows {
        table.push([
            r.name.clone(),
            r.version.clone(),
            r.meta.contract.clone().unwrap_or_else(|| "-".into()),
            r.meta.language(),
            human_size(r.size_bytes),
            r.file.display().to_string(),
            r.meta.tools.join(", "),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &table {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = if c + 1 < row.len() { widths[c] + 2 } else { 0 };
            line.push_str(&format!("{cell:<pad$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `61.3 KiB`, `18.4 MiB`.
fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    match bytes as f64 {
        b if b < KIB => format!("{bytes} B"),
        b if b < KIB * KIB => format!("{:.1} KiB", b / KIB),
        b => format!("{:.1} MiB", b / (KIB * KIB)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_an_aligned_table() {
        let row = |name: &str, contract: Option<&str>, size_bytes| ListRow {
            name: name.into(),
            version: "0.1.0".into(),
            meta: ComponentMetadata {
                contract: contract.map(String::from),
                languages: vec!["Rust".into()],
                tools: vec!["rustc 1.95.0".into(), "wit-component 0.239.0".into()],
                embeds_python: false,
            },
            size_bytes,
            file: PathBuf::from(format!("probes/{name}.wasm")),
        };
        let out = render_list(&[
            row("cpu", Some("0.2.0"), 61_373),
            row("http-check", None, 982_044),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME        VERSION  WIT    LANGUAGE  SIZE       FILE                    BUILT WITH",
                "cpu         0.1.0    0.2.0  Rust      59.9 KiB   probes/cpu.wasm         rustc 1.95.0, wit-component 0.239.0",
                "http-check  0.1.0    -      Rust      959.0 KiB  probes/http-check.wasm  rustc 1.95.0, wit-component 0.239.0",
            ]
        );
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(18_800_200), "17.9 MiB");
    }
}
