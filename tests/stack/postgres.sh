#!/usr/bin/env bash
# A PostgreSQL 15 cluster of our own, SSL only over TCP.
#
#   postgres.sh start   STATEDIR PORT   initdb on first use, start, wait until an SSL login works
#   postgres.sh stop    STATEDIR        fast shutdown, wait until the port is free
#   postgres.sh restart STATEDIR        fast restart (fault drills), waits for SSL login again
#   postgres.sh status  STATEDIR        exit 0 when running
#
# STATEDIR holds data/ (owned by the unprivileged server account), password (role `sonde`,
# mode 600), port, postgres.pid, postgres.log. Certificates come from .dev/pki (pki.sh).
# Private instances for fault drills use their own STATEDIR and PORT.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { die "usage: postgres.sh start STATEDIR PORT | stop STATEDIR | restart STATEDIR | status STATEDIR"; }

cmd="${1:-}"
[[ -n "${2:-}" ]] || usage
state="$(abs_dir "$2")"
data="$state/data"
run="$state/run"
pidfile="$state/postgres.pid"
logfile="$state/postgres.log"

# Run a server binary as the unprivileged account (PostgreSQL refuses to run as root).
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_os_user() {
    [[ $EUID -eq 0 ]] || return 0
    id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
    log "postgres: creating system user $PG_OS_USER to run the server"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" ||
        die "cannot create system user $PG_OS_USER (set SONDE_PG_OS_USER to an existing unprivileged user)"
}

# The server account must be able to reach STATEDIR: every parent needs o+x.
check_traversable() {
    [[ $EUID -eq 0 ]] || return 0
    as_pg test -x "$state" || die "$PG_OS_USER cannot reach $state (a parent directory lacks o+x); move the checkout or chmod o+x its parents"
}

ssl_login() {
    local port="$1"
    PGPASSWORD="$(cat "$state/password")" PGCONNECT_TIMEOUT=5 "$(pg_client_bin psql)" -XAtq \
        "host=localhost port=$port user=sonde dbname=sonde sslmode=verify-full sslrootcert=$PKI/ca.pem" \
        -c 'select 1' >/dev/null 2>&1
}

write_config() {
    local port="$1" durability
    # A throwaway test cluster: durability against OS crashes is not needed, speed is.
    # SONDE_PG_DURABLE=1 (used by `just bench`) keeps PostgreSQL's durable defaults, so
    # commit costs are what a real server pays, and records each transaction's commit time
    # (the bench's end-to-end latency ends at pg_xact_commit_timestamp of the row's xmin).
    if [[ "${SONDE_PG_DURABLE:-0}" == 1 ]]; then
        durability="fsync = on
synchronous_commit = on
full_page_writes = on
track_commit_timestamp = on"
    else
        durability="fsync = off
synchronous_commit = off
full_page_writes = off"
    fi
    # Copied into data/ because the server insists on owning its key with mode 600.
    install -m 644 -o "$(as_pg id -u)" "$PKI/postgres.pem" "$data/server.crt"
    install -m 600 -o "$(as_pg id -u)" "$PKI/postgres.key" "$data/server.key"
    as_pg tee "$data/sonde.conf" >/dev/null <<EOF
# Written by tests/stack/postgres.sh at every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$run'
unix_socket_permissions = 0700
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
password_encryption = 'scram-sha-256'
max_connections = 200
$durability
logging_collector = off
log_connections = off
EOF
    # Unix socket (owner only, see unix_socket_permissions) for administration;
    # TCP only with SSL and a password. Anything else, e.g. plain TCP, matches no line.
    as_pg tee "$data/pg_hba.conf" >/dev/null <<'EOF'
local   all all                 peer
hostssl all all 127.0.0.1/32    scram-sha-256
hostssl all all ::1/128         scram-sha-256
EOF
    grep -q "^include_if_exists = 'sonde.conf'" "$data/postgresql.conf" ||
        echo "include_if_exists = 'sonde.conf'" | as_pg tee -a "$data/postgresql.conf" >/dev/null
}

init_cluster() {
    log "postgres: initdb in $data"
    as_pg "$(pg_bin initdb)" -D "$data" --auth-local=peer --auth-host=reject --encoding=UTF8 \
        --locale=C.UTF-8 >"$state/initdb.log" 2>&1 ||
        as_pg "$(pg_bin initdb)" -D "$data" --auth-local=peer --auth-host=reject --encoding=UTF8 \
            --no-locale >"$state/initdb.log" 2>&1 ||
        die "initdb failed; see $state/initdb.log"
}

# Role `sonde` (may create the per-test databases and checkpoint) and database `sonde`;
# password from the file.
provision() {
    local port="$1" pw
    pw="$(cat "$state/password")"
    as_pg "$(pg_client_bin psql)" -XAtq -v ON_ERROR_STOP=1 -h "$run" -p "$port" -d postgres >/dev/null <<EOF
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sonde') AS role_exists \gset
\if :role_exists
ALTER ROLE sonde WITH LOGIN CREATEDB PASSWORD '$pw';
\else
CREATE ROLE sonde WITH LOGIN CREATEDB PASSWORD '$pw';
\endif
-- The ingest bench checkpoints before each side it times.
SELECT NOT pg_has_role('sonde', 'pg_checkpoint', 'MEMBER') AS grant_checkpoint \gset
\if :grant_checkpoint
GRANT pg_checkpoint TO sonde;
\endif
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'sonde') AS db_missing \gset
\if :db_missing
CREATE DATABASE sonde OWNER sonde;
\endif
EOF
}

# Databases tests made (support library, prefix sonde_test_) are dropped when the shared
# server starts: no test can be using them then, and they would pile up run after run.
drop_test_databases() {
    local port="$1"
    as_pg "$(pg_client_bin psql)" -XAtq -v ON_ERROR_STOP=1 -h "$run" -p "$port" -d postgres >/dev/null <<'EOF'
SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname LIKE 'sonde\_test\_%' \gexec
EOF
}

pg_start() {
    local port="$1" pid
    if pid="$(live_pid "$pidfile" postgres)"; then
        [[ "$(cat "$state/port" 2>/dev/null)" == "$port" ]] ||
            die "PostgreSQL in $state already runs (pid $pid) on port $(cat "$state/port" 2>/dev/null); stop it first"
        # Cheap when all is in place; repairs a cluster whose first start was interrupted.
        ssl_login "$port" || { provision "$port" && wait_ready "$port"; }
        log "postgres: already running on 127.0.0.1:$port (pid $pid)"
        return 0
    fi
    port_listening "$port" && die "port $port is already in use by another process (set SONDE_STACK_PG_PORT to move PostgreSQL)"
    for b in initdb pg_ctl postgres; do pg_bin "$b" >/dev/null || die "PostgreSQL 15 $b not found; run tests/stack/prereqs.sh"; done
    [[ -f "$PKI/.complete" ]] || die "no PKI in $PKI; run tests/stack/pki.sh"
    ensure_os_user
    chmod 755 "$state"
    check_traversable
    mkdir -p "$run"
    chown "$(as_pg id -u):$(as_pg id -g)" "$run"
    chmod 700 "$run"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        rm -rf "$data"
        install -d -m 700 -o "$(as_pg id -u)" -g "$(as_pg id -g)" "$data"
        init_cluster
    fi
    if [[ ! -s "$state/password" ]]; then
        (umask 077 && openssl rand -hex 24 >"$state/password")
    fi
    chmod 600 "$state/password"
    write_config "$port"
    echo "$port" >"$state/port"
    touch "$logfile"
    chown "$(as_pg id -u)" "$logfile"
    as_pg "$(pg_bin pg_ctl)" -D "$data" -l "$logfile" -w -t 60 start >/dev/null ||
        die "PostgreSQL did not start; last lines of $logfile:
$(tail -n 20 "$logfile")"
    head -n1 "$data/postmaster.pid" >"$pidfile"
    provision "$port"
    # Only the shared cluster: private ones belong to a test that may be restarting them.
    [[ "$state" != "$DEV/pg" ]] || drop_test_databases "$port"
    wait_ready "$port"
    log "postgres: running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

wait_ready() {
    local port="$1" i
    for ((i = 0; i < 300; i++)); do
        ssl_login "$port" && return 0
        sleep 0.1
    done
    die "PostgreSQL on port $port does not accept an SSL (verify-full) login as sonde after 30s; see $logfile"
}

pg_stop() {
    local pid port
    port="$(cat "$state/port" 2>/dev/null || true)"
    if pid="$(live_pid "$pidfile" postgres)"; then
        as_pg "$(pg_bin pg_ctl)" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
        stop_pidfile "$pidfile" postgres 30
        log "postgres: stopped (pid $pid)"
    fi
    rm -f "$pidfile"
    [[ -z "$port" ]] || wait_port_free "$port" 30
}

case "$cmd" in
start)
    [[ -n "${3:-}" ]] || usage
    pg_start "$3"
    ;;
stop) pg_stop ;;
restart)
    port="$(cat "$state/port" 2>/dev/null)" || die "no PostgreSQL set up in $state"
    pg_stop
    pg_start "$port"
    ;;
status) live_pid "$pidfile" postgres >/dev/null ;;
*) usage ;;
esac
