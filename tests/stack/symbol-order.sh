#!/usr/bin/env bash
# Writes host/symbol-order.txt: the functions of the release host that a running host
# executes, which host/build.rs has the linker place together (docs/performance.md).
#
# Runs the release host under valgrind's callgrind for SYMBOL_ORDER_SECONDS (55) with the
# bench's jobs (cpu, memory and bandwidth at 1 s, published to the local broker over mutual
# TLS), start-up and shutdown included, and lists every function of the executable that ran,
# in the order the linker last placed them. Rerun after a toolchain or dependency update:
# functions renamed since are skipped at link time, so a stale order only packs less.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seconds="${SYMBOL_ORDER_SECONDS:-55}"
out="$ROOT/host/symbol-order.txt"

if ! command -v valgrind >/dev/null 2>&1; then
    [[ "$(id -u)" == 0 ]] || die "symbol-order needs valgrind (Debian package valgrind): run as root or install it"
    log "installing valgrind"
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null \
        || die "apt-get install valgrind failed"
fi
"$STACK_DIR/up.sh" >/dev/null
"$STACK_DIR/build-probes.sh" >/dev/null
# Built as `just build`, `just package` and the bench build it, host and recorder together:
# symbol names carry a hash of each crate's features, which differ when the host is built alone.
(cd "$ROOT" && cargo build --release -q -p sonde-host -p sonde-recorder) ||
    die "cargo build --release -p sonde-host -p sonde-recorder failed"
host="$ROOT/target/release/host"

# shellcheck disable=SC1091
source <(grep -v '^#' "$DEV/env" | sed 's/^/export /')
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
{
    echo "probe_dirs = [\"$ROOT/probes\"]"
    echo "cache_dir = \"$work/cache\""
    for probe in cpu memory bandwidth; do
        printf '[[job]]\nprobe = "%s"\ninterval_ms = 1000\n' "$probe"
    done
    printf '[kafka]\nbrokers = "%s"\ntopic = "sonde.symbol-order"\ncert_dir = "%s"\nspool_dir = "%s/spool"\n' \
        "$SONDE_KAFKA_BROKERS" "$SONDE_HOST_CERT_DIR" "$work"
} >"$work/host.toml"
# Compile the probes first, so the profile is that of a host loading from its cache.
"$host" --probes "$ROOT"/probes/{cpu,memory,bandwidth}.wasm --cache-dir "$work/cache" --once >/dev/null \
    || die "the host could not run its probes once; see above"

log "==> running the host under callgrind for ${seconds} s"
status=0
timeout -s INT "$seconds" valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    "$host" --config "$work/host.toml" >/dev/null 2>"$work/host.log" || status=$?
[[ "$status" == 124 || "$status" == 0 ]] || die "the host under valgrind exited with $status; see $work/host.log"
grep -Eq 'runs ok=[1-9]' "$work/host.log" || die "the host ran no job under valgrind: $(tail -n3 "$work/host.log")"

python3 - "$work/callgrind.out" "$host" "$out" <<'PY'
import re, subprocess, sys
profile, binary, out = sys.argv[1:]
# callgrind names objects and functions once, as "(id) name", then by "(id)" alone.
objects, functions, current, ran = {}, {}, None, set()
pattern = re.compile(r"(c?fn|c?ob)=\((\d+)\)(?: (.*))?$")
for line in open(profile, errors="replace"):
    m = pattern.match(line.strip())
    if not m:
        continue
    kind, ident, name = m.groups()
    if kind in ("ob", "cob"):
        if name:
            objects[ident] = name
        if kind == "ob":
            current = objects.get(ident)
    else:
        if name:
            functions[ident] = name
        if kind == "fn" and current == binary:
            ran.add(functions[ident])
placed = []
for line in subprocess.run(["nm", "-n", "-S", "--defined-only", binary],
                           capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "tTwW" and f[3] in ran:
        placed.append((int(f[0], 16), int(f[1], 16), f[3]))
names = list(dict.fromkeys(name for _, _, name in sorted(placed)))
open(out, "w").write("\n".join(names) + "\n")
size = sum(s for _, s, _ in placed)
print(f"{len(names)} functions ran ({size / 1048576:.1f} MB of code); written to {out}")
PY
