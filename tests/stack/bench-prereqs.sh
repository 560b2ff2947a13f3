#!/usr/bin/env bash
# Installs what `just bench` compares against: collectd (cpu, memory, interface, write_kafka),
# nginx, prometheus-blackbox-exporter (Debian packages) and a Python venv with kafka-python,
# psycopg2 and confluent-kafka (whose librdkafka collectd's write_kafka needs: Debian's 2.0.2
# cannot talk to the local broker).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_pkgs=()
[[ -x /usr/sbin/collectd && -f /usr/lib/collectd/write_kafka.so ]] || need_pkgs+=(collectd-core)
dpkg -s libyajl2 >/dev/null 2>&1 || need_pkgs+=(libyajl2)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx-light)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need_pkgs+=(prometheus-blackbox-exporter)
command -v perf >/dev/null 2>&1 || need_pkgs+=(linux-perf)
if ((${#need_pkgs[@]})); then
    [[ "$(id -u)" == 0 ]] || die "bench needs Debian packages ${need_pkgs[*]}: run as root or install them"
    log "installing ${need_pkgs[*]}"
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null \
        || die "apt-get install ${need_pkgs[*]} failed"
fi

venv="$DEV/bench-venv"
if ! "$venv/bin/python" -c 'import kafka, psycopg2, confluent_kafka' 2>/dev/null; then
    log "creating $venv (kafka-python, psycopg2-binary, confluent-kafka)"
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install -q kafka-python psycopg2-binary confluent-kafka || die "pip install of bench tools failed"
fi

# collectd's write_kafka links librdkafka.so.1: point it at the wheel's librdkafka.
libdir="$DEV/bench-lib"
mkdir -p "$libdir"
wheel_lib="$(ls "$venv"/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -n1 || true)"
[[ -n "$wheel_lib" ]] || die "confluent-kafka wheel ships no librdkafka under $venv"
ln -sf "$wheel_lib" "$libdir/librdkafka.so.1"
