//! Hand-written hostile components in WebAssembly text (`tests/wat/*.wat`), for
//! attacks that need the canonical ABI abused directly. Each file is the body of a
//! component; [`wat_component`] wraps it with the `sonde:probe@0.1.0` types and, unless
//! the body exports its own, a `describe` that names the component after its file.

use std::path::{Path, PathBuf};

use crate::workspace_root;

/// The types of `wit/probe.wit`'s world, exported so that function types may use them,
/// and the function types `$describe` and `$run`.
const PROBE_TYPES: &str = r#"
  (type $param-info-def (record
    (field "name" string) (field "description" string)
    (field "required" bool) (field "default" (option string))))
  (export $param-info "param-info" (type $param-info-def))
  (type $probe-info-def (record
    (field "name" string) (field "version" string) (field "description" string)
    (field "default-interval-ms" u32) (field "params" (list $param-info))))
  (export $probe-info "probe-info" (type $probe-info-def))
  (type $sample-def (record
    (field "name" string) (field "value" f64) (field "unit" string)
    (field "labels" (list (tuple string string)))))
  (export $sample "sample" (type $sample-def))
  (type $probe-error-def (variant
    (case "bad-config" string) (case "unavailable" string) (case "failed" string)))
  (export $probe-error "probe-error" (type $probe-error-def))
  (type $describe (func (result $probe-info)))
  (type $run (func (param "params" (list (tuple string string)))
    (result (result (list $sample) (error $probe-error)))))
"#;

/// A `describe` in a core instance of its own: name `NAME`, version 0.1.0, interval 1 s.
fn describe_export(name: &str) -> String {
    let description = format!("Test only: the hand-written hostile component {name}.");
    format!(
        r#"
  (core module $describe-module
    (memory (export "memory") 1)
    (data (i32.const 64) "{name}")
    (data (i32.const 1024) "0.1.0")
    (data (i32.const 1088) "{description}")
    (func (export "describe") (result i32)
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const {name_len}))
      (i32.store (i32.const 8) (i32.const 1024))
      (i32.store (i32.const 12) (i32.const 5))
      (i32.store (i32.const 16) (i32.const 1088))
      (i32.store (i32.const 20) (i32.const {description_len}))
      (i32.store (i32.const 24) (i32.const 1000))
      (i32.store (i32.const 28) (i32.const 0))
      (i32.store (i32.const 32) (i32.const 0))
      (i32.const 0)))
  (core instance $describe-instance (instantiate $describe-module))
  (func (export "describe") (type $describe)
    (canon lift (core func $describe-instance "describe") (memory (core memory $describe-instance "memory"))))
"#,
        name_len = name.len(),
        description_len = description.len(),
    )
}

/// The component text for the body `body` of the fixture `name`.
pub fn wat_component(name: &str, body: &str) -> String {
    let describe = if body.contains(r#"(export "describe")"#) {
        String::new()
    } else {
        describe_export(name)
    };
    format!("(component\n{PROBE_TYPES}\n{describe}\n{body}\n)\n")
}

/// `tests/wat/*.wat`, sorted: (name, path).
pub fn wat_fixtures() -> Vec<(String, PathBuf)> {
    let dir = workspace_root().join("tests/wat");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
        .filter_map(|p| {
            let name = p.file_stem()?.to_string_lossy().into_owned();
            Some((name, p))
        })
        .collect();
    found.sort();
    found
}

/// Compile the fixture `name` to `out_dir/NAME.wasm`.
///
/// # Panics
/// When the fixture is missing or is not valid component text.
pub fn build_wat_component(name: &str, out_dir: &Path) -> PathBuf {
    let source = workspace_root()
        .join("tests/wat")
        .join(format!("{name}.wat"));
    let body = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    let text = wat_component(name, &body);
    let wasm = ::wat::parse_str(&text)
        .unwrap_or_else(|e| panic!("{}: not a valid component: {e}", source.display()));
    let out = out_dir.join(format!("{name}.wasm"));
    std::fs::write(&out, wasm).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    out
}

/// Every fixture compiled into `out_dir`: (name, path of the `.wasm`).
pub fn build_wat_components(out_dir: &Path) -> Vec<(String, PathBuf)> {
    wat_fixtures()
        .into_iter()
        .map(|(name, _)| {
            let wasm = build_wat_component(&name, out_dir);
            (name, wasm)
        })
        .collect()
}
