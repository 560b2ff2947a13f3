#!/usr/bin/env bash
# `just bench`: measure Sonde against the tools people run today, in one run on this machine,
# and print one markdown table (also written to bench-results/, appended to the committed
# bench-results/history.md with the commit and machine, and shown in docs/performance.md).
#
# Sections (each can be skipped with BENCH_SKIP="recorder host http probe languages e2e report"):
#   recorder  recorder ingest vs psql \copy vs one INSERT+COMMIT per row vs a kafka-python+psycopg2 consumer
#   host      host CPU seconds and peak RSS over 60 s (cpu, memory, bandwidth at 1 s, then at 60 s) vs collectd
#   http      CPU per 10,000 HTTP checks of a 100 KB nginx page with a regex vs blackbox_exporter
#   probe     one probe run through the host vs the same computation natively (criterion)
#   languages a Rust, a Python and a JavaScript probe: size, compile, cached load, memory, run
#   e2e       probe run start -> transaction committed in PostgreSQL, p50/p99 at 1,000 runs/s
#   report    `recorder report` over 100 generated hosts x 24 h vs fetching the raw rows
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench-lib.sh
source "$STACK_DIR/bench-lib.sh"

BENCH_SKIP="${BENCH_SKIP:-}"
HOST_SECONDS="${HOST_SECONDS:-60}"
HTTP_CHECKS="${HTTP_CHECKS:-10000}"
HTTP_RATE="${HTTP_RATE:-500}"
E2E_RATE="${E2E_RATE:-1000}"
E2E_SECONDS="${E2E_SECONDS:-30}"

work="$DEV/bench"
out_dir="$ROOT/bench-results"
mkdir -p "$work" "$out_dir"
rows="$work/rows.md"
notes="$work/notes.md"
tables="$work/tables.md"

skip() { [[ " $BENCH_SKIP " == *" $1 "* ]]; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@" >>"$rows"; }
note() { printf -- '- %s\n' "$*" >>"$notes"; }
clk_tck="$(getconf CLK_TCK)"
# CPU seconds (user + system) a live process has used so far.
cpu_seconds() { awk -v t="$clk_tck" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"; }
# Peak resident set size in MB.
peak_rss_mb() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}' if b else 'n/a')" "$1" "$2"; }
# json_fields JSON KEY...: the values of KEYs of a one-line JSON object, space-separated.
json_fields() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(*(r[k] for k in sys.argv[2:]))' "$@"; }
# A figure that does not add up (runs lost, checks that did not do their work): the table says
# so and the run exits non-zero after printing it.
mismatches="$work/mismatches"
mismatch() {
    log "MISMATCH: $*"
    printf -- '- MISMATCH: %s\n' "$*" >>"$mismatches"
}

pids=()
restore_pg() { :; }
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    restore_pg
}
trap cleanup EXIT

# --- prerequisites -------------------------------------------------------------------------
"$STACK_DIR/bench-prereqs.sh"
venv="$DEV/bench-venv"
py="$venv/bin/python"

log "==> building (release) and starting the stack"
"$STACK_DIR/build-probes.sh" >"$work/build-probes.log" 2>&1 || die "building probes failed; see $work/build-probes.log"
(cd "$ROOT" && cargo build --release -q -p sonde-host -p sonde-recorder) || die "cargo build --release failed"
host_bin="$ROOT/target/release/host"
recorder_bin="$ROOT/target/release/recorder"
bench_take_stack
# The run's files are shared by every checkout on this stack: start them only once the lock
# is ours, or a waiting run would empty a running one's table.
: >"$rows"
: >"$notes"
: >"$tables"
: >"$mismatches"
fresh_db() {
    psql -q -X "$(pg_dsn "$SONDE_PG_DATABASE")" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}
source "$STACK_DIR/bench-sections.sh"
source "$STACK_DIR/bench-http.sh"
source "$STACK_DIR/bench-e2e.sh"

skip recorder || bench_recorder
skip host || bench_host
skip http || bench_http
skip probe || bench_probe
skip languages || bench_languages
skip e2e || bench_e2e
skip report || bench_report
# A partial run says which sections it left out, so its table is never read as a whole one.
[[ -z "${BENCH_SKIP// /}" ]] || note "sections skipped (BENCH_SKIP): ${BENCH_SKIP}."

stamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit (with uncommitted changes)"
fi
report="$out_dir/bench-$stamp.md"
{
    echo "## Sonde benchmark — $stamp"
    echo
    echo "Commit: $commit. Machine: $machine. All figures measured in this one run; ratios compare against the baseline measured alongside. PostgreSQL 15 with its durable defaults (fsync, synchronous_commit on)."
    echo
    echo "| measurement | Sonde | baseline | ratio | goal |"
    echo "|---|---|---|---|---|"
    cat "$rows"
    echo
    if [[ -s "$notes" || -s "$mismatches" ]]; then
        echo "Notes:"
        cat "$mismatches" "$notes"
    fi
    if [[ -s "$tables" ]]; then
        echo
        cat "$tables"
    fi
} >"$report"
cp "$report" "$out_dir/latest.md"
# The committed history keeps every run's table, newest last; docs/performance.md shows the
# newest between its markers.
{ echo; cat "$report"; } >>"$out_dir/history.md"
python3 "$STACK_DIR/bench-latest.py" "$report" "$ROOT/docs/performance.md"
cat "$report"
log "written to $report, appended to $out_dir/history.md and docs/performance.md's latest run"
[[ ! -s "$mismatches" ]] || die "$(wc -l <"$mismatches") figure(s) did not add up; see the MISMATCH notes above"
