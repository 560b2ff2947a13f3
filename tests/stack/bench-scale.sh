#!/usr/bin/env bash
# `just bench-scale`: a simulated fleet (sonde-loadgen) publishing to an 8-partition topic
# over mutual TLS, recorded into PostgreSQL by 1 recorder, then 2 in one group, then a
# third joining mid-run. Prints one markdown table (also written to
# bench-results/scale-latest.md and appended to the committed bench-results/scale-history.md).
#
# Timeline (SCALE_SECONDS of publishing, default 180): recorder 1 alone for the first
# third, recorder 2 joins at one third, recorder 3 at two thirds; after the last run is
# published the recorders drain and every published run is checked against PostgreSQL.
#
#   SCALE_HOSTS        simulated hosts (default 10000)
#   SCALE_SECONDS      publishing time (default 180)
#   SCALE_INTERVAL_MS  every job of every host once per this interval (default 10000)
#   SCALE_CORES        cores per host, each reported by the cpu run (default 4)
#   SCALE_HTTP_CHECKS  HTTP checks per host (default 3)
#   SCALE_WARMUP=0     skip the warm-up interval (default: record one interval first, so
#                      the measured run finds every series in place; timed on its own)
#   SCALE_KEEP_DB=1    keep the database sonde_bench_scale afterwards (default: dropped)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench-lib.sh
source "$STACK_DIR/bench-lib.sh"

SCALE_HOSTS="${SCALE_HOSTS:-10000}"
SCALE_SECONDS="${SCALE_SECONDS:-180}"
SCALE_INTERVAL_MS="${SCALE_INTERVAL_MS:-10000}"
SCALE_CORES="${SCALE_CORES:-4}"
SCALE_HTTP_CHECKS="${SCALE_HTTP_CHECKS:-3}"
SCALE_KEEP_DB="${SCALE_KEEP_DB:-0}"
SCALE_WARMUP="${SCALE_WARMUP:-1}"
PARTITIONS=8
# How long the recorders get to catch up once publishing stops.
DRAIN_TIMEOUT_SECS=300
WARMUP_TIMEOUT_SECS=1200

work="$DEV/bench-scale"
out_dir="$ROOT/bench-results"
rm -rf "$work"
mkdir -p "$work" "$out_dir"
db="sonde_bench_scale"
topic="bench.scale.$(date +%s)"
group="bench-scale-$(date +%s)"

pids=()
restore_pg() { :; }
drop_db() { :; }
delete_topic() { :; }
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    delete_topic
    drop_db
    restore_pg
}
trap cleanup EXIT

command -v python3 >/dev/null || die "python3 is needed for the report (apt-get install python3)"
command -v curl >/dev/null || die "curl is needed to read the recorders' /metrics (apt-get install curl)"
command -v psql >/dev/null || pg_client_bin psql >/dev/null || die "psql is needed (apt-get install postgresql-client-15)"

log "==> building (release) the recorder and the load generator"
# Two builds: together, cargo would unify their dependencies' features and rebuild the
# recorder that `just bench` already built.
(cd "$ROOT" && cargo build --release -q -p sonde-recorder && cargo build --release -q -p sonde-loadgen) ||
    die "cargo build --release failed"
recorder_bin="$ROOT/target/release/recorder"
loadgen_bin="$ROOT/target/release/sonde-loadgen"
bench_take_stack
psql_db() { psql -X -q -v ON_ERROR_STOP=1 "$(pg_dsn "$db")" "$@"; }
psql -q -X "$(pg_dsn "$SONDE_PG_DATABASE")" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
if [[ "$SCALE_KEEP_DB" != 1 ]]; then
    drop_db() { psql -q -X "$(pg_dsn "$SONDE_PG_DATABASE")" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; }
fi
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
# start_recorder N: recorder N of the group, JSON logs in $work/recorder-N.log, /metrics on a free port.
start_recorder() {
    local n="$1" port
    port="$(free_tcp_port)"
    {
        recorder_ini "$topic" "$group" "$db" 500
        echo "metrics.addr = 127.0.0.1:$port"
    } >"$work/recorder-$n.ini"
    echo "$port" >"$work/recorder-$n.port"
    now >"$work/recorder-$n.started"
    "$recorder_bin" --config "$work/recorder-$n.ini" --log-format json 2>"$work/recorder-$n.log" >/dev/null &
    pids+=($!)
    echo $! >"$work/recorder-$n.pid"
}
# Runs the recorders have committed: the sum of the next offsets stored with the rows
# (offsets of a fresh topic start at 0 and count messages).
committed_total() { psql_db -tA -c "SELECT coalesce(sum(next_offset), 0) FROM kafka_offset" 2>/dev/null || echo 0; }
# ...of the measured part (the warm-up's runs come first on the topic).
warmup_runs=0
committed() { echo $(($(committed_total) - warmup_runs)); }
acked() { if [[ -s "$work/progress" ]]; then cut -d' ' -f3 "$work/progress"; else echo 0; fi; }

log "==> $SCALE_HOSTS hosts every $SCALE_INTERVAL_MS ms for ${SCALE_SECONDS}s into $topic ($PARTITIONS partitions); load before: $load_before"
loadgen_args=(--brokers "$SONDE_KAFKA_BROKERS" --cert-dir "$SONDE_HOST_CERT_DIR" --topic "$topic" --partitions "$PARTITIONS")
"$loadgen_bin" "${loadgen_args[@]}" --create-topic-only || die "cannot create topic $topic"
# The local broker keeps every message in memory (about 1 GB per full run): give it back.
delete_topic() {
    "$loadgen_bin" --brokers "$SONDE_KAFKA_BROKERS" --cert-dir "$SONDE_HOST_CERT_DIR" --topic "$topic" \
        --delete-topic-only || log "could not delete topic $topic"
}
start_recorder 1
# Start-up is not measured: the clock starts once recorder 1 has created the schema and
# holds every partition.
assigned() {
    local n
    n="$(grep -c '"assigned ' "$work/recorder-$1.log" 2>/dev/null)" || true
    echo "${n:-0}"
}
for _ in $(seq 60); do
    (($(assigned 1) >= PARTITIONS)) && break
    sleep 1
done
(($(assigned 1) >= PARTITIONS)) || die "recorder 1 holds fewer than $PARTITIONS partitions after 60 s; see $work/recorder-1.log"

# Warm-up: a fleet's first interval is all new series (10,000 hosts × 160 with the default
# shape), each inserted once into `series`; afterwards a run only looks its series up. That
# first interval is recorded and timed on its own, then the measured run starts.
if [[ "$SCALE_WARMUP" == 1 ]]; then
    log "==> warm-up: one interval of the fleet, every series new"
    warm_start="$(now)"
    "$loadgen_bin" "${loadgen_args[@]}" --hosts "$SCALE_HOSTS" --interval-ms "$SCALE_INTERVAL_MS" \
        --seconds $(((SCALE_INTERVAL_MS + 999) / 1000)) --cores "$SCALE_CORES" --http-checks "$SCALE_HTTP_CHECKS" \
        --seed 2 --record "$work/warmup.tsv" --summary "$work/warmup.json" \
        >"$work/warmup.out" 2>"$work/warmup.log" || die "the warm-up failed; see $work/warmup.log"
    warm_total="$(python3 -c "import json; print(json.load(open('$work/warmup.json'))['acked_runs'])")"
    for _ in $(seq $((WARMUP_TIMEOUT_SECS / 2))); do
        (($(committed_total) >= warm_total)) && break
        sleep 2
    done
    (($(committed_total) >= warm_total)) || die "the warm-up's $warm_total runs were not recorded within ${WARMUP_TIMEOUT_SECS}s"
    python3 -c "print(f'{$(now) - $warm_start:.1f}')" >"$work/warmup_secs"
    warmup_runs="$warm_total"
    log "==> warm-up recorded in $(cat "$work/warmup_secs") s"
fi

t0="$(now)"
echo "$t0" >"$work/t0"
"$loadgen_bin" "${loadgen_args[@]}" --hosts "$SCALE_HOSTS" --interval-ms "$SCALE_INTERVAL_MS" \
    --seconds "$SCALE_SECONDS" --cores "$SCALE_CORES" --http-checks "$SCALE_HTTP_CHECKS" \
    --record "$work/published.tsv" --progress "$work/progress" --summary "$work/loadgen.json" \
    >"$work/loadgen.out" 2>"$work/loadgen.log" &
loadgen_pid=$!
pids+=("$loadgen_pid")

# CPU seconds used so far by each part of the pipeline, and by the whole machine, to tell
# what bounds the rate: elapsed, loadgen, recorders, PostgreSQL (every process of its OS
# user), broker, TLS front, machine busy, machine total.
clk_tck="$(getconf CLK_TCK)"
proc_cpu() {
    local pid total=0 t
    for pid in "$@"; do
        t="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)" || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
recorder_pids() { local n; for n in 1 2 3; do [[ -s "$work/recorder-$n.pid" ]] && cat "$work/recorder-$n.pid"; done; }
cpu_sample() {
    local machine
    machine="$(awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat)"
    # shellcheck disable=SC2046  # word splitting of the pid lists is wanted
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(proc_cpu "$loadgen_pid")" "$(proc_cpu $(recorder_pids))" \
        "$(proc_cpu $(pgrep -u "$PG_OS_USER" || true))" "$(proc_cpu "$(cat "$DEV/broker/tansu.pid" 2>/dev/null)")" \
        "$(proc_cpu "$(cat "$DEV/broker/stunnel.pid" 2>/dev/null)")" $machine >>"$work/cpu.tsv"
}
echo "$clk_tck" >"$work/clk_tck"

# Sample lag every 2 s: runs acknowledged by the broker minus runs committed to PostgreSQL.
: >"$work/lag.tsv"
: >"$work/cpu.tsv"
joined2=0 joined3=0
while kill -0 "$loadgen_pid" 2>/dev/null; do
    elapsed="$(python3 -c "print(f'{$(now) - $t0:.1f}')")"
    printf '%s\t%s\t%s\n' "$elapsed" "$(acked)" "$(committed)" >>"$work/lag.tsv"
    cpu_sample "$elapsed"
    if ((joined2 == 0)) && python3 -c "import sys; sys.exit(0 if $elapsed >= $SCALE_SECONDS / 3 else 1)"; then
        log "==> recorder 2 joins the group at ${elapsed}s"
        start_recorder 2
        joined2=1
    fi
    if ((joined3 == 0)) && python3 -c "import sys; sys.exit(0 if $elapsed >= 2 * $SCALE_SECONDS / 3 else 1)"; then
        log "==> recorder 3 joins the group at ${elapsed}s"
        start_recorder 3
        joined3=1
    fi
    sleep 2
done
loadgen_rc=0
wait "$loadgen_pid" || loadgen_rc=$?
[[ -s "$work/loadgen.json" ]] || die "the load generator failed (exit $loadgen_rc); see $work/loadgen.log"
publish_end="$(now)"
total="$(python3 -c "import json; print(json.load(open('$work/loadgen.json'))['acked_runs'])")"
log "==> publishing done ($total runs acknowledged); waiting for the recorders to drain"
drained=""
for _ in $(seq $((DRAIN_TIMEOUT_SECS / 2))); do
    c="$(committed)"
    elapsed="$(python3 -c "print(f'{$(now) - $t0:.1f}')")"
    printf '%s\t%s\t%s\n' "$elapsed" "$total" "$c" >>"$work/lag.tsv"
    if ((c >= total)); then
        drained="$(now)"
        break
    fi
    sleep 2
done
echo "${drained:-}" >"$work/drained"
echo "$publish_end" >"$work/publish_end"
for n in 1 2 3; do
    [[ -s "$work/recorder-$n.port" ]] || continue
    curl -sf "http://127.0.0.1:$(cat "$work/recorder-$n.port")/metrics" >"$work/recorder-$n.metrics" || true
done
now >"$work/stopping"
for n in 1 2 3; do
    [[ -s "$work/recorder-$n.pid" ]] || continue
    kill -TERM "$(cat "$work/recorder-$n.pid")" 2>/dev/null || true
    wait "$(cat "$work/recorder-$n.pid")" 2>/dev/null || true
done

log "==> checking every published run against PostgreSQL and measuring its size"
psql_db <<SQL >/dev/null
CREATE TABLE bench_published (run_id uuid, host text, probe text, samples int);
\copy bench_published FROM '$work/published.tsv'
$([[ -s "$work/warmup.tsv" ]] && echo "\\copy bench_published FROM '$work/warmup.tsv'")
SQL
psql_db -tA -F $'\t' >"$work/check.tsv" <<'SQL'
SELECT
    (SELECT count(*) FROM bench_published),
    (SELECT count(DISTINCT run_id) FROM bench_published),
    (SELECT coalesce(sum(samples), 0) FROM bench_published),
    (SELECT count(*) FROM probe_run),
    (SELECT count(*) FROM bench_published p WHERE NOT EXISTS (SELECT 1 FROM probe_run r WHERE r.run_id = p.run_id)),
    (SELECT count(*) FROM probe_run r WHERE NOT EXISTS (SELECT 1 FROM bench_published p WHERE p.run_id = r.run_id)),
    (SELECT count(*) FROM measurement),
    (SELECT count(*) FROM dead_letter),
    (SELECT count(DISTINCT host) FROM probe_run),
    (SELECT count(*) FROM series);
SQL
# Sizes of everything a day of runs grows (tables, their indexes and TOAST), and of the
# series table, which grows with the fleet rather than with time.
psql_db -tA -F $'\t' >"$work/sizes.tsv" <<'SQL'
SELECT
    (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('measurement') WHERE isleaf),
    (SELECT coalesce(sum(pg_indexes_size(relid)), 0) FROM pg_partition_tree('measurement') WHERE isleaf),
    pg_total_relation_size('probe_run'),
    pg_indexes_size('probe_run'),
    pg_total_relation_size('series'),
    pg_total_relation_size('kafka_offset') + pg_total_relation_size('dead_letter'),
    (SELECT count(*) FROM pg_partition_tree('measurement') WHERE isleaf);
SQL
drop_db

stamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r)"
commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit (with uncommitted changes)"
fi
report="$out_dir/scale-$stamp.md"
python3 "$STACK_DIR/bench-scale-report.py" "$work" \
    --stamp "$stamp" --commit "$commit" --machine "$machine" --load-before "$load_before" \
    --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" --seconds "$SCALE_SECONDS" --partitions "$PARTITIONS" \
    >"$report" || die "the report failed; the run's files are in $work"
cp "$report" "$out_dir/scale-latest.md"
{ echo; cat "$report"; } >>"$out_dir/scale-history.md"
cat "$report"
log "written to $report and appended to $out_dir/scale-history.md"
