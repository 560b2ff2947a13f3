#!/usr/bin/env python3
"""Drive N blackbox_exporter probes at a fixed rate (requests/s) with a thread pool.

Used by `just bench` to make prometheus-blackbox-exporter run its checks at the same
rate Sonde's host runs http-check, and to count what each probe found: a probe is ok
only when blackbox reports probe_success 1, probe_failed_due_to_regex 0 and a body of at
least --min-body bytes. Prints one JSON line:
{"requests": N, "ok": K, "regex_failed": R, "failed": F, "errors": E, "body_bytes_min": B, "seconds": S}
"""
import argparse
import concurrent.futures
import json
import time
import urllib.request


def metrics(text: str) -> dict:
    """Unlabelled samples of a Prometheus text page: name -> value."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def probe(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            if resp.status != 200:
                return None
            return metrics(resp.read().decode("utf-8", "replace"))
    except Exception:
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--min-body", type=int, default=0)
    args = ap.parse_args()
    start = time.monotonic()
    counts = {"requests": args.count, "ok": 0, "regex_failed": 0, "failed": 0, "errors": 0}
    body_min = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
        futures = []
        for i in range(args.count):
            due = start + i / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(probe, args.url))
        for f in futures:
            m = f.result()
            if m is None:
                counts["errors"] += 1
                continue
            body = int(m.get("probe_http_uncompressed_body_length", m.get("probe_http_content_length", -1)))
            body_min = body if body_min is None else min(body_min, body)
            if m.get("probe_failed_due_to_regex") == 1:
                counts["regex_failed"] += 1
            elif m.get("probe_success") == 1 and m.get("probe_failed_due_to_regex") == 0 and body >= args.min_body:
                counts["ok"] += 1
            else:
                counts["failed"] += 1
    counts["body_bytes_min"] = body_min if body_min is not None else 0
    counts["seconds"] = round(time.monotonic() - start, 3)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
