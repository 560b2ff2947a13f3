#!/usr/bin/env bash
# Stop exactly what the stack scripts started, by their pid files: the shared stack and any
# private fault-drill instances left under .dev/private/. Waits until their ports are free.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lock_stack

shopt -s nullglob
for dir in "$DEV"/private/*/; do
    [[ -f "$dir/tansu.pid" || -f "$dir/stunnel.pid" ]] && "$STACK_DIR/broker.sh" stop "$dir"
    [[ -f "$dir/postgres.pid" ]] && "$STACK_DIR/postgres.sh" stop "$dir"
done
[[ -d "$DEV/broker" ]] && "$STACK_DIR/broker.sh" stop "$DEV/broker"
[[ -d "$DEV/pg" ]] && "$STACK_DIR/postgres.sh" stop "$DEV/pg"
# Without services the endpoints are stale; tests then say "run `just up`".
rm -f "$DEV/env"
log "stack down"
