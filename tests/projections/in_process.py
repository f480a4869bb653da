"""Applying a tenant's stored events to read models in process, as the runner would after
the broker: each event encoded and decoded by the real codec, then handed to the real
projection's handlers in store order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from eventsourcing.domain import Aggregate

from api.bootstrap import Container
from domain.application import TenantApplication
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
            last = n.id
    return last
