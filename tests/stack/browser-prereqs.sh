#!/usr/bin/env bash
# Check, and install where possible, the browser the report test opens its page in:
# Chromium (Debian package `chromium`). Only `just test` and `just prereqs` need it, so the
# stack scripts (`just up`, `just demo`) do not pull it in. Fast and silent when present.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if chromium_bin >/dev/null; then
    exit 0
fi
if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "prereqs: installing Debian package chromium (for the report's browser test)"
    if apt-get update -qq >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 &&
        chromium_bin >/dev/null; then
        exit 0
    fi
    die "prereqs: apt-get install chromium failed; the report's browser test needs it"
fi
die "prereqs: chromium is missing; run as root: apt-get install chromium (or set SONDE_CHROMIUM to a Chromium binary)"
