"""Reading a service's topic: decoding its messages, pages of it by offset (the HTTP pull).

The topic has one partition (streams/fanout.py), so an offset is a cursor: a page "after
N" is the messages at offsets N+1 … in order.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any
from uuid import UUID

from streams import avro_encoding
from streams.kafka_transport import KafkaPythonReader, PartitionId, ReceivedMessage
from streams.schemas import SchemaRegistry

__all__ = ["ServiceMessage", "decode_service_message", "read_service_page"]

ServiceMessage = dict[str, Any]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def decode_service_message(registry: SchemaRegistry, message: ReceivedMessage) -> ServiceMessage:
    """One message of a service topic as JSON-able data: offset, type, position, record."""
    headers = {name: value.decode() for name, value in message.headers}
    record = {} if message.value is None else avro_encoding.decode(message.value, registry.resolve)
    return {
        "offset": message.offset,
        "eventType": headers.get("event-type"),
        "position": int(headers["position"]) if "position" in headers else None,
        "tenant": headers.get("tenant"),
        "occurredAt": headers.get("occurred-at"),
        "schemaFingerprint": headers.get("schema-fingerprint"),
        "data": _jsonable(record),
    }


def read_service_page(
    bootstrap: str,
    topic: str,
    registry: SchemaRegistry,
    *,
    after: int,
    limit: int,
    wait_seconds: float,
) -> list[ServiceMessage]:
    """Up to `limit` messages after offset `after` (-1: from the start); waits up to
    `wait_seconds` for the first when there is none yet (a long poll)."""
    reader = KafkaPythonReader(
        bootstrap, client_id="digione-service-pull", max_poll_records=limit, fetch_wait_ms=100
    )
    try:
        if topic not in reader.topics():
            time.sleep(min(wait_seconds, 1.0))
            return []
        at = PartitionId(topic, 0)
        reader.assign([at])
        reader.seek(at, after + 1)
        deadline = time.monotonic() + wait_seconds
        found: list[ReceivedMessage] = []
        while True:
            polled = reader.poll(timeout_ms=200, max_records=limit - len(found))
            found.extend(polled.get(at, []))
            if found or time.monotonic() >= deadline:
                # One more short poll completes a page already started.
                if found and len(found) < limit:
                    more = reader.poll(timeout_ms=50, max_records=limit - len(found))
                    found.extend(more.get(at, []))
                break
        return [decode_service_message(registry, m) for m in found if m.offset > after]
    finally:
        reader.close()
