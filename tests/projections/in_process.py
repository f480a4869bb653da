"""Applying a tenant's stored events to read models in process, as the runner would after
the broker: each event encoded and decoded by the real codec, then handed to the real
projection's handlers in store order, and each projection's position on the topics written
in the same transaction (the runner's invariant, which reads rely on: a read model that
changed has moved its position)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from eventsourcing.domain import Aggregate
from sqlalchemy.engine import Connection

from api.bootstrap import Container
from domain.application import TenantApplication
from projections import positions
from projections.base import Projection
from streams.kafka_transport import ReceivedMessage


def apply_store_events(
    container: Container,
    app: TenantApplication,
    projections: Sequence[Projection],
    *,
    after: int = 0,
) -> int:
    """Applies the tenant's events after position `after`; returns the last position."""
    last = after
    notifications = app.recorder.select_notifications(after + 1, limit=1_000_000)
    topics: dict[str, int] = {}
    with container.engine.begin() as connection:
        for n in notifications:
            event = cast(Aggregate.Event, app.mapper.to_domain_event(n))
            out = container.codec.encode(app.tenant, n.id, event)
            envelope = container.codec.decode(
                ReceivedMessage(
                    topic=out.topic,
                    partition=0,
                    offset=n.id,
                    key=out.key,
                    value=out.value,
                    headers=out.headers,
                    timestamp_ms=0,
                )
            )
            for projection in projections:
                handler = projection.handlers.get(envelope.event_type)
                if handler is not None:
                    handler(connection, envelope)
            last = topics[out.topic] = n.id
        for projection in projections:
            for topic, position in topics.items():
                _write_position(connection, projection.name, app.tenant, topic, position)
    return last


def _write_position(
    connection: Connection, projection: str, tenant: str, topic: str, position: int
) -> None:
    """Every event of `topic` up to `position` applied; the messages are numbered by
    their store positions, all on partition 0."""
    key: dict[str, Any] = {
        "projection": projection,
        "tenant": tenant,
        "topic": topic,
        "partition": 0,
    }
    value = positions.PartitionPosition(position, position + 1, position, None)
    if positions.read_partition(connection, **key) is None:
        connection.execute(positions.projection_positions.insert().values(**key, position=0))
    positions.write_partition(connection, **key, value=value)
