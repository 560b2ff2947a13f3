# shellcheck shell=bash
# `just bench` section e2e: probe run start → the recorder's transaction committed in
# PostgreSQL. Sourced by bench.sh (row/note/mismatch/pg_dsn/create_topic/...).
#
# The end is the commit, not the row's insertion: `recorded_at` is taken inside the
# transaction, before the COPY of the rest of the batch, the offsets and the commit's WAL
# flush. bench.sh runs PostgreSQL with track_commit_timestamp = on (SONDE_PG_DURABLE), so
# pg_xact_commit_timestamp(xmin) of each probe_run row is the time its transaction
# committed, on the same clock as the host's started_at (one machine). Every run the host
# published is read back from the topic and must be in probe_run exactly once.

E2E_WARMUP_SECONDS="${E2E_WARMUP_SECONDS:-5}"

# Wait until probe_run in DB holds WANT rows or stops growing for 15 s; echo the count.
e2e_wait_recorded() {
    local db="$1" want="$2" have=-1 last=-1 still=0
    while ((still < 15)); do
        have="$(psql -X -tA "$(pg_dsn "$db")" -c "SELECT count(*) FROM probe_run")"
        ((have >= want)) && break
        if ((have == last)); then still=$((still + 1)); else still=0; fi
        last="$have"
        sleep 1
    done
    echo "$have"
}

bench_e2e() {
    log "==> end-to-end latency at $E2E_RATE runs/s for ${E2E_SECONDS}s: probe run start → transaction committed"
    local dir="$work/e2e" topic="bench.e2e.$(date +%s)" db="sonde_bench_e2e"
    mkdir -p "$dir"
    fresh_db "$db"
    [[ "$(psql -X -tA "$(pg_dsn "$db")" -c "SHOW track_commit_timestamp")" == on ]] ||
        die "e2e needs PostgreSQL with track_commit_timestamp = on (tests/stack/postgres.sh with SONDE_PG_DURABLE=1)"
    local jobs=100 interval_ms
    interval_ms=$((jobs * 1000 / E2E_RATE))
    {
        echo "cache_dir = \"$dir/cache\""
        echo "max_concurrency = 32"
        echo "min_interval_ms = $interval_ms"
        for i in $(seq "$jobs"); do
            printf '[[job]]\nname = "mem-%s"\nprobe = "%s"\ninterval_ms = %s\n' "$i" "$ROOT/probes/memory.wasm" "$interval_ms"
        done
        host_kafka_toml "$topic" "$dir" '{ "linger.ms" = "5" }'
    } >"$dir/host.toml"
    {
        recorder_ini "$topic" bench-e2e "$db" 50
        # Latency over batching: don't let a fetch wait for more data (librdkafka's default: 500 ms).
        echo "kafka.option.fetch.wait.max.ms = 10"
    } >"$dir/recorder.ini"
    create_topic "$topic" 4
    "$recorder_bin" --config "$dir/recorder.ini" >"$dir/recorder.log" 2>&1 &
    local rec_pid=$!
    pids+=("$rec_pid")
    # Let the recorder join its group before runs start flowing.
    sleep 8
    local host_pid
    host_pid="$(start_host "$dir/host.toml" "$dir/host.out")"
    pids+=("$host_pid")
    sleep "$E2E_SECONDS"
    # The host delivers what it has spooled before it exits (or says how many stay spooled).
    kill -TERM "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true

    # What was published, read back from the broker; then wait for the recorder to store it.
    local published pub_messages pub_runs recorded
    published="$("$py" "$ROOT/tests/bench/count_topic.py" --brokers "$SONDE_KAFKA_BROKERS" --topic "$topic" \
        --ca "$SONDE_RECORDER_CERT_DIR/ca.pem" --cert "$SONDE_RECORDER_CERT_DIR/service.cert" \
        --key "$SONDE_RECORDER_CERT_DIR/service.key" 2>"$dir/count_topic.log")" ||
        die "cannot count the runs on $topic; see $dir/count_topic.log"
    read -r pub_messages pub_runs < <(json_fields "$published" messages runs)
    [[ "$pub_runs" -gt 0 ]] || die "the host published no runs to $topic; see $dir/host.out.log"
    recorded="$(e2e_wait_recorded "$db" "$pub_runs")"
    kill -TERM "$rec_pid" 2>/dev/null || true
    wait "$rec_pid" 2>/dev/null || true
    local spooled dead_letters
    spooled="$(grep -o '[0-9]* runs not yet delivered stay in the spool' "$dir/host.out.log" | grep -o '^[0-9]*' || echo 0)"
    dead_letters="$(psql -X -tA "$(pg_dsn "$db")" -c "SELECT count(*) FROM dead_letter")"
    [[ "$recorded" == "$pub_runs" ]] ||
        mismatch "e2e: the host published $pub_runs runs ($pub_messages messages) to $topic, probe_run holds $recorded"
    [[ "$dead_letters" == 0 ]] || mismatch "e2e: $dead_letters messages went to dead_letter"

    # Latency to the commit and to the insertion, over the runs started after the warm-up;
    # the rate from the first and last of those runs' start and commit times.
    local stats
    stats="$(psql -X -tA -F ' ' "$(pg_dsn "$db")" -c "
        WITH c AS (SELECT started_at, recorded_at, pg_xact_commit_timestamp(xmin) AS committed_at FROM probe_run),
             r AS (SELECT * FROM c WHERE started_at >= (SELECT min(started_at) FROM c) + interval '$E2E_WARMUP_SECONDS s'),
             ms AS (SELECT extract(epoch FROM committed_at - started_at) * 1000 AS commit_ms,
                           extract(epoch FROM recorded_at - started_at) * 1000 AS insert_ms FROM r)
        SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM r WHERE committed_at IS NULL),
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY commit_ms)::numeric, 1),
               round(percentile_cont(0.99) WITHIN GROUP (ORDER BY commit_ms)::numeric, 1),
               round(max(commit_ms)::numeric, 1),
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY insert_ms)::numeric, 1),
               round(percentile_cont(0.99) WITHIN GROUP (ORDER BY insert_ms)::numeric, 1),
               round(extract(epoch FROM (SELECT max(started_at) - min(started_at) FROM r))::numeric, 2),
               round(((SELECT count(*) FROM r) - 1) / nullif(extract(epoch FROM (SELECT max(started_at) - min(started_at) FROM r)), 0)::numeric, 0),
               round(((SELECT count(*) FROM r) - 1) / nullif(extract(epoch FROM (SELECT max(committed_at) - min(committed_at) FROM r)), 0)::numeric, 0)
        FROM ms")"
    local n no_ts p50 p99 max_ms ins50 ins99 window rate commit_rate
    read -r n no_ts p50 p99 max_ms ins50 ins99 window rate commit_rate <<<"$stats"
    [[ "$no_ts" == 0 ]] || mismatch "e2e: $no_ts of $n runs have no commit timestamp"
    local counted="published $pub_runs = recorded $recorded"
    [[ "$recorded" == "$pub_runs" ]] || counted="MISMATCH: published $pub_runs, recorded $recorded"
    row "end-to-end latency, probe run start → transaction committed ($rate runs/s measured)" \
        "p50 $p50 ms, p99 $p99 ms ($n runs; $counted)" "—" "—" "p99 ≤ 200 ms"
    note "e2e: latency is pg_xact_commit_timestamp(xmin) − started_at per probe_run row (track_commit_timestamp = on), i.e. to the commit that made the run durable; to the row's insertion (recorded_at, inside the transaction) it was p50 $ins50 ms, p99 $ins99 ms; max to commit $max_ms ms. Runs started in the first ${E2E_WARMUP_SECONDS} s (probes loading, producer connecting) are left out: $n runs over the measured $window s between the first and last run start, $rate runs/s by start time, $commit_rate runs/s by commit time."
    note "e2e: the host published $pub_runs distinct runs ($pub_messages messages read back from the topic; $spooled left in its spool at exit), probe_run holds $recorded, dead_letter $dead_letters."
}
