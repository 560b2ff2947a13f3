#!/usr/bin/env bash
# `just demo`: build everything, start the local stack, run the host with the four probes
# (http-check against a local page with a regex) and the recorder for a while, then print
# what landed in PostgreSQL and write the HTML report (its path is the last line printed).
# Stops what it started (the stack only if the demo started it).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO_SECONDS="${DEMO_SECONDS:-20}"
demo="$DEV/demo"
mkdir -p "$demo"

stack_was_up=0
if [[ -f "$DEV/env" ]] && live_pid "$DEV/broker/stunnel.pid" stunnel >/dev/null 2>&1 \
    && port_listening "${SONDE_STACK_PG_PORT:-55432}"; then
    stack_was_up=1
fi

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "$stack_was_up" == 0 ]]; then
        "$STACK_DIR/down.sh" || true
    fi
}
trap cleanup EXIT

log "==> building probes, host and recorder (release)"
"$STACK_DIR/build-probes.sh" >"$demo/build-probes.log" 2>&1 || die "building probes failed; see $demo/build-probes.log"
(cd "$ROOT" && cargo build --release -q -p sonde-host -p sonde-recorder) || die "cargo build failed"
host_bin="$ROOT/target/release/host"
recorder_bin="$ROOT/target/release/recorder"

log "==> starting the local stack"
"$STACK_DIR/up.sh"
set -a
# shellcheck disable=SC1091
source "$DEV/env"
set +a

# A local page for http-check to look at.
web_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$demo/www"
printf '<html><body><h1>Sonde demo</h1><p>status: all systems nominal</p></body></html>\n' >"$demo/www/index.html"
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$demo/www" >"$demo/web.log" 2>&1 &
pids+=("$!")

db="sonde_demo"
topic="sonde.demo.$(date +%s)"
PGPASSWORD="$(cat "$SONDE_PG_PASSWORDFILE")" psql -q \
    "host=$SONDE_PG_HOST port=$SONDE_PG_PORT user=$SONDE_PG_USER dbname=$SONDE_PG_DATABASE sslmode=verify-full sslrootcert=$SONDE_PG_ROOTCERT" \
    -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null

cat >"$demo/host.toml" <<TOML
probe_dirs = ["$ROOT/probes"]

[[job]]
probe = "cpu"
interval_ms = 2000

[[job]]
probe = "memory"
interval_ms = 2000

[[job]]
probe = "bandwidth"
interval_ms = 2000

[[job]]
name = "demo-page"
probe = "http-check"
interval_ms = 2000
allow_http = ["http://127.0.0.1:$web_port"]
params = { url = "http://127.0.0.1:$web_port/", regex = "all systems (nominal|go)" }

[kafka]
brokers = "$SONDE_KAFKA_BROKERS"
topic = "$topic"
cert_dir = "$SONDE_HOST_CERT_DIR"
spool_dir = "$demo/spool"
TOML

recorder_ini "$topic" sonde-demo "$db" 500 >"$demo/recorder.ini"

log "==> running host and recorder for ${DEMO_SECONDS}s (logs in $demo)"
"$recorder_bin" --config "$demo/recorder.ini" >"$demo/recorder.log" 2>&1 &
recorder_pid=$!
pids+=("$recorder_pid")
"$host_bin" --config "$demo/host.toml" >"$demo/host.log" 2>&1 &
host_pid=$!
pids+=("$host_pid")

sleep "$DEMO_SECONDS"
kill -TERM "$host_pid" 2>/dev/null || true
wait "$host_pid" 2>/dev/null || true
# Give the recorder a moment to commit the last batch, then stop it cleanly.
sleep 3
kill -TERM "$recorder_pid" 2>/dev/null || true
wait "$recorder_pid" 2>/dev/null || true

psql_demo() {
    PGPASSWORD="$(cat "$SONDE_PG_PASSWORDFILE")" psql -X -P pager=off \
        "host=$SONDE_PG_HOST port=$SONDE_PG_PORT user=$SONDE_PG_USER dbname=$db sslmode=verify-full sslrootcert=$SONDE_PG_ROOTCERT" "$@"
}

echo
echo "== runs and samples per probe =="
psql_demo -c "SELECT r.probe, count(DISTINCT r.run_id) AS runs,
                     count(*) FILTER (WHERE r.status = 'error') AS failed_runs,
                     (SELECT count(*) FROM measurement m JOIN series s ON s.id = m.series_id WHERE s.probe = r.probe) AS samples
              FROM probe_run r GROUP BY r.probe ORDER BY r.probe"
echo "== latest values (cpu total, memory, loopback byte rate, http) =="
psql_demo -c "SELECT DISTINCT ON (s.probe, s.metric, s.labels) s.probe, s.metric, s.labels::text AS labels,
                     round(m.value::numeric, 4) AS value, s.unit, m.time
              FROM measurement m JOIN series s ON s.id = m.series_id
              WHERE (s.probe = 'cpu' AND s.labels->>'cpu' = 'total' AND s.labels->>'state' IN ('user', 'system', 'idle', 'iowait'))
                 OR (s.probe = 'memory' AND s.metric IN ('system.memory.utilization', 'system.memory.usage', 'system.memory.linux.available'))
                 OR (s.probe = 'bandwidth' AND s.metric = 'sonde.network.io.rate' AND s.labels->>'interface' = 'lo')
                 OR (s.probe = 'http-check' AND s.metric <> 'sonde.http.check.duration')
                 OR (s.probe = 'http-check' AND s.labels->>'phase' IN ('total', 'first_byte'))
              ORDER BY s.probe, s.metric, s.labels, m.time DESC"
echo "== failed runs =="
psql_demo -c "SELECT probe, job, started_at, error FROM probe_run WHERE status = 'error' ORDER BY started_at DESC LIMIT 10"
echo "== dead letters =="
psql_demo -c "SELECT count(*) AS dead_letters FROM dead_letter"

runs="$(psql_demo -tA -c "SELECT count(*) FROM probe_run")"
[[ "$runs" -gt 0 ]] || die "no runs reached PostgreSQL; see $demo/host.log and $demo/recorder.log"
log "demo done: $runs runs recorded in database $db (logs and configs in $demo)"
report="$ROOT/target/report/sonde-report.html"
mkdir -p "$(dirname "$report")"
"$recorder_bin" report --config "$demo/recorder.ini" --since 10m --out "$report" >"$demo/report.log" 2>&1 ||
    die "recorder report failed; see $demo/report.log"
echo "== report (open it in a browser; \`just report\` writes it again) =="
echo "$report"
