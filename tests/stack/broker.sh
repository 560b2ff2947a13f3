#!/usr/bin/env bash
# A Kafka-compatible broker (tansu, memory storage) behind a mutual-TLS front (stunnel).
#
#   broker.sh start       STATEDIR PLAIN_PORT TLS_PORT   start tansu and the TLS front, wait for both
#   broker.sh stop        STATEDIR                       stop both, wait until their ports are free
#   broker.sh front-stop  STATEDIR                       stop only the TLS front (simulated outage)
#   broker.sh front-start STATEDIR                       start the TLS front again
#   broker.sh status      STATEDIR                       exit 0 when tansu and the front run
#
# tansu listens on 127.0.0.1:PLAIN_PORT only and advertises 127.0.0.1:TLS_PORT, where stunnel
# accepts TLS from clients whose certificate chains to .dev/pki/ca.pem and forwards to tansu.
# (tansu's own TLS does not handshake with librdkafka.) Memory storage loses everything when
# tansu stops, so outages are simulated by stopping the front, never tansu.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { die "usage: broker.sh start STATEDIR PLAIN_PORT TLS_PORT | stop|front-stop|front-start|status STATEDIR"; }

cmd="${1:-}"
[[ -n "${2:-}" ]] || usage
state="$(abs_dir "$2")"
tansu_pid="$state/tansu.pid"
front_pid="$state/stunnel.pid"

ports() {
    plain="$(sed -n 1p "$state/ports" 2>/dev/null)" && tls="$(sed -n 2p "$state/ports" 2>/dev/null)" &&
        [[ -n "$plain" && -n "$tls" ]] || die "no broker set up in $state (run broker.sh start first)"
}

# A full TLS handshake through the front with the host client cert, verifying the server cert.
tls_handshake() {
    local port="$1"
    openssl s_client -connect "127.0.0.1:$port" -servername localhost -verify_hostname localhost \
        -CAfile "$PKI/ca.pem" -cert "$PKI/host/service.cert" -key "$PKI/host/service.key" \
        -verify_return_error -brief </dev/null >/dev/null 2>&1
}

start_tansu() {
    local pid tansu
    if pid="$(live_pid "$tansu_pid" tansu)"; then
        log "broker: tansu already running on 127.0.0.1:$plain (pid $pid)"
        return 0
    fi
    tansu="$(tansu_bin)" && [[ -x "$tansu" ]] || die "tansu not found; run tests/stack/prereqs.sh or set TANSU_BIN"
    port_listening "$plain" && die "port $plain is already in use by another process (set SONDE_STACK_KAFKA_PLAIN_PORT)"
    # setsid: the broker outlives the calling shell/test and ignores its terminal's signals.
    setsid "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$plain" \
        --advertised-listener-url "tcp://127.0.0.1:$tls" \
        --storage-engine "memory://tansu/" \
        </dev/null >"$state/tansu.log" 2>&1 &
    echo $! >"$tansu_pid"
    wait_port_open "$plain" 30 "tansu" "$state/tansu.log" "$!"
    log "broker: tansu running on 127.0.0.1:$plain, advertising 127.0.0.1:$tls (pid $(cat "$tansu_pid"))"
}

start_front() {
    local pid stunnel i
    if pid="$(live_pid "$front_pid" stunnel)"; then
        tls_handshake "$tls" || die "TLS front in $state runs (pid $pid) but a TLS handshake on 127.0.0.1:$tls fails; see $state/stunnel.log"
        log "broker: TLS front already running on 127.0.0.1:$tls (pid $pid)"
        return 0
    fi
    stunnel="$(stunnel_bin)" || die "stunnel not found; run tests/stack/prereqs.sh (apt-get install stunnel4)"
    port_listening "$tls" && die "port $tls is already in use by another process (set SONDE_STACK_KAFKA_TLS_PORT)"
    cat >"$state/stunnel.conf" <<EOF
; Written by tests/stack/broker.sh: mutual TLS in front of tansu.
foreground = yes
pid =
debug = notice
[kafka]
accept = 127.0.0.1:$tls
connect = 127.0.0.1:$plain
cert = $PKI/broker.pem
key = $PKI/broker.key
CAfile = $PKI/ca.pem
requireCert = yes
verifyChain = yes
sslVersionMin = TLSv1.2
EOF
    setsid "$stunnel" "$state/stunnel.conf" </dev/null >>"$state/stunnel.log" 2>&1 &
    echo $! >"$front_pid"
    wait_port_open "$tls" 30 "stunnel (TLS front)" "$state/stunnel.log" "$!"
    for ((i = 0; i < 100; i++)); do
        tls_handshake "$tls" && break
        ((i < 99)) || die "TLS handshake with 127.0.0.1:$tls using $PKI/host fails; see $state/stunnel.log"
        sleep 0.1
    done
    log "broker: TLS front running on 127.0.0.1:$tls -> 127.0.0.1:$plain (pid $(cat "$front_pid"))"
}

stop_front() {
    stop_pidfile "$front_pid" stunnel
    wait_port_free "$tls" 30
}

case "$cmd" in
start)
    [[ -n "${3:-}" && -n "${4:-}" ]] || usage
    [[ -f "$PKI/.complete" ]] || die "no PKI in $PKI; run tests/stack/pki.sh"
    if [[ -f "$state/ports" ]] && live_pid "$tansu_pid" tansu >/dev/null; then
        ports
        [[ "$plain $tls" == "$3 $4" ]] || die "broker in $state already runs on ports $plain/$tls; stop it first"
    fi
    printf '%s\n%s\n' "$3" "$4" >"$state/ports"
    ports
    start_tansu
    start_front
    ;;
stop)
    if [[ ! -f "$state/ports" ]]; then
        stop_pidfile "$front_pid" stunnel
        stop_pidfile "$tansu_pid" tansu
        exit 0
    fi
    ports
    stop_front
    stop_pidfile "$tansu_pid" tansu
    wait_port_free "$plain" 30
    log "broker: stopped ($state)"
    ;;
front-stop)
    ports
    stop_front
    ;;
front-start)
    ports
    start_front
    ;;
status)
    live_pid "$tansu_pid" tansu >/dev/null && live_pid "$front_pid" stunnel >/dev/null
    ;;
*) usage ;;
esac
