//! Link the release `host` binary with the functions a running host executes placed
//! together, in the order of `host/symbol-order.txt` (written by `just symbol-order`,
//! `tests/stack/symbol-order.sh`).
//!
//! The kernel maps an executable's code in 64 KiB windows around each page a process
//! touches, so a host whose few thousand functions are spread over 19 MB of code keeps
//! about half of it resident; packed, the same functions need far fewer windows (see
//! docs/performance.md). Names the binary no longer has are skipped, so an order written
//! before a change still links and only packs less.
//!
//! Release builds for x86_64 Linux only, where Rust links with lld by default; mold reads
//! the option too, GNU ld does not: `SONDE_SYMBOL_ORDER=0` turns it off for such a linker.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=SONDE_SYMBOL_ORDER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("PROFILE") != "release"
        || var("TARGET") != "x86_64-unknown-linux-gnu"
        || var("SONDE_SYMBOL_ORDER") == "0"
    {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if !order.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=host=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bin=host=-Wl,--no-warn-symbol-ordering");
}
