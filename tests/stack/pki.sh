#!/usr/bin/env bash
# Make the test PKI under .dev/pki once (kept across `just down`):
#   ca.pem, ca.key                     the stack's CA
#   broker.pem, broker.key             server cert of the TLS front (SAN localhost, 127.0.0.1)
#   postgres.pem, postgres.key         server cert of PostgreSQL (same SANs)
#   host/, recorder/                   client dirs in the layout hosted Kafka services hand out:
#                                      ca.pem, service.cert, service.key
#   wrong/                             same layout, but CA and client cert from an unrelated CA,
#                                      for tests that must be refused
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f "$PKI/.complete" ]] && exit 0
# Tests starting private instances may call this concurrently on a fresh checkout: one
# makes the PKI, the others wait and use it.
mkdir -p "$DEV"
exec 8>"$DEV/pki.lock"
flock -w 60 8 || die "another pki.sh holds $DEV/pki.lock for 60s"
[[ -f "$PKI/.complete" ]] && exit 0

command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install openssl)"
log "pki: creating test PKI in $PKI"
mkdir -p "$DEV"
# Build in a scratch dir and move it into place, so an interrupted run leaves no half PKI.
work="$(mktemp -d "$DEV/pki.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
days=3650

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# new_ca DIR NAME: self-signed CA at DIR/NAME.pem, DIR/NAME.key
new_ca() {
    local dir="$1" name="$2" cn="$3"
    new_key "$dir/$name.key"
    openssl req -x509 -new -key "$dir/$name.key" -sha256 -days "$days" -subj "/O=Sonde test/CN=$cn" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/$name.pem" 2>/dev/null
}

# issue CA_PREFIX OUT_CERT OUT_KEY CN KIND(server|client)
issue() {
    local ca="$1" cert="$2" key="$3" cn="$4" kind="$5" ext="$work/ext.cnf"
    new_key "$key"
    if [[ "$kind" == server ]]; then
        printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" \
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" >"$ext"
    else
        printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=clientAuth" >"$ext"
    fi
    openssl req -new -key "$key" -subj "/O=Sonde test/CN=$cn" -out "$work/req.csr" 2>/dev/null
    openssl x509 -req -in "$work/req.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
        -days "$days" -sha256 -extfile "$ext" -out "$cert" 2>/dev/null
    rm -f "$work/req.csr" "$ext"
}

# client_dir DIR CA_PREFIX CN: the ca.pem / service.cert / service.key layout
client_dir() {
    local dir="$work/$1" ca="$2" cn="$3"
    mkdir -p "$dir"
    cp "$ca.pem" "$dir/ca.pem"
    issue "$ca" "$dir/service.cert" "$dir/service.key" "$cn" client
}

new_ca "$work" ca "Sonde test CA"
issue "$work/ca" "$work/broker.pem" "$work/broker.key" localhost server
issue "$work/ca" "$work/postgres.pem" "$work/postgres.key" localhost server
client_dir host "$work/ca" host
client_dir recorder "$work/ca" recorder

new_ca "$work" wrong-ca "Unrelated CA"
client_dir wrong "$work/wrong-ca" host

rm -f "$work"/*.srl
chmod 600 "$work"/*.key "$work"/*/service.key
chmod 755 "$work"
touch "$work/.complete"
rm -rf "$PKI"
mv "$work" "$PKI"
trap - EXIT
