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

# A Kafka ApiVersions round trip through the front with the host client cert, verifying the
# broker's certificate and host name: proves TLS, stunnel's forwarding and tansu together.
kafka_over_tls() {
    local port="$1"
    timeout 15 python3 - "$port" "$PKI" >/dev/null 2>&1 <<'PY'
import socket, ssl, struct, sys

port, pki = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.pem")
ctx.load_cert_chain(f"{pki}/host/service.cert", f"{pki}/host/service.key")
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        # ApiVersions v0: api_key 18, version 0, correlation id 7, client id "up".
        body = struct.pack(">hhih", 18, 0, 7, 2) + b"up"
        tls.sendall(struct.pack(">i", len(body)) + body)
        head = b""
        while len(head) < 8:
            chunk = tls.recv(8 - len(head))
            if not chunk:
                sys.exit("connection closed before a response")
            head += chunk
        size, correlation = struct.unpack(">ii", head)
        sys.exit(0 if correlation == 7 and size > 4 else "unexpected response")
PY
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
        kafka_over_tls "$tls" || die "TLS front in $state runs (pid $pid) but no Kafka response over TLS on 127.0.0.1:$tls; see $state/stunnel.log"
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
        kafka_over_tls "$tls" && break
        ((i < 99)) || die "no Kafka response over TLS on 127.0.0.1:$tls using $PKI/host; see $state/stunnel.log and $state/tansu.log"
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
