"""Where the relay records, durably, what the broker has acknowledged.

Two tables in the main database (DIGIONE_DATABASE_URL), beside the read models:
- `relay_positions`: per tenant, the store position up to which every event was published
  and acknowledged;
- `relay_partition_positions`: per tenant, topic and partition, the last position published
  there. Consumers compare it with what they applied to know a quiet partition is caught
  up (Tansu's end offsets cannot be trusted for that, see DESIGN.md).

Each tenant's row also names the broker epoch (streams/relay.py) its position refers to: a
position acknowledged by a broker that has since lost its data is worth nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
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


class PublishedState(NamedTuple):
    """A tenant's published position and the broker epoch it was acknowledged in."""

    position: int
    broker_epoch: str | None


def published_state(connection: Connection, tenant: str) -> PublishedState:
    """The tenant's published position with its broker epoch (0 and None before any publish)."""
    row = connection.execute(_published_state(), {"tenant": tenant}).first()
    return PublishedState(0, None) if row is None else PublishedState(int(row[0]), row[1])


@functools.cache
def _published_state() -> sa.Select[int, str | None]:
    """`published_state`'s statement, built once: the relay runs it on every pass."""
    t = relay_positions
    return sa.select(t.c.position, t.c.broker_epoch).where(t.c.tenant == sa.bindparam("tenant"))


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
    *,
    broker_epoch: str | None = None,
) -> None:
    """Records, in the caller's transaction, that everything up to `position` was acknowledged.

    `broker_epoch`, when given, is recorded as the epoch of the broker that acknowledged it.
    Two statements, each built once, whatever the number of partitions: the relay records
    this after every acknowledged batch (the statements built anew for each row took a
    sixth of its thread's CPU under a steady trickle of commands).
    """
    values: dict[str, object] = {"tenant": tenant, "position": position}
    if broker_epoch is not None:
        values["broker_epoch"] = broker_epoch
    dialect = connection.dialect.name
    connection.execute(_upsert_statement(dialect, relay_positions, tuple(values)), values)
    if partitions:
        connection.execute(
            _upsert_statement(dialect, relay_partition_positions, _PARTITION_COLUMNS),
            [
                {"tenant": tenant, "topic": topic, "partition": partition, "position": last}
                for (topic, partition), last in partitions.items()
            ],
        )


_TENANT_COLUMNS = ("tenant", "position", "broker_epoch")
_PARTITION_COLUMNS = ("tenant", "topic", "partition", "position")


@functools.cache
def _upsert_statement(dialect: str, table: sa.Table, columns: Sequence[str]) -> sa.Insert:
    """INSERT of `columns` (bound by their names) that, where the row's primary key is
    taken, sets the row's other columns among them instead; built once per dialect."""
    values: dict[str, Any] = {name: sa.bindparam(name) for name in columns}
    key = [column.name for column in table.primary_key.columns]
    others = [name for name in columns if name not in key]
    if dialect == "postgresql":
        on_postgresql = postgresql.insert(table).values(values)
        return on_postgresql.on_conflict_do_update(
            index_elements=key, set_={name: on_postgresql.excluded[name] for name in others}
        )
    on_sqlite = sqlite.insert(table).values(values)
    return on_sqlite.on_conflict_do_update(
        index_elements=key, set_={name: on_sqlite.excluded[name] for name in others}
    )


def raise_partition_position(
    connection: Connection, tenant: str, topic: str, partition: int, position: int
) -> None:
    """Records, in the caller's transaction, that `position` was published to the partition
    (a parked event published again), unless a later one was recorded there already."""
    row = connection.execute(
        sa.select(relay_partition_positions.c.position).where(
            relay_partition_positions.c.tenant == tenant,
            relay_partition_positions.c.topic == topic,
            relay_partition_positions.c.partition == partition,
        )
    ).first()
    if row is None or int(row[0]) < position:
        connection.execute(
            _upsert_statement(
                connection.dialect.name, relay_partition_positions, _PARTITION_COLUMNS
            ),
            {"tenant": tenant, "topic": topic, "partition": partition, "position": position},
        )


def reset_published(connection: Connection, tenant: str, *, broker_epoch: str) -> None:
    """Records, in the caller's transaction, that nothing of the tenant is on the broker of
    `broker_epoch` yet: its position goes back to 0 and its partition positions are forgotten."""
    connection.execute(
        _upsert_statement(connection.dialect.name, relay_positions, _TENANT_COLUMNS),
        {"tenant": tenant, "position": 0, "broker_epoch": broker_epoch},
    )
    connection.execute(
        relay_partition_positions.delete().where(relay_partition_positions.c.tenant == tenant)
    )
