#!/usr/bin/env python3
"""Count the runs a host published to a topic, read back from the broker.

Used by `just bench` (e2e) to check what reached PostgreSQL against what was published.
Reads every partition from the beginning until no message has arrived for --idle seconds
and prints {"messages": N, "runs": distinct run_ids, "partitions": P}. At-least-once
delivery may put a run on the topic twice, so `runs` is what the recorder must store.
"""
import argparse
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--idle", type=float, default=5.0, help="stop after this many seconds without a message")
    ap.add_argument("--first-wait", type=float, default=30.0, help="give up if nothing arrives in this many seconds")
    args = ap.parse_args()
    consumer = Consumer({
        "bootstrap.servers": args.brokers, "security.protocol": "ssl",
        "ssl.ca.location": args.ca, "ssl.certificate.location": args.cert, "ssl.key.location": args.key,
        "group.id": "sonde-bench-count", "enable.auto.commit": False, "enable.partition.eof": False,
    })
    meta = consumer.list_topics(args.topic, timeout=30)
    topic = meta.topics.get(args.topic)
    if topic is None or topic.error is not None or not topic.partitions:
        sys.exit(f"count_topic: topic {args.topic} not found: {topic.error if topic else 'missing'}")
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in topic.partitions])
    messages = 0
    run_ids = set()
    started = last = time.monotonic()
    while True:
        batch = consumer.consume(num_messages=1000, timeout=0.5)
        now = time.monotonic()
        for msg in batch:
            if msg.error() is not None:
                raise KafkaException(msg.error())
            messages += 1
            run_ids.add(json.loads(msg.value())["run_id"])
        if batch:
            last = now
        elif messages and now - last >= args.idle:
            break
        elif not messages and now - started >= args.first_wait:
            break
    consumer.close()
    print(json.dumps({"messages": messages, "runs": len(run_ids), "partitions": len(topic.partitions)}))


if __name__ == "__main__":
    main()
