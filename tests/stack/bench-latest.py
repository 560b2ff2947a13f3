#!/usr/bin/env python3
"""Put a `just bench` table into docs/performance.md between its latest-run markers.

usage: bench-latest.py REPORT.md PAGE.md
The report's first heading becomes the section's heading ("Latest run — <time>")."""
import sys

START = "<!-- bench:latest:start -->"
END = "<!-- bench:latest:end -->"


def main(report_path: str, page_path: str) -> None:
    report = open(report_path, encoding="utf-8").read().strip().splitlines()
    if not report or not report[0].startswith("## Sonde benchmark — "):
        sys.exit(f"bench-latest: {report_path}: not a bench report (first line {report[:1]})")
    body = ["## Latest run — " + report[0].removeprefix("## Sonde benchmark — ")] + report[1:]
    page = open(page_path, encoding="utf-8").read()
    try:
        head, rest = page.split(START, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        sys.exit(f"bench-latest: {page_path}: markers {START} ... {END} not found")
    with open(page_path, "w", encoding="utf-8") as f:
        f.write(head + START + "\n" + "\n".join(body) + "\n" + END + tail)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
