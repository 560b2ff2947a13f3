#!/usr/bin/env bash
# Build every probe crate to a WebAssembly component next to its directory:
#   probes/<dir>/        -> probes/<dir>.wasm
#   tests/probes/<dir>/  -> tests/probes/<dir>.wasm   (test-only probes)
# A new directory with a cdylib Cargo.toml is picked up without editing this
# script (both folders are workspace members by glob). All crates are built in
# one cargo call with the size profile `probe`.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TARGET=wasm32-wasip2
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT"

# --- the Rust target -----------------------------------------------------------
target_installed() {
    local libdir
    libdir="$(rustc --print target-libdir --target "$TARGET" 2>/dev/null)" || return 1
    compgen -G "$libdir/libstd-*.rlib" >/dev/null
}
if ! target_installed; then
    if command -v rustup >/dev/null 2>&1; then
        log "build-probes: adding Rust target $TARGET"
        rustup target add "$TARGET" >&2 || die "rustup target add $TARGET failed; probes cannot be built without it"
    fi
    target_installed || die "Rust target $TARGET is not installed and rustup is not available: install it (rustup target add $TARGET)"
fi

# --- find the crates -------------------------------------------------------------
# The package name from the [package] table of a Cargo.toml.
package_name() {
    awk '
        /^\[/ { in_pkg = ($0 ~ /^\[package\][[:space:]]*$/) }
        in_pkg && /^[[:space:]]*name[[:space:]]*=/ {
            sub(/^[^=]*=[[:space:]]*"/, ""); sub(/".*/, ""); print; exit
        }' "$1"
}

pkgs=() # package names for the single cargo call
dirs=() # matching crate directories
# With arguments, only the probe directories named (e.g. build-probes.sh probes/cpu).
given=("$@")
(($# > 0)) || given=(probes/*/ tests/probes/*/)
for dir in "${given[@]}"; do
    dir="${dir%/}"
    [[ -d "$dir" ]] || die "$dir is not a directory"
    manifest="$dir/Cargo.toml"
    [[ -f "$manifest" ]] || continue
    if ! grep -Eq 'crate-type[[:space:]]*=.*"cdylib"' "$manifest"; then
        log "build-probes: skipping $dir (not a cdylib crate)"
        continue
    fi
    name="$(package_name "$manifest")"
    [[ -n "$name" ]] || die "$manifest: no name in its [package] table"
    grep -Eq '^\[workspace\]' "$manifest" &&
        die "$manifest is its own workspace; probe crates must be members of the root workspace"
    pkgs+=("$name")
    dirs+=("$dir")
done
((${#pkgs[@]} > 0)) || die "no probe crates under probes/ or tests/probes/"

# --- build -----------------------------------------------------------------------
pkg_args=()
for p in "${pkgs[@]}"; do pkg_args+=(-p "$p"); done
log "build-probes: cargo build --profile probe --target $TARGET ${pkg_args[*]}"
cargo build --profile probe --target "$TARGET" "${pkg_args[@]}" >&2

# --- copy out and check ----------------------------------------------------------
# Component binaries carry version bytes 0d 00 01 00 after the magic; a core
# module (01 00 00 00) would be refused by the host, so stop here instead.
is_component() {
    [[ "$(od -An -tx1 -j4 -N4 "$1" | tr -d ' \n')" == "0d000100" ]]
}

copy_out() {
    local dir="$1" name artifact out
    name="$(package_name "$dir/Cargo.toml")"
    artifact="$TARGET_DIR/$TARGET/probe/${name//-/_}.wasm"
    out="$dir.wasm"
    [[ -f "$artifact" ]] || die "$dir: cargo produced no $artifact"
    is_component "$artifact" || die "$artifact is a core wasm module, not a component (is the target $TARGET?)"
    cp "$artifact" "$out.tmp"
    # Rename so a host watching the directory never sees a half-written file.
    mv -f "$out.tmp" "$out"
    printf '%10s  %s\n' "$(stat -c %s "$out")" "$out"
}

printf '%10s  %s\n' "bytes" "component"
for dir in "${dirs[@]}"; do copy_out "$dir"; done
