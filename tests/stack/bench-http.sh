# shellcheck shell=bash
# `just bench` section http: Sonde's http-check vs prometheus-blackbox-exporter on the same
# 100 KB page and body regex at the same rate. Sourced by bench.sh (row/note/mismatch/...).
#
# Both sides are counted the same way: CPU from process start (start-up included) to the
# end of the run, divided by the checks it did; the note also gives both without start-up
# (from the moment each answered ready). Each side proves its work: a check only counts as
# matched when the regex, which sits at the end of the page, matched; a control with a
# regex that cannot match must come out unmatched on both sides.

# Poll URL until it answers 200 (5 s at most); fail if it never does.
wait_http_ok() {
    local _
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.05
    done
    return 1
}

# A 100 KB page whose status line, the regex's target, is at its very end.
http_bench_page() {
    python3 - "$1" <<'PY'
import sys
filler = "<p>" + "lorem ipsum dolor sit amet " * 36 + "</p>\n"
body = "<html><body>\n" + filler * (100_000 // len(filler)) + "<p>service status: healthy</p></body></html>\n"
open(sys.argv[1], "w").write(body)
PY
}

# http_host_toml JOBS INTERVAL_MS URL REGEX ALLOW CACHE_DIR [METRICS_ADDR]
http_host_toml() {
    local i
    echo "cache_dir = \"$6\""
    echo "max_concurrency = 64"
    echo "min_interval_ms = $2"
    [[ -z "${7:-}" ]] || echo "metrics_addr = \"$7\""
    for i in $(seq "$1"); do
        cat <<TOML
[[job]]
name = "check-$i"
probe = "$ROOT/probes/http-check.wasm"
interval_ms = $2
allow_http = ["$5"]
params = { url = "$3", regex = "$4" }
TOML
    done
}

bench_http() {
    log "==> HTTP checks: $HTTP_CHECKS checks of a 100 KB nginx page with a body regex at $HTTP_RATE/s, Sonde vs blackbox_exporter"
    local dir="$work/http" nginx_port bb_port metrics_port
    mkdir -p "$dir/www" "$dir/tmp"
    nginx_port="$(free_tcp_port)"
    http_bench_page "$dir/www/page.html"
    local page_bytes
    page_bytes="$(stat -c %s "$dir/www/page.html")"
    cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    server {
        listen 127.0.0.1:$nginx_port;
        root $dir/www;
    }
}
CONF
    /usr/sbin/nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log" &
    pids+=("$!")
    local origin="http://127.0.0.1:$nginx_port" url regex='status: (healthy|ok)' miss='status: (broken)'
    url="$origin/page.html"
    wait_http_ok "$url" || die "nginx did not start; see $dir/nginx-error.log"

    # --- Sonde: JOBS http-check jobs whose intervals add up to HTTP_RATE checks/s ---------
    local jobs=50 interval_ms seconds
    interval_ms=$((jobs * 1000 / HTTP_RATE))
    seconds=$(((HTTP_CHECKS + HTTP_RATE - 1) / HTTP_RATE))
    metrics_port="$(free_tcp_port)"
    http_host_toml "$jobs" "$interval_ms" "$url" "$regex" "$origin" "$dir/cache" "127.0.0.1:$metrics_port" >"$dir/host.toml"
    # The compile cache is warm before the clock starts, as on a deployed host.
    "$host_bin" --cache-dir "$dir/cache" probes describe "$ROOT/probes/http-check.wasm" >/dev/null 2>&1 || true
    local host_pid host_cpu host_ready_cpu host_ready_at t0
    t0="$(date +%s.%N)"
    host_pid="$(start_host "$dir/host.toml" "$dir/host.out")"
    pids+=("$host_pid")
    wait_http_ok "http://127.0.0.1:$metrics_port/readyz" || die "Sonde host never became ready; see $dir/host.out.log"
    host_ready_cpu="$(cpu_seconds "$host_pid")"
    host_ready_at="$(date +%s.%N)"
    sleep "$(python3 -c "print(max(0.0, $t0 + $seconds - $host_ready_at))")"
    host_cpu="$(cpu_seconds "$host_pid")"
    kill -TERM "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
    local sonde checks matched since_checks
    sonde="$(python3 "$ROOT/tests/bench/http_runs.py" "$dir/host.out" --since "$host_ready_at")"
    read -r checks matched since_checks < <(json_fields "$sonde" checks matched since_checks)
    [[ "$checks" -gt 0 ]] || die "Sonde ran no http checks; see $dir/host.out.log"
    [[ "$matched" == "$checks" ]] || mismatch "HTTP: Sonde matched $matched of $checks checks ($sonde); see $dir/host.out"

    # Control: a regex the page cannot match must not count as matched.
    http_host_toml 1 1000 "$url" "$miss" "$origin" "$dir/cache" >"$dir/control.toml"
    "$host_bin" --config "$dir/control.toml" --once >"$dir/control.out" 2>"$dir/control.log" || true
    local control
    control="$(python3 "$ROOT/tests/bench/http_runs.py" "$dir/control.out")"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(not (r["checks"] == 1 and r["matched"] == 0 and r["status_200"] == 1))' "$control" ||
        mismatch "HTTP: Sonde's control check with a regex that cannot match was not reported unmatched ($control)"

    # --- blackbox_exporter with the same page and regex, driven at the same rate ------------
    bb_port="$(free_tcp_port)"
    cat >"$dir/blackbox.yml" <<YML
modules:
  http_regex:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["$regex"]
  http_regex_miss:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["$miss"]
YML
    prometheus-blackbox-exporter --config.file="$dir/blackbox.yml" --web.listen-address="127.0.0.1:$bb_port" \
        >"$dir/blackbox.log" 2>&1 &
    local bb_pid=$!
    pids+=("$bb_pid")
    wait_http_ok "http://127.0.0.1:$bb_port/-/healthy" || die "blackbox_exporter did not start; see $dir/blackbox.log"
    local bb_ready_cpu bb_cpu bb_result bb_ok bb_body
    bb_ready_cpu="$(cpu_seconds "$bb_pid")"
    bb_result="$("$py" "$ROOT/tests/bench/drive_http.py" --count "$HTTP_CHECKS" --rate "$HTTP_RATE" --min-body "$page_bytes" \
        --url "http://127.0.0.1:$bb_port/probe?module=http_regex&target=$url")"
    bb_cpu="$(cpu_seconds "$bb_pid")"
    read -r bb_ok bb_body < <(json_fields "$bb_result" ok body_bytes_min)
    [[ "$bb_ok" == "$HTTP_CHECKS" ]] || mismatch "HTTP: blackbox_exporter matched $bb_ok of $HTTP_CHECKS probes ($bb_result)"
    # Control, after the CPU reading: the same exporter must fail a regex the page cannot match.
    local bb_control
    bb_control="$("$py" "$ROOT/tests/bench/drive_http.py" --count 20 --rate 100 \
        --url "http://127.0.0.1:$bb_port/probe?module=http_regex_miss&target=$url")"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(r["regex_failed"] != 20)' "$bb_control" ||
        mismatch "HTTP: blackbox_exporter's control probes with a regex that cannot match did not fail on the regex ($bb_control)"
    kill -TERM "$bb_pid" 2>/dev/null || true

    local sonde_ms bb_ms sonde_steady_ms bb_steady_ms
    sonde_ms="$(python3 -c "print(f'{$host_cpu * 1000 / $checks:.3f}')")"
    bb_ms="$(python3 -c "print(f'{$bb_cpu * 1000 / $HTTP_CHECKS:.3f}')")"
    sonde_steady_ms="$(python3 -c "print(f'{($host_cpu - $host_ready_cpu) * 1000 / max($since_checks, 1):.3f}')")"
    bb_steady_ms="$(python3 -c "print(f'{($bb_cpu - $bb_ready_cpu) * 1000 / $HTTP_CHECKS:.3f}')")"
    row "HTTP check CPU per check, from process start (100 KB page, body regex, $HTTP_RATE checks/s)" \
        "$sonde_ms ms ($checks checks, $matched matched)" \
        "blackbox_exporter: $bb_ms ms ($HTTP_CHECKS probes, $bb_ok matched)" \
        "$(ratio "$sonde_ms" "$bb_ms")×" "≤ 0.8×"
    note "HTTP: both sides' CPU is counted from process start (start-up included) to the end of their checks, per check done: Sonde's whole host process (cached component load, $checks checks in ${seconds} s), blackbox_exporter's process (its $HTTP_CHECKS probes; the Python driver is not counted). Start-up until ready: Sonde $host_ready_cpu CPU-s, blackbox_exporter $bb_ready_cpu CPU-s. Without start-up (from ready): Sonde $sonde_steady_ms ms over $since_checks checks, blackbox_exporter $bb_steady_ms ms, $(ratio "$sonde_steady_ms" "$bb_steady_ms")×."
    note "HTTP work proven: a check counts as matched only with status 200 and the regex matched (the match is at the end of the $page_bytes-byte page, so the whole body was read): Sonde $matched of $checks (run ok, status 200, regex_match = 1, up = 1); blackbox_exporter $bb_ok of $HTTP_CHECKS (probe_success 1, probe_failed_due_to_regex 0, body ≥ $page_bytes bytes; smallest body $bb_body). Controls with a regex the page cannot match: Sonde $(json_fields "$control" matched checks | awk '{print $1 " of " $2 " matched"}'), blackbox_exporter $(json_fields "$bb_control" regex_failed requests | awk '{print $1 " of " $2 " failed on the regex"}')."
}
