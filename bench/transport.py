"""Benchmark of the Kafka transport: how many relay-shaped messages per second it publishes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

from streams.kafka_transport import (
    ConfluentKafkaTransport,
    EventTransport,
    KafkaPythonTransport,
    OutgoingMessage,
    ensure_topics,
)

__all__ = ["TRANSPORTS", "measure_confluent_produce_rate", "measure_produce_rate"]

_VALUE_SIZE = 200
_AGGREGATES = 1000
_PARTITIONS = 3

#: The transports the relay can publish through, by the name the report gives them.
TRANSPORTS: dict[str, Callable[[str], EventTransport]] = {
    "kafka-python": lambda bootstrap: KafkaPythonTransport(bootstrap, client_id="digione-bench"),
    "confluent-kafka": lambda bootstrap: ConfluentKafkaTransport(
        bootstrap, client_id="digione-bench"
    ),
}


def _relay_shaped_batch(topic: str, *, first_position: int, count: int) -> list[OutgoingMessage]:
    """Messages shaped like the relay's: aggregate-id keys, ~200-byte values, four headers."""
    value = os.urandom(_VALUE_SIZE)
    return [
        OutgoingMessage(
            topic=topic,
            key=uuid.UUID(int=position % _AGGREGATES).bytes,
            value=value,
            headers=(
                ("event-type", b"fi.digione.assessment.AssessmentRecorded"),
                ("position", str(position).encode()),
                ("tenant", b"bench"),
                ("occurred-at", b"2025-05-28T09:15:00.000000+00:00"),
            ),
        )
        for position in range(first_position, first_position + count)
    ]


def measure_produce_rate(
    bootstrap: str,
    count: int,
    *,
    batch_size: int = 1000,
    transport_factory: Callable[[str], EventTransport] = TRANSPORTS["kafka-python"],
) -> float:
    """Publish `count` messages in batches of `batch_size` to a fresh topic; return messages/s.

    The clock covers publishing only, each batch waiting for its acknowledgement as the
    relay does; creating the topic and the producer's first connection are excluded.
    `transport_factory` builds the transport from the bootstrap address (kafka-python's by
    default).
    """
    topic = f"digione.bench.produce.{uuid.uuid4().hex[:12]}"
    ensure_topics(bootstrap, [topic], _PARTITIONS)
    batches = [
        _relay_shaped_batch(topic, first_position=start, count=min(batch_size, count - start))
        for start in range(0, count, batch_size)
    ]
    transport = transport_factory(bootstrap)
    try:
        # Connects, fetches metadata and obtains the idempotent producer id off the clock.
        transport.publish(_relay_shaped_batch(topic, first_position=count, count=1))
        started = time.perf_counter()
        for batch in batches:
            transport.publish(batch)
        elapsed = time.perf_counter() - started
    finally:
        transport.close()
    return count / elapsed


def measure_confluent_produce_rate(bootstrap: str, count: int, *, batch_size: int = 1000) -> float:
    """measure_produce_rate with confluent-kafka's producer instead of kafka-python's."""
    return measure_produce_rate(
        bootstrap, count, batch_size=batch_size, transport_factory=TRANSPORTS["confluent-kafka"]
    )
