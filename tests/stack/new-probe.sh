#!/usr/bin/env bash
# Create probes/NAME/ from the template in probes/sdk/template/: a Rust probe on the
# sonde-probe SDK that builds as it is, with a native unit test. Prints what to run next.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || die "usage: just new-probe NAME (lowercase letters, digits and hyphens, e.g. disk-latency)"
name="$1"
[[ "$name" =~ ^[a-z][a-z0-9]*(-[a-z0-9]+)*$ ]] ||
    die "probe name \"$name\": use lowercase letters, digits and single hyphens, starting with a letter (e.g. disk-latency)"
((${#name} <= 40)) || die "probe name \"$name\" is longer than 40 characters"
[[ "$name" != sdk && "$name" != template ]] || die "probe name \"$name\" is reserved"

template="$ROOT/probes/sdk/template"
dir="$ROOT/probes/$name"
[[ -d "$template" ]] || die "$template is missing"
[[ ! -e "$dir" ]] || die "probes/$name already exists"

# disk-latency -> DiskLatency, the probe's type name (not one the template imports).
type_name="$(sed -E 's/(^|-)([a-z])/\U\2/g; s/-//g' <<<"$name")"
case "$type_name" in Info | Params | Probe | ProbeError | Samples) type_name+=Probe ;; esac

mkdir -p "$dir.tmp/src"
trap 'rm -rf "$dir.tmp"' EXIT
for file in Cargo.toml src/lib.rs; do
    sed -e "s/{{name}}/$name/g" -e "s/{{Type}}/$type_name/g" "$template/$file.in" >"$dir.tmp/$file"
done
# The name's length moves line breaks; format as `cargo fmt` would.
if command -v rustfmt >/dev/null 2>&1; then
    rustfmt --edition 2021 "$dir.tmp/src/lib.rs"
else
    log "new-probe: rustfmt not found (rustup component add rustfmt); probes/$name/src/lib.rs is unformatted"
fi
mv "$dir.tmp" "$dir"
trap - EXIT

cat <<MSG
Created probes/$name/ (package sonde-probe-$name). Next:
  cargo test -p sonde-probe-$name                 # its unit tests, natively
  just build-probes probes/$name                  # -> probes/$name.wasm
  host --probes probes/$name.wasm --once          # run it once (cargo run -p sonde-host -- ...)
MSG
