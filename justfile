# Sonde — every developer and user entry point. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]
set dotenv-load := false

# Show the recipes.
default:
    @just --list

# Check (and install where possible) what the recipes need: Rust target, Debian packages, broker, Chromium.
prereqs:
    tests/stack/prereqs.sh
    tests/stack/browser-prereqs.sh

# Build every probe under probes/ to probes/<name>.wasm (and the test-only probes under tests/probes/), or only the directories given.
build-probes *dirs:
    tests/stack/build-probes.sh {{dirs}}

# Create probes/NAME/, a Rust probe on the sonde-probe SDK with a unit test, from probes/sdk/template/.
new-probe name:
    tests/stack/new-probe.sh {{name}}

# Build the host and recorder binaries (release).
build:
    cargo build --release -p sonde-host -p sonde-recorder


# Build target/debian/sonde_<version>_<arch>.deb: both binaries, bundled probes, systemd units, example configs (`just package dev`: from the debug build).
package profile="release" build="build":
    #!/usr/bin/env bash
    set -euo pipefail
    tests/stack/build-probes.sh
    # build=prebuilt: package the binaries already in target/ (`just test` builds them with the tests).
    if [[ "{{build}}" == build ]]; then
        cargo build --profile "{{profile}}" -p sonde-host -p sonde-recorder
    fi
    # Pinned: 3.8.0 builds with the project's Rust (rust-version 1.85).
    if [[ "$(cargo deb --version 2>/dev/null)" != *"3.8.0"* ]]; then
        cargo install cargo-deb --version 3.8.0 --locked
    fi
    fast=(); [[ "{{profile}}" == release ]] || fast=(--fast)
    rm -f target/debian/sonde_*.deb
    cargo deb -p sonde-host --no-build --profile "{{profile}}" "${fast[@]}" --output target/debian/
    ls -l target/debian/sonde_*.deb

# Start the local stack: PKI, PostgreSQL with SSL, Kafka-compatible broker behind mutual TLS. Idempotent.
up:
    tests/stack/up.sh

# Stop exactly what `just up` started.
down:
    tests/stack/down.sh

# Format check.
fmt:
    cargo fmt --all -- --check

# Lint: clippy on every target, warnings are errors.
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# The whole test suite against the local stack; the stack is stopped again even when a step fails.
test:
    #!/usr/bin/env bash
    set -euo pipefail
    trap 'tests/stack/down.sh' EXIT
    # Compiled probes are cached inside the checkout, not in the user's cache directory.
    export SONDE_CACHE_DIR="$PWD/target/sonde-cache"
    tests/stack/up.sh
    # Chromium, for the report's browser test.
    tests/stack/browser-prereqs.sh
    cargo fmt --all -- --check
    tests/stack/build-probes.sh
    cargo clippy --workspace --all-targets -- -D warnings
    # Load every bundled probe once: checks they all load, and compiles the Python and
    # JavaScript ones (tens of seconds of cranelift each) into the cache before any test's clock starts.
    cargo run -q -p sonde-host -- probes list probes
    cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
    # Build once; the package test unpacks a .deb of the very binaries the other tests run.
    cargo nextest run --workspace --no-run
    just package dev prebuilt
    cargo nextest run --workspace --no-fail-fast

# The whole-pipeline fault drills at full length (2 min broker outage, ...); `just test` runs them shortened.
test-long:
    #!/usr/bin/env bash
    set -euo pipefail
    trap 'tests/stack/down.sh' EXIT
    tests/stack/up.sh
    tests/stack/build-probes.sh
    cargo build -p sonde-host -p sonde-recorder
    cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
    SONDE_DRILL_SCALE=long cargo nextest run -p sonde-tests -E 'binary(/^pipeline_/)' --no-fail-fast

# Start everything, run all four probes and the recorder for ~20 s, print what landed in PostgreSQL and write the report.
demo:
    tests/stack/demo.sh

# Write the HTML report of the local stack's data (default: what `just demo` recorded) and print its path.
report since="1h" database="sonde_demo":
    tests/stack/report.sh {{since}} {{database}}

# Benchmarks: prints one markdown table and writes it to bench-results/.
bench:
    tests/stack/bench.sh

# Rewrite host/symbol-order.txt from release hosts run under callgrind (the functions a host runs, which the release link packs together; rerun when the bench calls the list stale; docs/performance.md).
symbol-order:
    tests/stack/symbol-order.sh

# Scale test: 10,000 simulated hosts (sonde-loadgen) into 1, 2, then 3 recorders; prints one table and appends it to bench-results/scale-history.md (docs/scaling.md).
bench-scale:
    tests/stack/bench-scale.sh
