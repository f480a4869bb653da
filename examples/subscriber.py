"""A vendor's subscriber to its DigiOne service topic, written with nothing of DigiOne's code.

It joins a Kafka consumer group on `{prefix}.{tenant}.service.{serviceId}.v1`, decodes each
message (Avro single-object encoding: magic C3 01, the 8-byte schema fingerprint, the body)
with the schema fetched once per fingerprint from GET /api/v1/schemas/{fingerprint}, keeps
what it receives per subject, and on a ForgetSubject notice deletes what it holds of that
subject. Offsets are committed after each message is handled, so a restart resumes where it
stopped; --from-beginning replays the topic (a new consumer group starts at the earliest).

    pip install kafka-python fastavro
    python examples/subscriber.py --bootstrap kafka:9092 --api https://digione.example \
        --tenant vantaa --service learnapp --group learnapp-sync
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.request
from typing import Any

import fastavro
from kafka import KafkaConsumer

MAGIC = b"\xc3\x01"
FORGET = "fi.digione.service.forget_subject.v1"


class Schemas:
    """Writer schemas by fingerprint, fetched from the backbone once each."""

    def __init__(self, api: str) -> None:
        self.api = api.rstrip("/")
        self.parsed: dict[bytes, Any] = {}

    def get(self, fingerprint: bytes) -> Any:
        if fingerprint not in self.parsed:
            url = f"{self.api}/api/v1/schemas/{fingerprint.hex()}"
            with urllib.request.urlopen(url, timeout=10) as answer:
                self.parsed[fingerprint] = fastavro.parse_schema(json.load(answer)["schema"])
        return self.parsed[fingerprint]


def decode(value: bytes, schemas: Schemas) -> dict[str, Any]:
    if value[:2] != MAGIC:
        raise ValueError("not an Avro single-object encoded message")
    record: dict[str, Any] = fastavro.schemaless_reader(
        io.BytesIO(value[10:]), schemas.get(value[2:10]), None
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--api", required=True, help="DigiOne's base URL (for the schemas)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--service", required=True, help="Your service id")
    parser.add_argument("--prefix", default="digione", help="The topic prefix")
    parser.add_argument("--group", help="Consumer group (default: SERVICE-subscriber)")
    parser.add_argument("--from-beginning", action="store_true", help="Replay from the start")
    parser.add_argument(
        "--kafka-api-version",
        help="Pin the Kafka protocol version, e.g. 2.1 (some Kafka-compatible brokers, "
        "Tansu among them, join consumer groups reliably only so)",
    )
    parser.add_argument("--max-messages", type=int, default=0, help="Stop after N (0: never)")
    parser.add_argument("--idle-seconds", type=float, default=0, help="Stop after N s quiet")
    args = parser.parse_args(argv)

    topic = f"{args.prefix}.{args.tenant}.service.{args.service}.v1"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group or f"{args.service}-subscriber",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        **(
            {"api_version": tuple(int(p) for p in args.kafka_api_version.split("."))}
            if args.kafka_api_version
            else {}
        ),
    )
    if args.from_beginning:
        consumer.poll(timeout_ms=0)  # join the group, get partitions
        consumer.seek_to_beginning()
    schemas = Schemas(args.api)
    held: dict[str, list[dict[str, Any]]] = {}
    seen = 0
    quiet = 0.0
    try:
        while not args.max_messages or seen < args.max_messages:
            polled = consumer.poll(timeout_ms=500)
            if not polled:
                quiet += 0.5
                if args.idle_seconds and seen and quiet >= args.idle_seconds:
                    break
                continue
            quiet = 0.0
            for records in polled.values():
                for message in records:
                    headers = {k: v.decode() for k, v in message.headers}
                    record = decode(message.value, schemas)
                    kind = headers["event-type"]
                    if kind == FORGET:
                        dropped = held.pop(record["subject"], [])
                        print(json.dumps({"forget": record["subject"], "reason": record["reason"],
                                          "categories": record["categories"],
                                          "deleted": len(dropped)}), flush=True)  # fmt: skip
                    else:
                        subject = record.get("data_subject")
                        if subject:
                            held.setdefault(subject, []).append(record)
                        print(json.dumps({"event": kind, "position": int(headers["position"]),
                                          "subject": subject,
                                          "personal": record.get("personal_data", {})},
                                         ensure_ascii=False), flush=True)  # fmt: skip
                    seen += 1
            consumer.commit()
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
