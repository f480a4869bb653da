"""Stored events the relay could not publish (or the service fan-out could not deliver):
parked, so the rest of their tenant flows on.

A per-message failure (the codec cannot encode the event, the producer or the broker refuses
the message as too large) is not the broker's fault, and retrying the same batch would hold
every later event of the tenant back for ever. The relay records such an event in
`relay_parked` (in the main database, beside `relay_positions`), logs it once, and moves its
published position past it. `digione relay parked` lists the rows and `digione relay retry`
publishes them again; a published one leaves the table.

A row holds where the event is (tenant, position), what it is (stored type, originator id and
version) and why it is parked. Never the payload: the event stays in the store, which is
where a retry reads it from.

The service fan-out (streams/fanout.py) parks the events it cannot route or deliver in a
table of the same shape, `service_fanout_parked` (`FANOUT_PARKED`): every function here
takes the table, the relay's by default. `digione fanout parked` and `digione fanout retry`
list and deliver them again.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "FANOUT_PARKED",
    "ParkedEvent",
    "ParkedSummary",
    "create_tables",
    "park",
    "parked_events",
    "parked_summary",
    "relay_parked",
    "unpark",
    "unpark_published",
]

metadata = sa.MetaData()


def _parked_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("tenant", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        #: The stored event's type (its class path in the store, or its type name),
        #: e.g. domain.roster:User.Updated.
        sa.Column("event_type", sa.String(300), nullable=False),
        sa.Column("originator_id", sa.String(64), nullable=True),
        sa.Column("originator_version", sa.BigInteger, nullable=True),
        #: Why the event cannot be published: an error class and a text without field values.
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    )


relay_parked = _parked_table("relay_parked")
#: The events the service fan-out could not route or deliver.
FANOUT_PARKED = _parked_table("service_fanout_parked")


@dataclass(frozen=True)
class ParkedEvent:
    """A row of `relay_parked`."""

    tenant: str
    position: int
    event_type: str
    originator_id: str | None
    originator_version: int | None
    reason: str
    attempts: int
    parked_at: datetime


class ParkedSummary(NamedTuple):
    """How many of a tenant's events are parked, and the position of the oldest."""

    parked: int
    oldest_position: int | None


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def park(
    connection: Connection,
    *,
    tenant: str,
    position: int,
    event_type: str,
    originator_id: str | None,
    originator_version: int | None,
    reason: str,
    table: sa.Table = relay_parked,
) -> bool:
    """Records (in the caller's transaction) that the event is parked; True when it was not
    parked before (a new row), False when an existing row was updated with the new reason."""
    updated = connection.execute(
        table.update()
        .where(table.c.tenant == tenant, table.c.position == position)
        .values(reason=reason, attempts=table.c.attempts + 1)
    )
    if updated.rowcount:
        return False
    connection.execute(
        table.insert().values(
            tenant=tenant,
            position=position,
            event_type=event_type,
            originator_id=originator_id,
            originator_version=originator_version,
            reason=reason,
            attempts=1,
            parked_at=datetime.now(UTC),
        )
    )
    return True


def unpark(
    connection: Connection, tenant: str, position: int, *, table: sa.Table = relay_parked
) -> None:
    connection.execute(table.delete().where(table.c.tenant == tenant, table.c.position == position))


def unpark_published(
    connection: Connection, tenant: str, first: int, last: int, still_parked: Iterable[int]
) -> None:
    """Removes the rows of positions `first`..`last` but `still_parked`: a relay that
    publishes everything again (a broker that lost its data) may now publish a parked event."""
    keep = list(still_parked)
    bounds = {"tenant": tenant, "first": first, "last": last}
    if not keep:  # as good as always: the statement of every relay checkpoint, built once
        connection.execute(_unpark_published(), bounds)
        return
    query = _unpark_published().where(relay_parked.c.position.not_in(keep))
    connection.execute(query, bounds)


@functools.cache
def _unpark_published() -> sa.Delete:
    t = relay_parked
    return t.delete().where(
        t.c.tenant == sa.bindparam("tenant"),
        t.c.position.between(sa.bindparam("first"), sa.bindparam("last")),
    )


def parked_events(
    connection: Connection,
    *,
    tenant: str | None = None,
    position: int | None = None,
    table: sa.Table = relay_parked,
) -> list[ParkedEvent]:
    """The parked events (of a tenant, at a position), in tenant and store order."""
    query = sa.select(table).order_by(table.c.tenant, table.c.position)
    if tenant is not None:
        query = query.where(table.c.tenant == tenant)
    if position is not None:
        query = query.where(table.c.position == position)
    return [
        ParkedEvent(
            tenant=row.tenant,
            position=int(row.position),
            event_type=row.event_type,
            originator_id=row.originator_id,
            originator_version=None
            if row.originator_version is None
            else int(row.originator_version),
            reason=row.reason,
            attempts=int(row.attempts),
            parked_at=row.parked_at,
        )
        for row in connection.execute(query)
    ]


def parked_summary(
    connection: Connection, *, table: sa.Table = relay_parked
) -> dict[str, ParkedSummary]:
    """Per tenant with parked events: their count and the oldest one's position."""
    rows = connection.execute(
        sa.select(table.c.tenant, sa.func.count(), sa.func.min(table.c.position)).group_by(
            table.c.tenant
        )
    )
    return {tenant: ParkedSummary(int(count), int(oldest)) for tenant, count, oldest in rows}
