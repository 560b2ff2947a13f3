#!/usr/bin/env bash
# Build every probe to a WebAssembly component next to its directory:
#   probes/<dir>/        -> probes/<dir>.wasm
#   tests/probes/<dir>/  -> tests/probes/<dir>.wasm   (test-only probes)
# or, with arguments, just the probe directories named (e.g. build-probes.sh probes/cpu).
#
# A new directory is picked up without editing this script:
#   - a cdylib Cargo.toml: a Rust probe (both folders are workspace members by glob); all
#     crates are built in one cargo call with the size profile `probe`;
#   - an app.py: a Python probe, built with componentize-py (module `app`, class `WitWorld`);
#   - a package.json: a JavaScript probe, built with componentize-js from its probe.js
#     (node_modules from `npm ci`).
# Python and JavaScript probes are rebuilt only when a file in their directory, wit/ or
# their toolchain is newer than their .wasm.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=probe-toolchains.sh
source "$STACK_DIR/probe-toolchains.sh"

TARGET=wasm32-wasip2
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

candidates=()
if (($# > 0)); then
    for arg in "$@"; do
        [[ -d "$arg" ]] || die "$arg is not a directory"
        candidates+=("$(cd "$arg" && pwd)")
    done
else
    for dir in "$ROOT"/probes/*/ "$ROOT"/tests/probes/*/; do
        [[ -d "$dir" ]] && candidates+=("${dir%/}")
    done
fi
cd "$ROOT"

# --- sort the directories by language ------------------------------------------------
# The package name from the [package] table of a Cargo.toml.
package_name() {
    awk '
        /^\[/ { in_pkg = ($0 ~ /^\[package\][[:space:]]*$/) }
        in_pkg && /^[[:space:]]*name[[:space:]]*=/ {
            sub(/^[^=]*=[[:space:]]*"/, ""); sub(/".*/, ""); print; exit
        }' "$1"
}

# True when the root Cargo.toml's workspace excludes DIR (a path relative to the root).
excluded() {
    python3 -c 'import sys, tomllib
sys.exit(sys.argv[1] not in tomllib.load(open("Cargo.toml", "rb"))["workspace"].get("exclude", []))' "$1"
}

pkgs=()    # Rust package names for the single cargo call
rs_dirs=() # their crate directories
py_dirs=()
js_dirs=()
for dir in "${candidates[@]}"; do
    rel="${dir#"$ROOT"/}"
    manifest="$dir/Cargo.toml"
    if [[ -f "$dir/app.py" ]]; then
        py_dirs+=("$dir")
    elif [[ -f "$dir/package.json" ]]; then
        js_dirs+=("$dir")
    elif [[ -f "$manifest" ]]; then
        if ! grep -Eq 'crate-type[[:space:]]*=.*"cdylib"' "$manifest"; then
            log "build-probes: skipping $rel (not a cdylib crate)"
            continue
        fi
        name="$(package_name "$manifest")"
        [[ -n "$name" ]] || die "$manifest: no name in its [package] table"
        grep -Eq '^\[workspace\]' "$manifest" &&
            die "$manifest is its own workspace; probe crates must be members of the root workspace"
        pkgs+=("$name")
        rs_dirs+=("$dir")
        continue
    else
        die "$rel is not a probe: no Cargo.toml, app.py or package.json"
    fi
    # probes/* and tests/probes/* are workspace members by glob, and cargo refuses a member
    # directory without a Cargo.toml: Python and JavaScript probes are excluded by name.
    if [[ "$dir" == "$ROOT"/probes/* || "$dir" == "$ROOT"/tests/probes/* ]] && ! excluded "$rel"; then
        die "$rel is a Python or JavaScript probe: add \"$rel\" to \`exclude\` in the root Cargo.toml's [workspace]"
    fi
done
((${#candidates[@]} > 0)) || die "no probes under probes/ or tests/probes/"

# Component binaries carry version bytes 0d 00 01 00 after the magic; a core
# module (01 00 00 00) would be refused by the host, so stop here instead.
is_component() {
    [[ "$(od -An -tx1 -j4 -N4 "$1" | tr -d ' \n')" == "0d000100" ]]
}

# Move a finished component into place and print its size; refuse anything but a component.
# The rename means a host watching the directory never sees a half-written file.
install_component() {
    local built="$1" out="$2"
    is_component "$built" || die "$built is a core wasm module or no wasm at all, not a component"
    mv -f "$built" "$out"
    printf '%10s  %s\n' "$(stat -c %s "$out")" "${out#"$ROOT"/}"
}

printf '%10s  %s\n' "bytes" "component"

# --- Rust ------------------------------------------------------------------------------
target_installed() {
    local libdir
    libdir="$(rustc --print target-libdir --target "$TARGET" 2>/dev/null)" || return 1
    compgen -G "$libdir/libstd-*.rlib" >/dev/null
}
if ((${#pkgs[@]} > 0)); then
    if ! target_installed; then
        if command -v rustup >/dev/null 2>&1; then
            log "build-probes: adding Rust target $TARGET"
            rustup target add "$TARGET" >&2 || die "rustup target add $TARGET failed; probes cannot be built without it"
        fi
        target_installed || die "Rust target $TARGET is not installed and rustup is not available: install it (rustup target add $TARGET)"
    fi
    pkg_args=()
    for p in "${pkgs[@]}"; do pkg_args+=(-p "$p"); done
    log "build-probes: cargo build --profile probe --target $TARGET ${pkg_args[*]}"
    cargo build --profile probe --target "$TARGET" "${pkg_args[@]}" >&2
    for dir in "${rs_dirs[@]}"; do
        artifact="$TARGET_DIR/$TARGET/probe/$(package_name "$dir/Cargo.toml" | tr - _).wasm"
        [[ -f "$artifact" ]] || die "${dir#"$ROOT"/}: cargo produced no $artifact"
        cp "$artifact" "$dir.wasm.tmp"
        install_component "$dir.wasm.tmp" "$dir.wasm"
    done
fi

# --- Python and JavaScript -------------------------------------------------------------
# True when OUT exists and nothing in the paths given (the probe's directory and its
# toolchain, outside node_modules and caches) or wit/ is newer.
up_to_date() {
    local out="$1"
    shift
    [[ -f "$out" ]] || return 1
    [[ -z "$(find "$@" "$ROOT/wit" \( -name node_modules -o -name __pycache__ \) -prune -o \
        -newer "$out" -print -quit)" ]]
}
skip_if_up_to_date() {
    local out="$1"
    up_to_date "$@" || return 1
    printf '%10s  %s (up to date)\n' "$(stat -c %s "$out")" "${out#"$ROOT"/}"
}

if ((${#py_dirs[@]} + ${#js_dirs[@]} > 0)); then
    ensure_probe_toolchains "${py_dirs[@]}" "${js_dirs[@]}" ||
        die "the Python/JavaScript probe toolchains are missing (see above); run just prereqs"
fi
for dir in "${py_dirs[@]}"; do
    out="$dir.wasm"
    skip_if_up_to_date "$out" "$dir" "$(componentize_py_bin)" && continue
    log "build-probes: componentize-py ${dir#"$ROOT"/}"
    # Only the probe's own directory is on the Python path. componentize-py imports `app`
    # at build time and snapshots the interpreter: the component reads no files at run time.
    PYTHONDONTWRITEBYTECODE=1 "$(componentize_py_bin)" -q -d "$ROOT/wit" -w probe \
        componentize app -p "$dir" -o "$out.tmp" >&2 || die "componentize-py failed for $dir"
    install_component "$out.tmp" "$out"
done
for dir in "${js_dirs[@]}"; do
    out="$dir.wasm"
    [[ -f "$dir/probe.js" ]] || die "${dir#"$ROOT"/}: a JavaScript probe's entry point is probe.js"
    skip_if_up_to_date "$out" "$dir" "$dir/node_modules/$NPM_LOCK_STAMP" && continue
    log "build-probes: componentize-js ${dir#"$ROOT"/}"
    # The host links no wasi:http, so StarlingMonkey's fetch() and fetch-event are left out.
    (cd "$dir" && node node_modules/@bytecodealliance/componentize-js/src/cli.js probe.js \
        --wit "$ROOT/wit" --world-name probe --disable http fetch-event -o "$out.tmp" >&2) ||
        die "componentize-js failed for $dir"
    install_component "$out.tmp" "$out"
done
