#!/usr/bin/env python3
"""Baseline for `just bench`: a consumer in the style of the systems Sonde replaces.

kafka-python + psycopg2, one INSERT + COMMIT per Kafka message, into a seed-shaped
table `metrics(hostname, metric, submetric, value, timestamp)`. Reads Sonde v1 messages
from a topic for a fixed wall-clock budget and prints one JSON line:
{"messages": N, "samples": M, "seconds": S}
"""
import argparse
import json
import time

import psycopg2
from kafka import KafkaConsumer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()

    db = psycopg2.connect(args.dsn)
    cur = db.cursor()
    cur.execute(
        "CREATE TABLE IF NOT EXISTS metrics (id serial, hostname varchar(32), metric varchar(64),"
        " submetric varchar(64), value real, timestamp timestamptz)"
    )
    db.commit()

    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.brokers.split(","),
        security_protocol="SSL",
        ssl_cafile=args.ca,
        ssl_certfile=args.cert,
        ssl_keyfile=args.key,
        ssl_check_hostname=True,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    messages = samples = 0
    started = None
    deadline = None
    for record in consumer:
        if started is None:
            started = time.monotonic()
            deadline = started + args.seconds
        msg = json.loads(record.value)
        rows = [
            (msg["host"], s["name"], s["labels"].get("state", ""), s["value"], msg["started_at"])
            for s in msg.get("samples", [])
        ]
        if rows:
            values = ",".join(cur.mogrify("(%s,%s,%s,%s,%s)", r).decode() for r in rows)
            cur.execute("INSERT INTO metrics (hostname, metric, submetric, value, timestamp) VALUES " + values)
        db.commit()
        messages += 1
        samples += len(rows)
        if time.monotonic() >= deadline:
            break
    elapsed = time.monotonic() - started if started else 0.0
    print(json.dumps({"messages": messages, "samples": samples, "seconds": round(elapsed, 3)}))


if __name__ == "__main__":
    main()
