"""Where the relay records, durably, what the broker has acknowledged.

Two tables in the main database (DIGIONE_DATABASE_URL), beside the read models:
- `relay_positions`: per tenant, the store position up to which every event was published
  and acknowledged;
- `relay_partition_positions`: per tenant, topic and partition, the last position published
  there. Consumers compare it with what they applied to know a quiet partition is caught
  up (Tansu's end offsets cannot be trusted for that, see DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

relay_positions = sa.Table(
    "relay_positions",
    metadata,
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    #: An id of the broker's contents the relay last published to (see relay.py).
    sa.Column("broker_epoch", sa.String(64), nullable=True),
)

relay_partition_positions = sa.Table(
    "relay_partition_positions",
    metadata,
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


def published_position(connection: Connection, tenant: str) -> int:
    """The store position up to which the tenant's events are acknowledged by the broker."""
    row = connection.execute(
        sa.select(relay_positions.c.position).where(relay_positions.c.tenant == tenant)
    ).first()
    return 0 if row is None else int(row[0])


def partition_positions(connection: Connection, tenant: str) -> dict[tuple[str, int], int]:
    """The last position published to each (topic, partition) of the tenant."""
    rows = connection.execute(
        sa.select(
            relay_partition_positions.c.topic,
            relay_partition_positions.c.partition,
            relay_partition_positions.c.position,
        ).where(relay_partition_positions.c.tenant == tenant)
    )
    return {(topic, partition): int(position) for topic, partition, position in rows}


def record_published(
    connection: Connection,
    tenant: str,
    position: int,
    partitions: Mapping[tuple[str, int], int],
) -> None:
    """Records, in the caller's transaction, that everything up to `position` was acknowledged."""
    _upsert(connection, relay_positions, {"tenant": tenant}, {"position": position})
    for (topic, partition), last in partitions.items():
        _upsert(
            connection,
            relay_partition_positions,
            {"tenant": tenant, "topic": topic, "partition": partition},
            {"position": last},
        )


def _upsert(
    connection: Connection, table: sa.Table, key: dict[str, object], values: dict[str, object]
) -> None:
    updated = connection.execute(
        table.update().where(*(table.c[k] == v for k, v in key.items())).values(**values)
    )
    if updated.rowcount == 0:
        connection.execute(table.insert().values(**key, **values))
