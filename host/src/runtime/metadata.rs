//! What a component file says about itself, read without compiling it: the version of
//! the `sonde:probe` contract it imports, and who made it (the `producers` custom
//! sections of the component and of the core modules inside it).

use wasmparser::{KnownCustom, Parser, Payload};

/// The metadata `host probes list` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentMetadata {
    /// The `sonde:probe` version of the first versioned import, e.g. `0.2.0`.
    pub contract: Option<String>,
    /// `language` fields, component-level ones first (`JavaScript`), then the modules'
    /// (`Rust`, `C11`), without repeats.
    pub languages: Vec<String>,
    /// `processed-by` and `sdk` fields as `name version`, without repeats.
    pub tools: Vec<String>,
    /// A core module imports from CPython (`libpython3.x.so`): a componentize-py build,
    /// whose producers sections name only the C and Rust runtime.
    pub embeds_python: bool,
}

impl ComponentMetadata {
    /// The language the probe was written in, as far as the file tells. Size-optimised
    /// builds strip the modules' producers sections (and with them rustc's `language`),
    /// so the bindings generator that wit-component records tells the rest.
    pub fn language(&self) -> String {
        // componentize-js embeds a JavaScript engine written in C, C++ and Rust, whose
        // languages the producers sections list beside (and often before) JavaScript.
        if self.languages.iter().any(|l| l == "JavaScript") {
            return "JavaScript".into();
        }
        if self.embeds_python {
            return "Python".into();
        }
        if !self.languages.is_empty() {
            return self.languages.join("+");
        }
        let generated_by = |generator: &str| {
            self.tools
                .iter()
                .any(|t| t.split_whitespace().next() == Some(generator))
        };
        let by_generator = [
            ("wit-bindgen-rust", "Rust"),
            ("wit-bindgen-go", "Go"),
            ("wit-bindgen-c", "C"),
        ];
        by_generator
            .iter()
            .find(|(generator, _)| generated_by(generator))
            .map_or_else(|| "unknown".into(), |(_, language)| language.to_string())
    }
}

/// Read the metadata of a component (or core module) file.
pub fn read(wasm: &[u8]) -> Result<ComponentMetadata, String> {
    let mut meta = ComponentMetadata::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly file: {e}"))?;
        match payload {
            Payload::ComponentImportSection(imports) if meta.contract.is_none() => {
                for import in imports {
                    let import = import.map_err(|e| format!("reading imports: {e}"))?;
                    meta.contract = contract_version(import.name.name);
                    if meta.contract.is_some() {
                        break;
                    }
                }
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.map_err(|e| format!("reading imports: {e}"))?;
                    meta.embeds_python |= import.module.starts_with("libpython");
                }
            }
            Payload::CustomSection(section) => {
                if let KnownCustom::Producers(fields) = section.as_known() {
                    for field in fields {
                        let field = field.map_err(|e| format!("reading producers: {e}"))?;
                        for value in field.values {
                            let value = value.map_err(|e| format!("reading producers: {e}"))?;
                            record(&mut meta, field.name, value.name, value.version);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(meta)
}

/// `0.2.0` from `sonde:probe/host-metrics@0.2.0`.
fn contract_version(import: &str) -> Option<String> {
    let (_, version) = import.strip_prefix("sonde:probe/")?.split_once('@')?;
    Some(version.to_string())
}

fn record(meta: &mut ComponentMetadata, field: &str, name: &str, version: &str) {
    let list = match field {
        "language" => &mut meta.languages,
        "processed-by" | "sdk" => &mut meta.tools,
        _ => return,
    };
    // `rustc 1.95.0 (59807616e 2026-04-14)`: the version is enough.
    let version = version.split_whitespace().next().unwrap_or("");
    let entry = match (field, version.is_empty()) {
        ("language", _) | (_, true) => name.to_string(),
        _ => format!("{name} {version}"),
    };
    if !list.contains(&entry) {
        list.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_prefers_the_component_level_and_python_runtime() {
        let js = ComponentMetadata {
            languages: vec!["JavaScript".into(), "C++".into()],
            ..Default::default()
        };
        assert_eq!(js.language(), "JavaScript");
        // The order componentize-js's build of http-slo lists them in.
        let engine_first = ComponentMetadata {
            languages: ["C11", "Rust", "C_plus_plus_14", "JavaScript"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        assert_eq!(engine_first.language(), "JavaScript");
        let py = ComponentMetadata {
            languages: vec!["C11".into(), "Rust".into()],
            embeds_python: true,
            ..Default::default()
        };
        assert_eq!(py.language(), "Python");
        let rust = ComponentMetadata {
            languages: vec!["Rust".into()],
            ..Default::default()
        };
        assert_eq!(rust.language(), "Rust");
        // A stripped Rust build: wasi-libc's C bindings are in every wasip2 component.
        let stripped = ComponentMetadata {
            tools: vec![
                "wit-component 0.244.0".into(),
                "wit-bindgen-rust 0.45.0".into(),
                "wit-bindgen-c 0.51.0".into(),
            ],
            ..Default::default()
        };
        assert_eq!(stripped.language(), "Rust");
        assert_eq!(ComponentMetadata::default().language(), "unknown");
    }

    #[test]
    fn contract_version_from_import_names() {
        assert_eq!(
            contract_version("sonde:probe/log@0.1.0").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(contract_version("wasi:io/streams@0.2.0"), None);
        assert_eq!(contract_version("sonde:probe/log"), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(b"\0asm\x0d\0\x01\0\xff\xff").is_err());
        assert!(read(b"not wasm").is_err());
    }
}
