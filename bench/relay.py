"""Section 2, relay: stored events per second acknowledged by the broker, beside bare producers.

Reported beside the bare producers on the same broker (bench/transport.py), so the
relay's own cost (reading the store, decoding, Avro encoding, recording positions) shows
as the distance from its client's ceiling.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa
from rich.progress import Progress
from sqlalchemy.engine import Engine

from api.bootstrap import Container
from bench.transport import TRANSPORTS, measure_confluent_produce_rate, measure_produce_rate
from domain.application import TenantApplication
from domain.ids import aggregate_id
from domain.roster import Org
from streams.codec import EventCodec
from streams.positions import relay_partition_positions, relay_positions
from streams.relay import Relay
from streams.schemas import default_registry

__all__ = ["measure_relay", "measure_relay_rate", "relay_benchmarks"]

_PARTITIONS = 3
#: Aggregates saved per call while preparing: one transaction each (not timed).
_SAVE_CHUNK = 1000


class _OneTenant:
    """The relay's view of the tenants: only the benchmark's own."""

    def __init__(self, app: TenantApplication) -> None:
        self._app = app

    def ids(self) -> list[str]:
        return [self._app.tenant]

    def get(self, tenant: str) -> TenantApplication:
        return self._app


def _store_events(app: TenantApplication, count: int) -> None:
    """Saves `count` Org.Registered events (one per new school), a chunk per transaction."""
    run = uuid.uuid4().hex[:8]
    for start in range(0, count, _SAVE_CHUNK):
        orgs = []
        for number in range(start, min(start + _SAVE_CHUNK, count)):
            sourced_id = f"bench-{run}-{number}"
            orgs.append(
                Org.register(
                    aggregate_id(app.tenant, "orgs", sourced_id),
                    sourced_id=sourced_id,
                    name=f"Benchmark school {number}",
                    org_type="school",
                    identifier=f"{number:06}",
                    parent=None,
                )
            )
        app.save(*orgs)


def measure_relay_rate(
    app: TenantApplication,
    engine: Engine,
    bootstrap: str,
    count: int,
    *,
    batch_size: int = 1000,
    transport: str = "kafka-python",
) -> float:
    """Store `count` events in the tenant of `app`, relay them; return events/s.

    The tenant must be one of the benchmark's own: its relay positions in `engine` are used
    and then deleted. The clock covers the relay's pass over the `count` events (read,
    encode, publish and wait for the acknowledgements, record positions); events already in
    the store, topic creation, the broker marker and the first connection are published by
    an untimed pass first. Topics get a prefix of their own.
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
        _store_events(app, 1)
        relay.run_once()
        _store_events(app, count)
        started = time.perf_counter()
        published = relay.run_once()
        elapsed = time.perf_counter() - started
        status = relay.status()[app.tenant]
        if published != count or status["lag"]:
            raise RuntimeError(
                f"the relay published {published} of {count} events: {status['last_error']}"
            )
    finally:
        relay.stop()
        with engine.begin() as connection:
            for table in (relay_positions, relay_partition_positions):
                connection.execute(sa.delete(table).where(table.c.tenant == app.tenant))
    return count / elapsed


def relay_benchmarks(
    app: TenantApplication, engine: Engine, bootstrap: str, count: int, *, batch_size: int = 1000
) -> dict[str, float]:
    """Every rate of the relay and of the bare producers it is compared with, per second."""
    return {
        "relay_kafka_python": measure_relay_rate(
            app, engine, bootstrap, count, batch_size=batch_size, transport="kafka-python"
        ),
        "relay_confluent_kafka": measure_relay_rate(
            app, engine, bootstrap, count, batch_size=batch_size, transport="confluent-kafka"
        ),
        "produce_kafka_python": measure_produce_rate(bootstrap, count, batch_size=batch_size),
        "produce_confluent_kafka": measure_confluent_produce_rate(
            bootstrap, count, batch_size=batch_size
        ),
    }


def measure_relay(
    container: Container, tenant: str, *, bootstrap: str, count: int, progress: Progress
) -> dict[str, dict[str, Any]]:
    """The relay through each Kafka client, and each client's bare producer, on one broker."""
    task = progress.add_task(f"relay and bare producers, {count:,} events each", total=1)
    app = container.tenants.create(tenant, name="Benchmark relay")
    rates = relay_benchmarks(app, container.engine, bootstrap, count)
    progress.advance(task)
    units = {"relay": "events/s", "produce": "msg/s"}
    return {
        name: {"count": count, "rate_per_s": round(rate, 1), "unit": units[name.split("_")[0]]}
        for name, rate in rates.items()
    }
