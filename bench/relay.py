"""Relay: realistic stored events (sealed students, bench/events.py) per second acknowledged
by the broker, beside the bare confluent-kafka producer publishing the same messages.

The bare producer is the ceiling: the same encoded messages (topics, keys, partitions,
headers, values) produced as fast as librdkafka takes them and flushed once at the end,
with the relay's producer settings. The distance from it is the relay's own cost (reading
the store, decoding, Avro encoding, waiting for acknowledgements, recording positions).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from eventsourcing.domain import Aggregate
from rich.progress import Progress
from sqlalchemy.engine import Engine

from api.bootstrap import Container
from bench.events import EVENTS_PER_STUDENT, save_sealed_roster
from bench.process_cpu import CpuWatch
from bench.transport import TRANSPORTS
from domain.application import TenantApplication
from streams.codec import EventCodec
from streams.event_types import FAMILIES
from streams.kafka_transport import CONFLUENT_PRODUCER_SETTINGS, OutgoingMessage, ensure_topics
from streams.positions import relay_partition_positions, relay_positions
from streams.relay import Relay
from streams.schemas import default_registry

__all__ = ["RelayBenchmark", "measure_relay", "measure_relay_rate"]

_PARTITIONS = 3
#: Messages read from the store per query while the bare producer's batch is prepared.
_READ_CHUNK = 5000


@dataclass(frozen=True)
class RelayBenchmark:
    """The relay's rate beside the bare producer's on the same events, same broker; and the
    cores each part kept busy meanwhile (bench/process_cpu.py; None without /proc: the
    bench's own process is the relay, then the producer)."""

    events: int
    relay_events_per_s: float
    producer_messages_per_s: float
    relay_cores: dict[str, float] | None = None
    producer_cores: dict[str, float] | None = None


class _OneTenant:
    """The relay's view of the tenants: only the benchmark's own."""

    def __init__(self, app: TenantApplication) -> None:
        self._app = app

    def ids(self) -> list[str]:
        return [self._app.tenant]

    def get(self, tenant: str) -> TenantApplication:
        return self._app


def _store_events(app: TenantApplication, count: int) -> None:
    """Saves about `count` realistic events (at least 2 + 3 per student, rounded up)."""
    students = max(0, -(-(count - 2) // EVENTS_PER_STUDENT))
    save_sealed_roster(app, students=students, run=uuid.uuid4().hex[:8])


def measure_relay_rate(
    app: TenantApplication,
    engine: Engine,
    bootstrap: str,
    count: int,
    *,
    batch_size: int = 1000,
    transport: str = "confluent-kafka",
) -> tuple[float, dict[str, float] | None]:
    """Store about `count` realistic events in the tenant of `app`, relay them; events/s,
    and the cores each part kept busy during the timed pass.

    The tenant must be one of the benchmark's own: its relay positions in `engine` are used
    and then deleted. The clock covers the relay's pass over the new events (read, encode,
    publish and wait for the acknowledgements, record positions); events already in the
    store, topic creation, the broker marker and the first connection are published by an
    untimed pass first. Topics get a prefix of their own.
    """
    prefix = f"digionebench{uuid.uuid4().hex[:8]}"
    relay = Relay(
        tenants=_OneTenant(app),
        engine=engine,
        codec=EventCodec(default_registry(), topic_prefix=prefix, partitions=_PARTITIONS),
        transport_factory=lambda: TRANSPORTS[transport](bootstrap),
        bootstrap=bootstrap,
        topic_prefix=prefix,
        partitions=_PARTITIONS,
        batch_size=batch_size,
        # One pass publishes everything; a broker check in the middle is no part of its cost.
        epoch_check_seconds=3600.0,
    )
    try:
        _store_events(app, 2)
        relay.run_once()
        before = app.head_position()
        _store_events(app, count)
        stored = app.head_position() - before
        with CpuWatch() as watch:
            started = time.perf_counter()
            published = relay.run_once()
            elapsed = time.perf_counter() - started
        status = relay.status()[app.tenant]
        if published != stored or status["lag"]:
            raise RuntimeError(
                f"the relay published {published} of {stored} events: {status['last_error']}"
            )
    finally:
        relay.stop()
        with engine.begin() as connection:
            for table in (relay_positions, relay_partition_positions):
                connection.execute(sa.delete(table).where(table.c.tenant == app.tenant))
    return stored / elapsed, watch.cores


def measure_bare_producer_rate(
    app: TenantApplication, bootstrap: str
) -> tuple[int, float, dict[str, float] | None]:
    """Every stored event of `app`'s tenant encoded as the relay encodes it (untimed), then
    produced by a bare confluent-kafka producer and flushed once; (messages, messages/s,
    the cores each part kept busy while it produced)."""
    import confluent_kafka

    prefix = f"digionebench{uuid.uuid4().hex[:8]}"
    codec = EventCodec(default_registry(), topic_prefix=prefix, partitions=_PARTITIONS)
    ensure_topics(
        bootstrap, [f"{prefix}.{app.tenant}.{family}.v1" for family in FAMILIES], _PARTITIONS
    )
    messages: list[OutgoingMessage] = []
    after = 0
    while notifications := app.recorder.select_notifications(after + 1, _READ_CHUNK):
        messages += [
            codec.encode(app.tenant, n.id, cast(Aggregate.Event, app.mapper.to_domain_event(n)))
            for n in notifications
        ]
        after = notifications[-1].id
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "digione-bench",
            **CONFLUENT_PRODUCER_SETTINGS,
        }
    )
    failures: list[Any] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(error)

    # Connects, fetches metadata and obtains the idempotent producer id off the clock.
    first = messages[0]
    producer.produce(first.topic, value=first.value, key=first.key, partition=first.partition or 0)
    producer.flush(30)
    with CpuWatch() as watch:
        started = time.perf_counter()
        for message in messages:
            while True:
                try:
                    producer.produce(
                        message.topic,
                        value=message.value,
                        key=message.key,
                        headers=list(message.headers),
                        partition=message.partition if message.partition is not None else -1,
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    producer.poll(0.05)  # the local queue is full: delivery reports make room
        remaining = producer.flush(120)
        elapsed = time.perf_counter() - started
    if remaining or failures:
        raise RuntimeError(
            f"the bare producer left {remaining} messages undelivered and saw "
            f"{len(failures)} failures: {failures[:3]}"
        )
    return len(messages), len(messages) / elapsed, watch.cores


def measure_relay(
    container: Container, tenant: str, *, bootstrap: str, count: int, progress: Progress
) -> RelayBenchmark:
    """The relay through confluent-kafka, then the bare producer on the same events."""
    task = progress.add_task(f"relay and bare producer, {count:,} events", total=2)
    app = container.tenants.create(tenant, name="Benchmark relay")
    relay_rate, relay_cores = measure_relay_rate(app, container.engine, bootstrap, count)
    progress.advance(task)
    messages, producer_rate, producer_cores = measure_bare_producer_rate(app, bootstrap)
    progress.advance(task)
    return RelayBenchmark(
        events=messages,
        relay_events_per_s=relay_rate,
        producer_messages_per_s=producer_rate,
        relay_cores=relay_cores,
        producer_cores=producer_cores,
    )
