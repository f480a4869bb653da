"""The relay's record of what the broker acknowledged, as one statement on PostgreSQL.

After each acknowledged run of a tenant's events the relay records three things together:
the tenant's published position and broker epoch (`relay_positions`), the last position
published to each partition it wrote to (`relay_partition_positions`), and that none of
the positions passed is parked any more (`relay_parked`: an event parked once and
published again when the broker's log was replaced). As one transaction of three
statements that was five round trips (BEGIN, the three, COMMIT) on every relay pass: under
`digione bench`'s freshness load 37-38% of the relay's samples in py-spy.

On PostgreSQL the three are one statement (two data-modifying WITH queries and an upsert),
run in autocommit: atomic as a statement is, one round trip, on a connection the relay
holds (`acknowledging`). Elsewhere (SQLite) the same three statements in one transaction.
A run that parked events on the way is recorded by the relay's own transaction
(streams/relay.py `_checkpoint`), which parks them too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from streams.parked_events import relay_parked, unpark_published
from streams.positions import record_published, relay_partition_positions, relay_positions

__all__ = ["acknowledging", "record_acknowledged"]


def acknowledging(engine: Engine) -> Connection:
    """A connection for `record_acknowledged` (to be closed by the caller): in autocommit
    on PostgreSQL. The relay holds one rather than checking one out of the pool and back
    for each record (about 40% of a record's time in the relay's profile)."""
    connection = engine.connect()
    if connection.dialect.name == "postgresql":
        connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


def record_acknowledged(
    connection: Connection,
    tenant: str,
    *,
    first: int,
    last: int,
    partitions: Mapping[tuple[str, int], int],
    broker_epoch: str,
) -> None:
    """Records that the tenant's events `first`..`last` are acknowledged by the broker of
    `broker_epoch` (the tenant's position becomes `last`), with the last position published
    to each partition (`partitions`), and unparks the parked rows among those positions.
    `connection` is one of `acknowledging`."""
    if connection.dialect.name != "postgresql":
        with connection.begin():
            unpark_published(connection, tenant, first, last, still_parked=())
            record_published(connection, tenant, last, partitions, broker_epoch=broker_epoch)
        return
    topics, numbers, positions = [], [], []
    for (topic, partition), position in partitions.items():
        topics.append(topic)
        numbers.append(partition)
        positions.append(position)
    connection.execute(
        _acknowledged_on_postgresql(),
        {
            "tenant": tenant,
            "first": first,
            "last": last,
            "broker_epoch": broker_epoch,
            "topics": topics,
            "partitions": numbers,
            "positions": positions,
        },
    )


@functools.cache
def _acknowledged_on_postgresql() -> sa.TextClause:
    """`record_acknowledged`'s statement on PostgreSQL, built once."""
    return sa.text(
        f"""
        WITH unparked AS (
            DELETE FROM {relay_parked.name}
            WHERE tenant = :tenant AND position BETWEEN :first AND :last
        ), partitions AS (
            INSERT INTO {relay_partition_positions.name} (tenant, topic, partition, position)
            SELECT :tenant, published.topic, published.partition, published.position
            FROM unnest(
                CAST(:topics AS text[]),
                CAST(:partitions AS integer[]),
                CAST(:positions AS bigint[])
            ) AS published (topic, partition, position)
            ON CONFLICT (tenant, topic, partition) DO UPDATE SET position = excluded.position
        )
        INSERT INTO {relay_positions.name} (tenant, position, broker_epoch)
        VALUES (:tenant, :last, :broker_epoch)
        ON CONFLICT (tenant) DO UPDATE
        SET position = excluded.position, broker_epoch = excluded.broker_epoch
        """
    )
