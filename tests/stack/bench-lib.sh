# shellcheck shell=bash
# What `just bench` and `just bench-scale` share. Source it after lib.sh; do not run it.

free_tcp_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# libpq connection string for database $1 on the local stack (after bench_take_stack).
pg_dsn() { echo "host=$SONDE_PG_HOST port=$SONDE_PG_PORT user=$SONDE_PG_USER dbname=$1 sslmode=verify-full sslrootcert=$SONDE_PG_ROOTCERT"; }

# Start the stack and hold it for this run: one bench at a time per stack, since two runs
# would restart PostgreSQL under each other and share the cores they measure (fd 7 is
# closed again by lib.sh in every script that starts a daemon, so no service outlives the
# run holding it). PostgreSQL runs with its durable defaults (the test stack runs with fsync
# off) until restore_pg, which the caller's exit trap runs. Exports the stack's endpoints.
bench_take_stack() {
    "$STACK_DIR/up.sh"
    exec 7>"$DEV/bench.lock"
    if ! flock -n 7; then
        log "==> another bench is running on this stack; waiting for it"
        flock 7
    fi
    SONDE_PG_DURABLE=1 "$STACK_DIR/postgres.sh" restart "$DEV/pg" >/dev/null
    restore_pg() { "$STACK_DIR/postgres.sh" restart "$DEV/pg" >/dev/null || true; }
    set -a
    # shellcheck disable=SC1091
    source "$DEV/env"
    set +a
    export PGPASSWORD
    PGPASSWORD="$(cat "$SONDE_PG_PASSWORDFILE")"
}

# host_kafka_toml TOPIC DIR [OPTIONS]: the [kafka] table of a bench host.toml, mutual TLS to
# the local broker, spool in DIR/spool, OPTIONS an inline table of librdkafka settings.
host_kafka_toml() {
    cat <<TOML
[kafka]
brokers = "$SONDE_KAFKA_BROKERS"
topic = "$1"
cert_dir = "$SONDE_HOST_CERT_DIR"
spool_dir = "$2/spool"
TOML
    [[ -z "${3:-}" ]] || echo "options = $3"
}

# bench_host_toml DIR TOPIC INTERVAL_MS: the host.toml of the bench's host row, cpu, memory
# and bandwidth every INTERVAL_MS published to TOPIC, cache and spool in DIR. `just
# symbol-order` profiles the same host, so the code layout fits what the bench measures.
bench_host_toml() {
    local probe
    echo "probe_dirs = [\"$ROOT/probes\"]"
    echo "cache_dir = \"$1/cache\""
    for probe in cpu memory bandwidth; do
        printf '[[job]]\nprobe = "%s"\ninterval_ms = %d\n' "$probe" "$3"
    done
    host_kafka_toml "$2" "$1"
}
