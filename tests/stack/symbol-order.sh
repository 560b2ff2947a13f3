#!/usr/bin/env bash
# Writes host/symbol-order.txt: the functions of the release host that a running host
# executes, which host/build.rs has the linker place together (docs/performance.md).
#
# Two profiles of the release host under valgrind's callgrind: compiling the bench's probes
# (cpu, memory, bandwidth) into an empty cache, then SYMBOL_ORDER_SECONDS (55) of running
# them at 1 s from that cache, publishing to the local broker over mutual TLS, start-up and
# shutdown included. The list holds every function of the executable the second profile
# ran, then those only the first ran, each group in the order the linker last placed them:
# a host starting from its cache touches only the first part. Rerun after changing the
# host's code, the toolchain or a dependency: names change with them (the bench's host
# section says how many listed functions the binary still has), and a function no longer
# found is laid out as before, so a stale list links and only packs less.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench-lib.sh
source "$STACK_DIR/bench-lib.sh"

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
bench_host_toml "$work" sonde.symbol-order 1000 >"$work/host.toml"
# First profile: compiling the probes into the cache (and one run of each). This runs under
# valgrind too: the cache key holds the CPU features the engine detected, and valgrind's
# virtual CPU has other features than the machine, so probes compiled natively would be
# compiled again inside the steady-state profile.
log "==> compiling the probes under callgrind"
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/compile.out" \
    "$host" --probes "$ROOT"/probes/{cpu,memory,bandwidth}.wasm --cache-dir "$work/cache" --once \
    >/dev/null 2>"$work/compile.log" ||
    die "the host could not compile and run its probes under valgrind: $(tail -n3 "$work/compile.log")"
cache_entries() { find "$work/cache" -name '*.cwasm' | wc -l; }
[[ "$(cache_entries)" == 3 ]] || die "expected 3 compiled probes in $work/cache, found $(cache_entries)"

log "==> running the host under callgrind for ${seconds} s"
status=0
timeout -s INT "$seconds" valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    "$host" --config "$work/host.toml" >/dev/null 2>"$work/host.log" || status=$?
[[ "$status" == 124 || "$status" == 0 ]] || die "the host under valgrind exited with $status; see $work/host.log"
grep -Eq 'runs ok=[1-9]' "$work/host.log" || die "the host ran no job under valgrind: $(tail -n3 "$work/host.log")"
# The steady-state profile must be that of a host loading from its cache.
[[ "$(cache_entries)" == 3 ]] ||
    die "the host compiled again under callgrind ($(cache_entries) cache entries): the profile would hold the compiler"

# The list: the functions the running host executed, then those only compiling executed (a
# host whose cache is cold runs both, one that starts from its cache only the first), each
# group in the order the linker last placed them.
python3 - "$work/callgrind.out" "$work/compile.out" "$host" "$out" <<'PY'
import re, subprocess, sys
steady, compiling, binary, out = sys.argv[1:]
# callgrind names objects and functions once, as "(id) name", then by "(id)" alone.
pattern = re.compile(r"(c?fn|c?ob)=\((\d+)\)(?: (.*))?$")


def ran(profile):
    objects, functions, current, names = {}, {}, None, set()
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
                names.add(functions[ident])
    return names


hot = ran(steady)
compile_only = ran(compiling) - hot
placed = []
for line in subprocess.run(["nm", "-n", "-S", "--defined-only", binary],
                           capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "tTwW" and (f[3] in hot or f[3] in compile_only):
        placed.append((f[3] in compile_only, int(f[0], 16), int(f[1], 16), f[3]))
placed.sort()
names = list(dict.fromkeys(name for _, _, _, name in placed))
open(out, "w").write("\n".join(names) + "\n")


def mb(late):
    return sum(size for group, _, size, _ in placed if group == late) / 1048576


print(f"{len(names)} functions written to {out}: {mb(False):.1f} MB of code the running host "
      f"executed, then {mb(True):.1f} MB only compiling executed")
PY
