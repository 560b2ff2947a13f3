# shellcheck shell=bash
# The sections of `just bench`; sourced by bench.sh, which provides row/note/cpu_seconds/... helpers.

# Start HOST_BIN with a config, output to a file; echo its pid.
start_host() {
    local config="$1" out="$2"
    "$host_bin" --config "$config" >"$out" 2>"$out.log" &
    echo $!
}

# Create TOPIC with PARTITIONS partitions on the local broker (mutual TLS).
create_topic() {
    "$py" - "$1" "$2" <<PY || die "cannot create topic $1"
import sys
from confluent_kafka.admin import AdminClient, NewTopic
d = "$SONDE_HOST_CERT_DIR"
admin = AdminClient({"bootstrap.servers": "$SONDE_KAFKA_BROKERS", "security.protocol": "ssl",
                     "ssl.ca.location": d + "/ca.pem", "ssl.certificate.location": d + "/service.cert",
                     "ssl.key.location": d + "/service.key"})
for future in admin.create_topics([NewTopic(sys.argv[1], int(sys.argv[2]), 1)]).values():
    future.result(30)
PY
}

# Count what one side published to TOPIC between FROM_MS and TO_MS (Kafka timestamps);
# prints "messages values". Extra arguments go to count_window.py (--collectd).
topic_count() {
    local topic="$1" from_ms="$2" to_ms="$3"
    shift 3
    "$py" "$ROOT/tests/bench/count_window.py" --brokers "$SONDE_KAFKA_BROKERS" --topic "$topic" \
        --cert-dir "$SONDE_HOST_CERT_DIR" --from-ms "$from_ms" --to-ms "$to_ms" "$@" |
        "$py" -c 'import json, sys; d = json.load(sys.stdin); print(d["messages"], d["values"])' ||
        die "cannot count the messages on $topic"
}

# Write back, then drop from the page cache, each of FILES, so both sides map their code
# as read from disk: a freshly linked binary is cached as it was written, in larger blocks
# that are mapped whole, which alone added about 3 MB to the host's RSS.
evict_from_cache() {
    "$py" - "$@" <<'PY' || die "cannot drop the bench binaries from the page cache"
import os, sys
for path in sys.argv[1:]:
    fd = os.open(os.path.realpath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
PY
}

# cpu_window_start PID FILE: count PID's CPU time into FILE until cpu_window_stop; prints
# the counter's PID.
cpu_window_start() {
    perf stat -e task-clock -x, -p "$1" -o "$2" >/dev/null 2>&1 &
    echo $!
}

# cpu_window_stop COUNTER_PID FILE: the CPU seconds counted.
cpu_window_stop() {
    kill -INT "$1" 2>/dev/null || true
    # Started from a command substitution's subshell, perf is not this shell's child to wait for.
    local waited=0
    while kill -0 "$1" 2>/dev/null && ((waited++ < 100)); do sleep 0.05; done
    awk -F, '$3 == "task-clock" {printf "%.4f", ($1 == "<not counted>" ? 0 : $1) / 1000; found = 1}
        END {exit !found}' "$2" || die "perf counted no CPU time into $2"
}

# Sonde and collectd side by side for HOST_SECONDS after a 5 s start-up, cpu + memory +
# network every INTERVAL_S seconds, each publishing to a fresh topic of its own over mutual
# TLS. Sets hp_* (CPU seconds, peak RSS, start-up CPU, and what each published in the window).
host_pair() {
    local interval_s="$1" dir="$2" stamp
    stamp="$(date +%s%N)"
    local topic="bench.host.$stamp" cd_topic="bench.collectd.$stamp"
    mkdir -p "$dir"
    create_topic "$topic" 1
    create_topic "$cd_topic" 1
    bench_host_toml "$dir" "$topic" $((interval_s * 1000)) >"$dir/host.toml"
    cat >"$dir/collectd.conf" <<CONF
Interval $interval_s
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
</Plugin>
LoadPlugin cpu
LoadPlugin memory
LoadPlugin interface
LoadPlugin write_kafka
<Plugin write_kafka>
  Property "metadata.broker.list" "$SONDE_KAFKA_BROKERS"
  Property "security.protocol" "ssl"
  Property "ssl.ca.location" "$SONDE_HOST_CERT_DIR/ca.pem"
  Property "ssl.certificate.location" "$SONDE_HOST_CERT_DIR/service.cert"
  Property "ssl.key.location" "$SONDE_HOST_CERT_DIR/service.key"
  <Topic "$cd_topic">
    Format JSON
  </Topic>
</Plugin>
CONF
    # Compile the probes into the cache first: steady state is what is compared.
    "$host_bin" --probes "$ROOT"/probes/{cpu,memory,bandwidth}.wasm --cache-dir "$dir/cache" --once >/dev/null 2>&1 || true

    local host_pid cd_pid from_ms to_ms
    evict_from_cache "$host_bin" /usr/sbin/collectd "$DEV/bench-lib/librdkafka.so.1" \
        /usr/lib/collectd/{cpu,memory,interface,write_kafka,logfile}.so
    host_pid="$(start_host "$dir/host.toml" "$dir/host.out")"
    pids+=("$host_pid")
    LD_LIBRARY_PATH="$DEV/bench-lib" /usr/sbin/collectd -f -C "$dir/collectd.conf" >"$dir/collectd.out" 2>&1 &
    cd_pid=$!
    pids+=("$cd_pid")
    # Steady state: skip the first 5 s (start-up: engine, probes from the compile cache, TLS).
    sleep 5
    hp_host_start="$(cpu_seconds "$host_pid")"
    hp_cd_start="$(cpu_seconds "$cd_pid")"
    # The window's CPU time is counted by perf (every thread, those started meanwhile too, to
    # the nanosecond): /proc/PID/stat counts in 10 ms ticks, as coarse as an idle host's total.
    local host_perf cd_perf
    host_perf="$(cpu_window_start "$host_pid" "$dir/host.perf")"
    cd_perf="$(cpu_window_start "$cd_pid" "$dir/collectd.perf")"
    from_ms="$(date +%s%3N)"
    sleep "$HOST_SECONDS"
    hp_host_cpu="$(cpu_window_stop "$host_perf" "$dir/host.perf")"
    hp_cd_cpu="$(cpu_window_stop "$cd_perf" "$dir/collectd.perf")"
    to_ms="$(date +%s%3N)"
    hp_host_rss="$(peak_rss_mb "$host_pid")"
    hp_cd_rss="$(peak_rss_mb "$cd_pid")"
    kill -TERM "$host_pid" "$cd_pid" 2>/dev/null || true
    wait "$host_pid" "$cd_pid" 2>/dev/null || true
    # What reached the broker within the window: a side that stopped publishing shows it here.
    read -r hp_runs hp_samples <<<"$(topic_count "$topic" "$from_ms" "$to_ms")"
    read -r hp_cd_messages hp_cd_values <<<"$(topic_count "$cd_topic" "$from_ms" "$to_ms" --collectd)"
    [[ -n "$hp_runs" && -n "$hp_cd_values" ]] || die "cannot count what the host and collectd published to $topic and $cd_topic"
}

# How many of the functions host/symbol-order.txt lists the binary has (names change with
# the code, the toolchain and the dependencies; a function not found is laid out as the
# compiler left it, and each one a running host calls costs resident pages).
symbol_order_match() {
    local list="$ROOT/host/symbol-order.txt" listed found
    [[ -s "$list" ]] || { echo "no host/symbol-order.txt: the host is laid out as the compiler left it"; return; }
    listed="$(sort -u "$list" | wc -l)"
    found="$(comm -12 <(sort -u "$list") <(nm --defined-only "$1" | awk '{print $3}' | sort -u) | wc -l)"
    if [[ "$found" == "$listed" ]]; then
        echo "all $listed functions of host/symbol-order.txt placed together"
    else
        echo "$found of the $listed functions host/symbol-order.txt lists are in this binary; the list is stale, rerun \`just symbol-order\`"
    fi
}

bench_host() {
    log "==> host vs collectd: ${HOST_SECONDS}s each, cpu + memory + network at 1 s, then at 60 s, both publishing to the broker"
    host_pair 1 "$work/host"
    [[ "$hp_runs" -gt 0 && "$hp_cd_values" -gt 0 ]] ||
        die "a side published nothing in the window (Sonde $hp_runs runs, collectd $hp_cd_values values); see $work/host"
    row "host CPU seconds over ${HOST_SECONDS} s steady state (cpu, memory, bandwidth at 1 s → Kafka/mTLS)" \
        "$hp_host_cpu s ($hp_runs runs, $hp_samples samples on its topic)" \
        "collectd: $hp_cd_cpu s ($hp_cd_values values in $hp_cd_messages messages on its topic)" \
        "$(ratio "$hp_host_cpu" "$hp_cd_cpu")×" "≤ 1.0×"
    note "host start-up (first 5 s: engine, three probes from the compile cache, Kafka TLS) used $hp_host_start CPU-s, collectd's $hp_cd_start CPU-s; not in the steady-state row."
    row "peak RSS over the same ${HOST_SECONDS} s" "$hp_host_rss MB" "collectd: $hp_cd_rss MB" "$(ratio "$hp_host_rss" "$hp_cd_rss")×" "≤ 1.5×"
    note "code layout: $(symbol_order_match "$host_bin")"
    host_pair 60 "$work/host-idle"
    row "idle host: CPU seconds over ${HOST_SECONDS} s with the same jobs at 60 s" \
        "$hp_host_cpu s ($hp_runs runs on its topic; peak RSS $hp_host_rss MB)" \
        "collectd at Interval 60: $hp_cd_cpu s ($hp_cd_values values; peak RSS $hp_cd_rss MB)" \
        "$(ratio "$hp_host_cpu" "$hp_cd_cpu")×" "≤ 1.0×"
    note "collectd 5.12 (Debian) with cpu, memory, interface, write_kafka (JSON) to the same TLS broker, librdkafka from the confluent-kafka wheel; each pair ran at the same time, each side to a fresh topic of its own. Runs, samples and values count what reached the broker with a Kafka timestamp inside the measured window (tests/bench/count_window.py)."
}

bench_recorder() {
    log "==> recorder ingest: $((${SONDE_BENCH_RUNS:-100000} * 10)) samples vs psql \\copy vs INSERT+COMMIT per row vs kafka-python+psycopg2"
    local dir="$work/recorder" out
    mkdir -p "$dir"
    out="$(cd "$ROOT" && cargo bench -q -p sonde-recorder --bench ingest 2>"$dir/ingest.log")" \
        || die "recorder ingest bench failed; see $dir/ingest.log"
    printf '%s\n' "$out" >"$dir/ingest.md"
    local result recorder_rate copy_rate per_row_rate topic samples
    result="$(grep '^BENCH_RESULT ' <<<"$out" | tail -n1)"
    [[ -n "$result" ]] || die "recorder ingest bench printed no BENCH_RESULT line; see $dir/ingest.md"
    eval "${result#BENCH_RESULT }"
    # shellcheck disable=SC2154  # set by the eval above
    row "recorder ingest, samples/s (Kafka mTLS → PostgreSQL SSL, binary COPY, exactly-once; both sides from first data to last commit, start-up excluded)" \
        "$recorder_rate" "psql \\copy: $copy_rate" "$(ratio "$recorder_rate" "$copy_rate")×" "≥ 0.8×"
    # shellcheck disable=SC2154  # set by the eval above
    note "recorder ingest: start-up (recorder: process start to partitions assigned; psql: process start to the \\copy) is excluded on both sides: recorder $recorder_startup_secs s, psql $copy_startup_secs s. Counted from process start: recorder $recorder_rate_from_start samples/s, psql \\copy $copy_rate_from_start ($(ratio "$recorder_rate_from_start" "$copy_rate_from_start")×). The row is the median of rounds whose ratios were ${round_ratios//,/, }; the recorder used $recorder_cpu_secs CPU-seconds for its $samples samples in that round. Each side starts right after a CHECKPOINT; WAL written in the timed window: recorder $recorder_wal_mb MB (with its probe_run rows and offsets), psql \\copy $copy_wal_mb MB."
    row "recorder ingest vs one INSERT + COMMIT per row" \
        "$recorder_rate" "per-row: $per_row_rate" "$(ratio "$recorder_rate" "$per_row_rate")×" "≥ 50×"

    # The earlier systems' consumer, on the same pre-filled topic, for a fixed time budget.
    local db="sonde_bench_seed" seed seed_rate
    fresh_db "$db"
    seed="$("$py" "$ROOT/tests/bench/seed_consumer.py" --brokers "$SONDE_KAFKA_BROKERS" --topic "$topic" \
        --ca "$SONDE_RECORDER_CERT_DIR/ca.pem" --cert "$SONDE_RECORDER_CERT_DIR/service.cert" \
        --key "$SONDE_RECORDER_CERT_DIR/service.key" --dsn "$(pg_dsn "$db")" --seconds 20 2>"$dir/seed.log")" \
        || die "seed-style consumer failed; see $dir/seed.log"
    seed_rate="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(round(r["samples"]/r["seconds"]) if r["seconds"] else 0)' "$seed")"
    row "recorder ingest vs Python consumer (kafka-python + psycopg2, INSERT + COMMIT per message)" \
        "$recorder_rate" "Python: $seed_rate" "$(ratio "$recorder_rate" "$seed_rate")×" "—"
}

# Mean of a criterion benchmark in nanoseconds.
criterion_mean_ns() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' \
        "$ROOT/target/criterion/$1/new/estimates.json"
}
fmt_us() { python3 -c "print(f'{$1 / 1000:.1f} µs')"; }

bench_probe() {
    log "==> probe run overhead: cpu probe through the host vs the same computation natively (criterion)"
    (cd "$ROOT" && cargo bench -q -p sonde-host --bench probe_run -- --warm-up-time 1 --measurement-time 4) \
        >"$work/probe_run.log" 2>&1 || die "criterion bench failed; see $work/probe_run.log"
    local host_ns native_ns pool_ns demand_ns load_ns
    host_ns="$(criterion_mean_ns cpu_run/host)"
    native_ns="$(criterion_mean_ns cpu_run/native)"
    pool_ns="$(criterion_mean_ns instantiate/pooling)"
    demand_ns="$(criterion_mean_ns instantiate/on_demand)"
    load_ns="$(criterion_mean_ns load_from_disk_cache)"
    row "one cpu-probe run through the host (wasm, sandbox, limits) vs native Rust" \
        "$(fmt_us "$host_ns")" "native: $(fmt_us "$native_ns")" "$(ratio "$host_ns" "$native_ns")×" "—"
    row "instantiation from the compiled cache (pooling allocator)" \
        "$(fmt_us "$pool_ns")" "on-demand allocator: $(fmt_us "$demand_ns")" "$(ratio "$pool_ns" "$demand_ns")×" "—"
    row "load a component from the on-disk compile cache" "$(fmt_us "$load_ns")" "—" "—" "—"
}

bench_report() {
    log "==> recorder report: 24 h of 100 generated hosts (every probe every minute)"
    local dir="$work/report" out result
    mkdir -p "$dir"
    out="$(cd "$ROOT" && cargo bench -q -p sonde-recorder --bench report 2>"$dir/report.log")" \
        || die "report bench failed; see $dir/report.log"
    printf '%s\n' "$out" >"$dir/report.md"
    result="$(grep '^BENCH_RESULT ' <<<"$out" | tail -n1)"
    [[ -n "$result" ]] || die "report bench printed no BENCH_RESULT line; see $dir/report.md"
    local report_ms query_ms render_ms html_mib raw_ms raw_rows samples hosts hours
    eval "${result#BENCH_RESULT }"
    # shellcheck disable=SC2154  # set by the eval above
    row "recorder report, ${hours} h × ${hosts} hosts ($samples samples): end to end, best of 3" \
        "$report_ms ms (queries $query_ms ms, rendering $render_ms ms; page $html_mib MiB)" \
        "raw rows fetched: $raw_ms ms ($raw_rows rows)" "$(ratio "$report_ms" "$raw_ms")×" "≤ 10 s"
}

# The probes' languages side by side (host/benches/probe_languages.rs): a table of its own,
# and the Python and JavaScript figures against Rust's in the main table.
bench_languages() {
    log "==> probes by language: size, first compile, cached load, instantiation, memory, one run (Rust, Python, JavaScript)"
    local out
    out="$(cd "$ROOT" && cargo bench -q -p sonde-host --bench probe_languages 2>"$work/probe_languages.log")" \
        || die "probe_languages bench failed; see $work/probe_languages.log"
    printf '%s\n' "$out" >"$work/probe_languages.md"
    {
        echo "### Probes by language"
        echo
        echo "The same work in each: one HTTP fetch of a small JSON document from a local server and a verdict on it."
        echo
        grep '^|' <<<"$out"
        echo
    } >>"$tables"
    local line rust=() other
    line="$(grep '^BENCH_LANG language=Rust ' <<<"$out")" || die "probe_languages printed no Rust line"
    read -r -a rust <<<"${line#BENCH_LANG }"
    for other in Python JavaScript; do
        local fields=() i key value base
        line="$(grep "^BENCH_LANG language=$other " <<<"$out")" || die "probe_languages printed no $other line"
        read -r -a fields <<<"${line#BENCH_LANG }"
        declare -A mine=() theirs=()
        for i in "${fields[@]}"; do mine[${i%%=*}]="${i#*=}"; done
        for i in "${rust[@]}"; do theirs[${i%%=*}]="${i#*=}"; done
        for key in compile_ms load_ms run_ms; do
            value="${mine[$key]}"
            base="${theirs[$key]}"
            row "$other probe (${mine[probe]}) vs Rust (${theirs[probe]}): ${key%_ms} time" \
                "$value ms" "Rust: $base ms" "$(ratio "$value" "$base")×" "—"
        done
        row "$other probe (${mine[probe]}): memory needed (smallest max_memory_bytes)" \
            "$(python3 -c "print(f'{${mine[memory_bytes]} / 1048576:.1f} MiB')")" \
            "Rust: $(python3 -c "print(f'{${theirs[memory_bytes]} / 1048576:.1f} MiB')")" \
            "$(ratio "${mine[memory_bytes]}" "${theirs[memory_bytes]}")×" "≤ 64 MiB (the default)"
        unset mine theirs
    done
    note "Probes by language: first compile is cranelift on the whole component, once per content hash (then the on-disk cache serves it); memory needed is found by bisection through the host's max_memory_bytes, 20 runs each."
}
