#!/usr/bin/env python3
"""Drive N GET requests at a fixed rate (requests/s) against URL with a thread pool.

Used by `just bench` to make prometheus-blackbox-exporter run its checks at the same
rate Sonde's host runs http-check. Prints {"requests": N, "ok": K, "seconds": S}.
"""
import argparse
import concurrent.futures
import json
import time
import urllib.request


def fetch(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
            return resp.status == 200 and b"probe_success 1" in body
    except Exception:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--threads", type=int, default=32)
    args = ap.parse_args()
    start = time.monotonic()
    ok = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
        futures = []
        for i in range(args.count):
            due = start + i / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(fetch, args.url))
        for f in futures:
            ok += 1 if f.result() else 0
    print(json.dumps({"requests": args.count, "ok": ok, "seconds": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    main()
