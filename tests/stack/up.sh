#!/usr/bin/env bash
# Start the local stack (idempotent): PKI, PostgreSQL with SSL, tansu behind a mutual-TLS front.
# Writes .dev/env with the endpoints for tests, demo and bench, and prints them.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lock_stack

"$STACK_DIR/prereqs.sh"
"$STACK_DIR/pki.sh"
"$STACK_DIR/postgres.sh" start "$DEV/pg" "$PG_PORT_DEFAULT"
"$STACK_DIR/broker.sh" start "$DEV/broker" "$KAFKA_PLAIN_PORT_DEFAULT" "$KAFKA_TLS_PORT_DEFAULT"

tmp="$DEV/env.tmp"
cat >"$tmp" <<ENV
# Written by tests/stack/up.sh. Variables set in the environment take precedence over this file.
SONDE_KAFKA_BROKERS=127.0.0.1:$KAFKA_TLS_PORT_DEFAULT
SONDE_KAFKA_PLAIN=127.0.0.1:$KAFKA_PLAIN_PORT_DEFAULT
SONDE_KAFKA_CA=$PKI/ca.pem
SONDE_HOST_CERT_DIR=$PKI/host
SONDE_RECORDER_CERT_DIR=$PKI/recorder
SONDE_WRONG_CERT_DIR=$PKI/wrong
SONDE_PG_HOST=localhost
SONDE_PG_PORT=$PG_PORT_DEFAULT
SONDE_PG_USER=sonde
SONDE_PG_DATABASE=sonde
SONDE_PG_PASSWORDFILE=$DEV/pg/password
SONDE_PG_ROOTCERT=$PKI/ca.pem
SONDE_PKI_DIR=$PKI
SONDE_TANSU_BIN=$(tansu_bin)
SONDE_STUNNEL_BIN=$(stunnel_bin)
ENV
mv "$tmp" "$DEV/env"

cat >&2 <<MSG
stack up (state in $DEV, endpoints in $DEV/env):
  Kafka (mutual TLS)  127.0.0.1:$KAFKA_TLS_PORT_DEFAULT   client certs: $PKI/host, $PKI/recorder
  Kafka (plain, loopback only, tests/bench)  127.0.0.1:$KAFKA_PLAIN_PORT_DEFAULT
  PostgreSQL (SSL)    localhost:$PG_PORT_DEFAULT  user sonde, db sonde, password file $DEV/pg/password, root cert $PKI/ca.pem
MSG
