#!/usr/bin/env python3
"""The table of `just bench-scale` (tests/stack/bench-scale.sh), from the files of one run.

Reads, in the run's directory: loadgen.json (the generator's summary), warmup.json and
warmup_secs (if the run had a warm-up), lag.tsv (elapsed s,
runs acknowledged by the broker, runs committed to PostgreSQL, every 2 s), t0,
publish_end, drained, stopping, recorder-N.{started,log,metrics}, check.tsv and sizes.tsv.
Prints one markdown section on stdout.
"""

import argparse
import json
import re
from datetime import datetime
from pathlib import Path


def read(work, name, default=""):
    path = work / name
    return path.read_text().strip() if path.exists() else default


def percentile(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def epoch(ts):
    """RFC 3339 with 'Z' and up to nanoseconds, as tracing writes it, to seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", ts)
    if not m:
        return None
    base = datetime.fromisoformat(m.group(1) + (m.group(3) if m.group(3) != "Z" else "+00:00"))
    return base.timestamp() + float(m.group(2) or 0)


def rebalance_events(work, recorders):
    """(time, recorder, kind, partition) for every revoke and assignment in the logs."""
    events = []
    for n in recorders:
        for line in read(work, f"recorder-{n}.log").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            message = str(event.get("message", ""))
            t = epoch(str(event.get("timestamp", "")))
            if t is None:
                continue
            if message.startswith("revoked "):
                events.append((t, n, "revoked", None))
            elif message.startswith("assigned "):
                part = message.split()[1].rsplit("/", 1)[-1].rstrip(",")
                events.append((t, n, "assigned", part))
    return sorted(events)


def join_row(events, joined_at, before, n):
    """What recorder n joining at `joined_at` did to the group, up to `before`."""
    window = [e for e in events if joined_at <= e[0] < before]
    revokes = [e for e in window if e[2] == "revoked"]
    assigns = [e for e in window if e[2] == "assigned"]
    if not assigns:
        return f"recorder {n} started; no assignment seen in the logs", "—"
    last = assigns[-1][0]
    owned = {}
    for t, rec, kind, part in window:
        if kind == "revoked":
            owned[rec] = set()
        else:
            owned.setdefault(rec, set()).add(part)
    split = " / ".join(str(len(owned.get(r, ()))) for r in sorted(owned))
    pause = f"{last - revokes[0][0]:.1f} s" if revokes else "n/a"
    return (
        f"{last - joined_at:.1f} s from its start to the last partition assigned; "
        f"{pause} from the first revoke to the last assignment",
        f"partitions per recorder after: {split}",
    )


def cpu_row(work, publish_end, row):
    """Where the machine's CPU went while publishing: each part's share of both cores."""
    samples = [[float(x) for x in line.split("\t")] for line in read(work, "cpu.tsv").splitlines()]
    samples = [s for s in samples if len(s) == 8 and s[0] <= publish_end]
    if len(samples) < 2:
        return
    first, last = samples[0], samples[-1]
    ticks = float(read(work, "clk_tck", "100"))
    wall = last[0] - first[0]
    cores = (last[7] - first[7]) / ticks / wall if wall > 0 else 0
    names = ["load generator", "recorders", "PostgreSQL", "broker (tansu)", "TLS front (stunnel)"]
    # A process's counter drops to 0 when it exits (the generator, at the end): its
    # highest reading is what it used.
    used = [(max(s[i] for s in samples) - first[i]) / ticks / wall for i in range(1, 6)]
    busy = (last[6] - first[6]) / ticks / wall
    parts = ", ".join(f"{name} {u:.2f}" for name, u in zip(names, used))
    row(f"CPU while publishing ({first[0]:.0f}–{last[0]:.0f} s), cores in use",
        f"{busy:.2f} of {cores:.0f} cores busy",
        f"{parts}; everything else on the machine (other work) {max(busy - sum(used), 0):.2f}")


def metric_sum(work, recorders, name):
    total = 0.0
    for n in recorders:
        for line in read(work, f"recorder-{n}.metrics").splitlines():
            if line.startswith(name) and not line.startswith("#"):
                try:
                    total += float(line.rsplit(" ", 1)[1])
                except ValueError:
                    pass
    return int(total)


def human_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.0f} B"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    for flag in ("stamp", "commit", "machine", "load-before", "load-after"):
        ap.add_argument(f"--{flag}", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--partitions", type=int, required=True)
    args = ap.parse_args()
    work = args.work

    gen = json.loads(read(work, "loadgen.json"))
    t0 = float(read(work, "t0"))
    publish_end = float(read(work, "publish_end")) - t0
    drained = read(work, "drained")
    drained = float(drained) - t0 if drained else None
    stopping = float(read(work, "stopping")) - t0
    recorders = [n for n in (1, 2, 3) if (work / f"recorder-{n}.started").exists()]
    started = {n: float(read(work, f"recorder-{n}.started")) - t0 for n in recorders}
    samples_per_run = gen["acked_samples"] / gen["acked_runs"] if gen["acked_runs"] else 0.0
    target = gen["target_runs_per_sec"]

    lag = []
    for line in read(work, "lag.tsv").splitlines():
        t, acked, committed = line.split("\t")
        lag.append((float(t), int(acked), int(committed)))

    def committed_at(t):
        """Committed runs at the sample nearest to t (elapsed seconds)."""
        return min(lag, key=lambda s: abs(s[0] - t)) if lag else (t, 0, 0)

    rows = []

    def row(*cells):
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")

    shape = f"{gen['hosts']:,} hosts × {gen['target_runs_per_sec'] * gen['interval_ms'] / 1000 / gen['hosts']:.0f} runs per {gen['interval_ms'] / 1000:.0f} s"
    row("simulated fleet (cpu per core, memory, bandwidth, HTTP checks)", shape,
        f"target {target:,.0f} runs/s, {gen['target_samples_per_sec']:,.0f} samples/s, {args.partitions} partitions, {gen['length_secs']:.0f} s")
    late = gen["late_buckets"]
    pace = "kept up" if gen["kept_up"] else "**could not keep up**"
    row("load generator, acknowledged by the broker",
        f"{gen['achieved_runs_per_sec']:,.0f} runs/s, {gen['achieved_samples_per_sec']:,.0f} samples/s",
        f"{pace}: {gen['acked_runs']:,} of {gen['sent_runs']:,} runs acknowledged, {gen['failed_runs']} failed; "
        f"sends late by ≥ 100 ms: {late[2] + late[3]:,}, by ≥ 1 s: {late[3]:,}, most late {gen['max_late_ms']} ms")

    warm = json.loads(read(work, "warmup.json", "null"))
    if warm:
        warm_secs = float(read(work, "warmup_secs"))
        rate = warm["acked_runs"] / warm_secs
        row("warm-up: the fleet's first interval, every series new",
            f"{rate * samples_per_run:,.0f} samples/s ({rate:,.0f} runs/s), 1 recorder",
            f"{warm['acked_runs']:,} runs published in {warm['length_secs']:.0f} s, all committed after {warm_secs:.1f} s; "
            "each first sample of a series inserts its `series` row")

    bounds = [0.0] + [started[n] for n in recorders[1:]] + [publish_end]
    for i, n in enumerate(recorders):
        lo, hi = bounds[i], bounds[i + 1]
        a, b = committed_at(lo), committed_at(hi)
        dt = max(b[0] - a[0], 1e-9)
        rate = (b[2] - a[2]) / dt
        window = [s[1] - s[2] for s in lag if lo <= s[0] <= hi]
        row(f"committed to PostgreSQL with {n} recorder{'s' if n > 1 else ''} ({a[0]:.0f}–{b[0]:.0f} s)",
            f"{rate * samples_per_run:,.0f} samples/s ({rate:,.0f} runs/s)",
            f"lag p99 {percentile(window, 0.99):,.0f} runs ({percentile(window, 0.99) / target:.1f} s of publishing), max {max(window, default=0):,} runs")

    cpu_row(work, publish_end, row)

    during = [max(s[1] - s[2], 0) for s in lag if s[0] <= publish_end]
    p99 = percentile(during, 0.99)
    row("recorder lag p99 while publishing (acknowledged − committed, sampled every 2 s)",
        f"{p99:,.0f} runs = {p99 / target:.1f} s",
        f"max {max(during, default=0):,} runs; includes up to 1 s of sampling skew and the 0.5 s batch delay")
    end = drained if drained is not None else (lag[-1][0] if lag else publish_end)
    committed_runs = committed_at(end)[2]
    row("sustained, first run published → last run committed",
        f"{committed_runs * samples_per_run / max(end, 1e-9):,.0f} samples/s",
        f"drained {end - publish_end:.1f} s after publishing stopped" if drained is not None
        else f"**not drained** within the timeout: {committed_runs:,} of {gen['acked_runs']:,} runs committed")

    if drained is not None and drained - publish_end > 10:
        # The backlog alone: the generator no longer competes for the cores.
        a, b = committed_at(publish_end), committed_at(drained)
        rate = (b[2] - a[2]) / max(b[0] - a[0], 1e-9)
        row(f"draining the backlog with {len(recorders)} recorders, generator stopped ({a[0]:.0f}–{b[0]:.0f} s)",
            f"{rate * samples_per_run:,.0f} samples/s ({rate:,.0f} runs/s)",
            "what the recorders and PostgreSQL manage when the broker only serves reads")

    events = rebalance_events(work, recorders)
    for i, n in enumerate(recorders[1:], start=1):
        # Up to the next join, or to the stop (whose revokes are not a rebalance).
        until = started[recorders[i + 1]] if i + 1 < len(recorders) else stopping
        what, split = join_row(events, started[n] + t0, until + t0, n)
        row(f"recorder {n} joins the group at {started[n]:.0f} s: rebalance", what, split)

    check = read(work, "check.tsv").split("\t")
    (published, distinct, published_samples, runs, missing, unexpected, measurements,
     dead, hosts, series) = (int(x) for x in check)
    extra = measurements - published_samples
    ok = missing == 0 and unexpected == 0 and extra == 0 and published == distinct and dead == 0
    verdict = "**none**" if ok else "**FOUND**"
    if drained is None and unexpected == 0 and dead == 0 and published == distinct:
        # Runs still on the topic when the recorders were stopped are not gaps.
        verdict = "none among the runs committed (not drained)"
    skipped = metric_sum(work, recorders, "sonde_recorder_duplicate_runs_total")
    row("gaps and duplicates, every published run (warm-up included) checked in PostgreSQL",
        verdict + f": {missing:,} missing, {unexpected:,} unexpected, "
        f"{extra:,} extra samples, {dead} dead letters",
        f"{published:,} runs ({distinct:,} distinct) and {published_samples:,} samples published; "
        f"{runs:,} runs of {hosts:,} hosts and {measurements:,} samples stored; "
        f"{skipped:,} re-read runs skipped as duplicates by the recorders")

    (m_total, m_index, r_total, r_index, s_total, other, parts) = (int(x) for x in read(work, "sizes.tsv").split("\t"))
    data_secs = gen["length_secs"] + (warm["length_secs"] if warm else 0)
    per_day = 86400 / data_secs * 1000 / gen["hosts"]
    grow = (m_total + r_total + other) * per_day
    row("PostgreSQL bytes per day per 1,000 hosts (tables + indexes)",
        human_bytes(grow),
        f"measurement {human_bytes(m_total * per_day)} (indexes {human_bytes(m_index * per_day)}, "
        f"{human_bytes(m_total / max(measurements, 1))} per sample), probe_run {human_bytes(r_total * per_day)} "
        f"(indexes {human_bytes(r_index * per_day)}); plus series {human_bytes(s_total * 1000 / gen['hosts'])} per 1,000 hosts once "
        f"({series:,} series); scaled from {data_secs:.0f} s of the fleet's runs")

    print(f"## Sonde scale benchmark — {args.stamp}")
    print()
    print(f"Commit: {args.commit}. Machine: {args.machine}; load average before {args.load_before}, "
          f"after {args.load_after}. One release recorder, a second joining at one third of the run "
          "and a third at two thirds, one consumer group; PostgreSQL 15 with its durable defaults; "
          "the local broker (tansu, in memory, behind stunnel for TLS) on the same machine.")
    print()
    print("| measurement | value | details |")
    print("|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
