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

# Build every probe under probes/ to probes/<name>.wasm (and the test-only probes under tests/probes/).
build-probes:
    tests/stack/build-probes.sh

# Build the host and recorder binaries (release).
build:
    cargo build --release -p sonde-host -p sonde-recorder

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
    cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked
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
