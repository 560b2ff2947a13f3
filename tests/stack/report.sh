#!/usr/bin/env bash
# `just report`: write the HTML report of what the local stack's PostgreSQL holds (by default
# the database `just demo` fills) and print its path.
# Usage: tests/stack/report.sh [SINCE] [DATABASE] [OUT]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

since="${1:-1h}"
db="${2:-sonde_demo}"
out="${3:-$ROOT/target/report/sonde-report.html}"

[[ -f "$DEV/env" ]] || die "local stack not running: run \`just up\` (and \`just demo\` for data)"
set -a
# shellcheck disable=SC1091
source "$DEV/env"
set +a
recorder_bin="$ROOT/target/release/recorder"
if [[ ! -x "$recorder_bin" || -n "$(find "$ROOT/recorder/src" -newer "$recorder_bin" -print -quit)" ]]; then
    (cd "$ROOT" && cargo build --release -q -p sonde-recorder) || die "cargo build failed"
fi
mkdir -p "$(dirname "$out")" "$DEV/report"
recorder_ini unused sonde-report "$db" 500 >"$DEV/report/recorder.ini"
"$recorder_bin" report --config "$DEV/report/recorder.ini" --since "$since" --out "$out" >&2
echo "$out"
