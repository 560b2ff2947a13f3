#!/usr/bin/env python3
"""Proof of work for `just bench`: what a side published to its topic within a window.

Reads TOPIC from the beginning to its end (mutual TLS) and counts the messages whose Kafka
timestamp (set by the producer when it took the message) lies in [--from-ms, --to-ms].
With --collectd the messages are collectd's write_kafka JSON (an array of value lists) and
the values in them are counted too; otherwise they are Sonde runs and their samples are.
Prints one JSON line: {"messages": N, "values": M, "outside": K}.
"""
import argparse
import json
import sys

from confluent_kafka import Consumer, KafkaError, TopicPartition


def count_values(value: bytes, collectd: bool) -> int:
    doc = json.loads(value)
    if collectd:
        return sum(len(entry.get("values", [])) for entry in doc)
    return len(doc.get("samples", []))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--cert-dir", required=True)
    ap.add_argument("--from-ms", type=int, required=True)
    ap.add_argument("--to-ms", type=int, required=True)
    ap.add_argument("--collectd", action="store_true")
    args = ap.parse_args()

    d = args.cert_dir
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "security.protocol": "ssl",
        "ssl.ca.location": d + "/ca.pem",
        "ssl.certificate.location": d + "/service.cert",
        "ssl.key.location": d + "/service.key",
        "group.id": "sonde-bench-count",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    meta = consumer.list_topics(args.topic, timeout=30).topics.get(args.topic)
    if meta is None or meta.error is not None or not meta.partitions:
        sys.exit(f"topic {args.topic} not found: {meta.error if meta else 'no metadata'}")
    parts = [TopicPartition(args.topic, p, 0) for p in meta.partitions]
    consumer.assign(parts)
    open_parts = {p.partition for p in parts}
    messages = values = outside = 0
    idle_polls = 0
    while open_parts and idle_polls < 30:
        msg = consumer.poll(1.0)
        if msg is None:
            idle_polls += 1
            continue
        idle_polls = 0
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                open_parts.discard(msg.partition())
                continue
            sys.exit(f"reading {args.topic}: {msg.error()}")
        _, ts = msg.timestamp()
        if args.from_ms <= ts <= args.to_ms:
            messages += 1
            values += count_values(msg.value(), args.collectd)
        else:
            outside += 1
    consumer.close()
    if open_parts:
        sys.exit(f"reading {args.topic}: no end reached on partitions {sorted(open_parts)}")
    print(json.dumps({"messages": messages, "values": values, "outside": outside}))


if __name__ == "__main__":
    main()
