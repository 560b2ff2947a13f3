#!/usr/bin/env python3
"""Count what Sonde's http-check runs did, from the host's JSON-lines output.

Used by `just bench` (http) so the row shows each check's work, not just that it ran.
A check counts as matched only when its run is ok, the status was 200, the body regex
matched (`sonde.http.check.regex_match` = 1) and the check was up. With --since (Unix
seconds) it also counts the runs started at or after that time. Prints one JSON line:
{"checks": N, "ok": K, "status_200": S, "matched": M, "up": U, "since_checks": C}
"""
import argparse
import json
from datetime import datetime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--since", type=float, default=None)
    args = ap.parse_args()
    counts = dict.fromkeys(("checks", "ok", "status_200", "matched", "up", "since_checks"), 0)
    with open(args.output, encoding="utf-8") as lines:
        for line in lines:
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                continue
            if run.get("probe") != "http-check":
                continue
            counts["checks"] += 1
            values = {s["name"]: s["value"] for s in run.get("samples", [])}
            ok = run.get("status") == "ok"
            status_200 = values.get("sonde.http.check.status_code") == 200
            up = values.get("sonde.http.check.up") == 1
            counts["ok"] += ok
            counts["status_200"] += status_200
            counts["up"] += up
            counts["matched"] += ok and status_200 and up and values.get("sonde.http.check.regex_match") == 1
            if args.since is not None:
                started = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00")).timestamp()
                counts["since_checks"] += started >= args.since
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
