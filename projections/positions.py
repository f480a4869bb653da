"""What projections record about themselves: positions, code versions and parked messages.

Three tables in the main database (DIGIONE_DATABASE_URL), beside the read models and the
relay's own position tables:
- `projection_positions`: per projection, tenant, topic and partition, the store position up
  to which every message of the partition is applied (or parked) and the offset to read
  next. Written in the same transaction as the read-model change (DESIGN.md invariant 2).
- `projection_versions`: the code version each projection's tables were built by; a
  different version in the code rebuilds them (invariant 3).
- `projection_parked`: messages whose handler failed, without their payload (it may hold
  ciphertext, and an error row has no business keeping personal data, sealed or not).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from streams.positions import relay_positions

__all__ = [
    "POSITIONS_CHANNEL",
    "BatchEnd",
    "LockedBatch",
    "ParkedMessage",
    "PartitionPosition",
    "create_tables",
    "first_retry",
    "lock_partition",
    "lock_partition_for_batch",
    "lock_partitions_for_batches",
    "metadata",
    "projection_parked",
    "projection_positions",
    "projection_retried",
    "projection_versions",
    "read_model_version",
]

log = logging.getLogger(__name__)

metadata = sa.MetaData()

projection_positions = sa.Table(
    "projection_positions",
    metadata,
    sa.Column("projection", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    #: Every message of the partition with a store position up to this one is applied
    #: (or parked); a message at or below it is a duplicate.
    sa.Column("position", sa.BigInteger, nullable=False),
    #: The offset of the next message to read; null until the first batch is applied.
    sa.Column("next_offset", sa.BigInteger, nullable=True),
    #: The store position carried by the message at `next_offset - 1`. A consumer that
    #: resumes reads that message again and compares: a broker that lost its data and was
    #: refilled by the relay has other messages at those offsets.
    sa.Column("checkpoint_position", sa.BigInteger, nullable=True),
    #: The relay's broker epoch (streams/relay.py) the offsets belong to: offsets of
    #: another epoch are of a log the broker no longer holds.
    sa.Column("broker_epoch", sa.String(64), nullable=True),
)

projection_versions = sa.Table(
    "projection_versions",
    metadata,
    sa.Column("projection", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
)

projection_parked = sa.Table(
    "projection_parked",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("projection", sa.String(64), nullable=False),
    sa.Column("tenant", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(249), nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    #: Null only for a message without a readable `position` header.
    sa.Column("position", sa.BigInteger, nullable=True),
    sa.Column("event_type", sa.String(200), nullable=True),
    sa.Column("aggregate_id", sa.String(64), nullable=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("projection_parked_partition", "projection", "tenant", "topic", "partition"),
)


#: Parked events the relay published again after later positions (streams.codec
#: RETRY_HEADER) that a projection applied: such a message is applied once, though its
#: position is below the partition's.
projection_retried = sa.Table(
    "projection_retried",
    metadata,
    sa.Column("projection", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True),
)


def create_tables(engine: Engine) -> None:
    """Creates the tables; recreates them when they lack a column this code writes.

    They need no migrations either: recreated, they make every projection rebuild from the
    beginning of its topics, which gives the same read models. Extra columns (of a newer
    release running beside this one) are left alone.
    """
    with engine.begin() as connection:
        inspector = sa.inspect(connection)
        existing = set(inspector.get_table_names())
        stale = [
            table.name
            for table in metadata.sorted_tables
            if table.name in existing
            and set(table.columns.keys())
            - {column["name"] for column in inspector.get_columns(table.name)}
        ]
        if stale:
            log.warning(
                "projection bookkeeping tables %s lack columns: recreating them, so every "
                "projection rebuilds",
                ", ".join(stale),
            )
            metadata.drop_all(connection)
        metadata.create_all(connection)


@dataclass(frozen=True)
class PartitionPosition:
    """A projection's row in `projection_positions`."""

    position: int
    next_offset: int | None
    checkpoint_position: int | None
    broker_epoch: str | None = None


@dataclass(frozen=True)
class ParkedMessage:
    """A row of `projection_parked`."""

    id: int
    projection: str
    tenant: str
    topic: str
    partition: int
    offset: int
    position: int | None
    event_type: str | None
    aggregate_id: str | None
    error: str
    attempts: int
    parked_at: datetime


def ensure_partition(
    engine: Engine, *, projection: str, tenant: str, topic: str, partition: int
) -> PartitionPosition:
    """The partition's row, created empty (read from the beginning) when there is none."""
    with engine.begin() as connection:
        found = read_partition(
            connection, projection=projection, tenant=tenant, topic=topic, partition=partition
        )
        if found is not None:
            return found
    try:
        with engine.begin() as connection:
            connection.execute(
                projection_positions.insert().values(
                    projection=projection,
                    tenant=tenant,
                    topic=topic,
                    partition=partition,
                    position=0,
                    next_offset=None,
                    checkpoint_position=None,
                )
            )
    except sa.exc.IntegrityError:
        pass  # another worker created it a moment ago
    return PartitionPosition(0, None, None, None)


def read_partition(
    connection: Connection, *, projection: str, tenant: str, topic: str, partition: int
) -> PartitionPosition | None:
    row = connection.execute(
        sa.select(*_position_columns()).where(*_bound_key(projection_positions)),
        _key_parameters(projection, tenant, topic, partition),
    ).first()
    return _position_of(row)


def lock_partition(
    connection: Connection, *, projection: str, tenant: str, topic: str, partition: int
) -> PartitionPosition | None:
    """Locks the partition's row for this transaction and returns it (None when absent).

    The lock is taken by a write, as the transaction's first statement: on PostgreSQL that
    row lock serialises workers that happen to share a partition (the row returned is the
    one the lock was granted on, as a read after it would see); on SQLite it takes the
    database's write lock before anything is read, so no read can go stale before the write.
    """
    locked = lock_partition_for_batch(
        connection, projection=projection, tenant=tenant, topic=topic, partition=partition
    )
    return None if locked is None else locked.position


@dataclass(frozen=True)
class LockedBatch:
    """What a batch's transaction learns from the statement that locks its partition."""

    position: PartitionPosition
    #: The relay's broker epoch of the tenant, as the transaction sees it (None: the relay
    #: has published nothing of the tenant yet).
    published_epoch: str | None
    #: Whether the partition has parked messages (their rows are worth reading only then).
    has_parked: bool
    #: Whether the same statement also wrote where the batch leaves the partition (its
    #: `BatchEnd`): only on PostgreSQL, for a batch in step with the partition.
    ended: bool = False


@dataclass(frozen=True)
class BatchEnd:
    """A batch as the statement that locks its partition can check and end it: in step
    when it starts at the stored next offset (or reads from the beginning of the log) and
    the relay's broker epoch is the batch's; then the partition's position becomes the
    greater of the stored one and the batch's highest position that counts (the position
    its messages leave applied or parked, whatever each of them turns out to be), and its
    next offset, checkpoint and epoch the batch's."""

    first_offset: int
    from_beginning: bool
    #: The highest store position among the batch's messages of the topic's own tenant
    #: (None: none has one).
    highest_position: int | None
    next_offset: int
    checkpoint_position: int | None
    broker_epoch: str | None

    def position_after(self, stored: int) -> int:
        """The partition's applied position once the batch is applied over `stored`."""
        if self.highest_position is None:
            return stored
        return max(stored, self.highest_position)


#: The PostgreSQL channel on which a runner's batch announces that the tenant's positions of
#: the projection moved (payload "<tenant> <projection>"; lock_partition_for_batch): reads
#: waiting for a position look at once (projections/status.py) rather than at their next
#: poll.
POSITIONS_CHANNEL = "digione_projection_positions"


def lock_partition_for_batch(
    connection: Connection,
    *,
    projection: str,
    tenant: str,
    topic: str,
    partition: int,
    applying: bool = False,
) -> LockedBatch | None:
    """`lock_partition`, and in the same statement the tenant's published broker epoch
    and whether the partition has parked messages: one round trip where a batch took
    three (the lock, the relay's position, the parked rows, each built anew), on every
    batch of every projection. The epoch is read in the statement that takes the lock;
    the relay records a new epoch before it publishes a message of the new log, so a
    batch read from that log finds it. None when the partition has no row.

    With `applying` (the runner's batches), on PostgreSQL the same statement also has the
    transaction commit without waiting for the WAL's flush (`SET LOCAL synchronous_commit
    = off`: the rows and the position commit together, so a transaction lost in a crash is
    lost whole and applied again from the topic) and announces, at commit, that the
    projection's positions for the tenant moved (NOTIFY on POSITIONS_CHANNEL, payload
    "<tenant> <projection>"): two round trips fewer on every batch."""
    return lock_partitions_for_batches(
        connection,
        projection=projection,
        tenant=tenant,
        topic=topic,
        partitions=[partition],
        applying=applying,
    ).get(partition)


def lock_partitions_for_batches(
    connection: Connection,
    *,
    projection: str,
    tenant: str,
    topic: str,
    partitions: Collection[int],
    applying: bool = False,
    ends: Mapping[int, BatchEnd] | None = None,
) -> dict[int, LockedBatch]:
    """`lock_partition_for_batch` of several partitions of one topic in one statement (a
    poll's batches of a topic's partitions, applied in one transaction, took a round trip
    each); the partitions without a row are left out. The rows are locked in the order
    the statement finds them, not one by one in the partitions' order: two workers that
    share partitions (for a moment, while partitions move between them) run the same
    statement and lock them in the same order in practice; should they ever wait on each
    other in a circle, PostgreSQL ends one of the transactions, and its batch is applied
    again.

    With `applying` and `ends` (each partition's batch, `BatchEnd`), on PostgreSQL the same
    statement also ends each batch in step with its partition: it writes the position, next
    offset, checkpoint and epoch the batch leaves, which the batch's transaction wrote by a
    statement of its own at its end (one round trip and one row version fewer per batch;
    the write commits or rolls back with the batch's rows all the same). `ended` says which
    it wrote; a partition not in step, or without an end, is left as it was."""
    parameters: dict[str, Any] = {
        "key_projection": projection,
        "key_tenant": tenant,
        "key_topic": topic,
        "key_partitions": sorted(partitions),
    }
    applying = applying and connection.dialect.name == "postgresql"
    if applying:
        parameters["announcement"] = f"{tenant} {projection}"
        if ends:
            return _lock_and_end(connection, parameters, ends)
    locked = {}
    for row in connection.execute(_lock_for_batch(applying), parameters):
        position = _position_of(row)
        if position is not None:
            locked[int(row.locked_partition)] = LockedBatch(
                position, row.published_epoch, bool(row.has_parked)
            )
    return locked


@functools.cache
def _lock_for_batch(applying: bool) -> sa.Update:
    t, r, p = projection_positions, relay_positions, projection_parked
    published = (
        sa.select(r.c.broker_epoch)
        .where(r.c.tenant == sa.bindparam("key_tenant", type_=sa.String))
        .scalar_subquery()
    )
    # The locked row's partition, named with its table: SQLAlchemy names an UPDATE's own
    # columns bare, which inside this subquery would name the parked row's.
    locked_partition: sa.ColumnElement[int] = sa.literal_column(
        f"{t.name}.{t.c.partition.name}", type_=sa.Integer
    )
    parked = sa.exists().where(*_bound_topic(p), p.c.partition == locked_partition)
    return (
        t.update()
        .where(
            *_bound_topic(t),
            t.c.partition.in_(sa.bindparam("key_partitions", expanding=True)),
        )
        .values(position=t.c.position)
        .returning(
            *_position_columns(),
            published.label("published_epoch"),
            parked.label("has_parked"),
            t.c.partition.label("locked_partition"),
            *(_batch_settings() if applying else ()),
        )
    )


def _lock_and_end(
    connection: Connection, parameters: dict[str, Any], ends: Mapping[int, BatchEnd]
) -> dict[int, LockedBatch]:
    """`lock_partitions_for_batches` ending the batches in step (PostgreSQL only)."""
    numbers = sorted(ends)
    # The partitions to lock as one array, the ends as rows of scalar parameters: the
    # statement's text is then the same for as many ends (not rendered again for each
    # execution, as an expanding IN is), and it dumps no array of each column.
    columns: dict[str, Any] = {"lock_partitions": parameters["key_partitions"]}
    for index, number in enumerate(numbers):
        end = ends[number]
        columns.update(
            {
                f"end_partition_{index}": number,
                f"end_first_offset_{index}": end.first_offset,
                f"end_from_beginning_{index}": end.from_beginning,
                f"end_highest_position_{index}": end.highest_position,
                f"end_next_offset_{index}": end.next_offset,
                f"end_checkpoint_{index}": end.checkpoint_position,
                f"end_epoch_{index}": end.broker_epoch,
            }
        )
    locked = {}
    statement = _lock_and_end_on_postgresql(len(numbers))
    for row in connection.execute(statement, {**parameters, **columns}):
        position = PartitionPosition(
            int(row.old_position),
            _int_or_none(row.old_next_offset),
            _int_or_none(row.old_checkpoint_position),
            row.old_broker_epoch,
        )
        locked[int(row.locked_partition)] = LockedBatch(
            position, row.published_epoch, bool(row.has_parked), ended=bool(row.in_step)
        )
    return locked


@functools.cache
def _lock_and_end_on_postgresql(ends: int) -> sa.TextClause:
    """`_lock_and_end`'s statement for as many `ends`, built once. The partitions' rows are
    locked by the subquery (FOR UPDATE), which keeps their values from before the write for
    RETURNING (PostgreSQL before 18 returns only the new ones); a batch is in step under the
    same conditions the runner checks (projections/runner.py `_in_step`)."""
    t, r, p = projection_positions, relay_positions, projection_parked
    end_rows = ", ".join(
        f"(CAST(:end_partition_{row} AS integer), CAST(:end_first_offset_{row} AS bigint), "
        f"CAST(:end_from_beginning_{row} AS boolean), "
        f"CAST(:end_highest_position_{row} AS bigint), "
        f"CAST(:end_next_offset_{row} AS bigint), CAST(:end_checkpoint_{row} AS bigint), "
        f"CAST(:end_epoch_{row} AS text))"
        for row in range(ends)
    )
    return sa.text(
        f"""
        UPDATE {t.name} AS t
        SET position = CASE WHEN s.in_step
                THEN GREATEST(s.old_position, s.highest_position) ELSE s.old_position END,
            next_offset = CASE WHEN s.in_step
                THEN s.new_next_offset ELSE s.old_next_offset END,
            checkpoint_position = CASE WHEN s.in_step
                THEN s.new_checkpoint_position ELSE s.old_checkpoint_position END,
            broker_epoch = CASE WHEN s.in_step
                THEN s.new_broker_epoch ELSE s.old_broker_epoch END
        FROM (
            SELECT old.partition,
                old.position AS old_position,
                old.next_offset AS old_next_offset,
                old.checkpoint_position AS old_checkpoint_position,
                old.broker_epoch AS old_broker_epoch,
                published.broker_epoch AS published_epoch,
                COALESCE(ends.from_beginning OR old.next_offset = ends.first_offset, false)
                    AND published.broker_epoch IS NOT DISTINCT FROM ends.broker_epoch
                    AS in_step,
                ends.highest_position,
                ends.next_offset AS new_next_offset,
                ends.checkpoint_position AS new_checkpoint_position,
                ends.broker_epoch AS new_broker_epoch
            FROM {t.name} AS old
            LEFT JOIN (VALUES {end_rows}) AS ends (
                partition, first_offset, from_beginning, highest_position, next_offset,
                checkpoint_position, broker_epoch
            ) ON ends.partition = old.partition
            LEFT JOIN {r.name} AS published ON published.tenant = :key_tenant
            WHERE old.projection = :key_projection AND old.tenant = :key_tenant
                AND old.topic = :key_topic
                AND old.partition = ANY(CAST(:lock_partitions AS integer[]))
            FOR UPDATE OF old
        ) AS s
        WHERE t.projection = :key_projection AND t.tenant = :key_tenant
            AND t.topic = :key_topic AND t.partition = s.partition
        RETURNING s.old_position, s.old_next_offset, s.old_checkpoint_position,
            s.old_broker_epoch, s.published_epoch, s.in_step,
            EXISTS (
                SELECT 1 FROM {p.name} AS parked
                WHERE parked.projection = :key_projection AND parked.tenant = :key_tenant
                    AND parked.topic = :key_topic AND parked.partition = t.partition
            ) AS has_parked,
            t.partition AS locked_partition,
            set_config('synchronous_commit', 'off', true) AS asynchronous,
            pg_notify('{POSITIONS_CHANNEL}', :announcement) AS announced
        """
    )


def _batch_settings() -> tuple[sa.ColumnElement[Any], ...]:
    """What a runner's batch transaction sets on PostgreSQL, as columns of the lock's
    RETURNING (its one row evaluates each once; see lock_partition_for_batch)."""
    announcement = sa.bindparam("announcement", type_=sa.String)
    return (
        sa.func.set_config("synchronous_commit", "off", sa.true()).label("asynchronous"),
        sa.func.pg_notify(POSITIONS_CHANNEL, announcement).label("announced"),
    )


def _position_columns() -> tuple[sa.Column[Any], ...]:
    t = projection_positions
    return (t.c.position, t.c.next_offset, t.c.checkpoint_position, t.c.broker_epoch)


def _position_of(row: Any) -> PartitionPosition | None:
    """The partition's position from a row of `_position_columns` (None: no row)."""
    if row is None:
        return None
    return PartitionPosition(int(row[0]), _int_or_none(row[1]), _int_or_none(row[2]), row[3])


def write_partition(
    connection: Connection,
    *,
    projection: str,
    tenant: str,
    topic: str,
    partition: int,
    value: PartitionPosition,
) -> None:
    connection.execute(
        _write_partition(),
        {
            **_key_parameters(projection, tenant, topic, partition),
            "new_position": value.position,
            "new_next_offset": value.next_offset,
            "new_checkpoint_position": value.checkpoint_position,
            "new_broker_epoch": value.broker_epoch,
        },
    )


@functools.cache
def _write_partition() -> sa.Update:
    """`write_partition`'s statement, built once: it runs at the end of every batch."""
    t = projection_positions
    return (
        t.update()
        .where(*_bound_key(t))
        .values(
            {
                name: sa.bindparam(f"new_{name}", type_=t.c[name].type)
                for name in ("position", "next_offset", "checkpoint_position", "broker_epoch")
            }
        )
    )


def _key_parameters(projection: str, tenant: str, topic: str, partition: int) -> dict[str, Any]:
    """The values of `_bound_key`'s parameters for one partition."""
    return {
        "key_projection": projection,
        "key_tenant": tenant,
        "key_topic": topic,
        "key_partition": partition,
    }


def _bound_key(t: sa.Table) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions naming one partition's rows of `t` (its position, or its parked
    messages), by bound parameters (`_key_parameters`)."""
    return (*_bound_topic(t), t.c.partition == sa.bindparam("key_partition", type_=sa.Integer))


def _bound_topic(t: sa.Table) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions naming one projection's rows of `t` of one tenant's topic."""
    return (
        t.c.projection == sa.bindparam("key_projection", type_=sa.String),
        t.c.tenant == sa.bindparam("key_tenant", type_=sa.String),
        t.c.topic == sa.bindparam("key_topic", type_=sa.String),
    )


def applied_positions(
    connection: Connection, *, projection: str, tenant: str
) -> dict[tuple[str, int], int]:
    """The applied position of each (topic, partition) of the tenant, over every worker."""
    t = projection_positions
    rows = connection.execute(
        sa.select(t.c.topic, t.c.partition, t.c.position).where(
            t.c.projection == projection, t.c.tenant == tenant
        )
    )
    return {(topic, partition): int(position) for topic, partition, position in rows}


def read_model_version(
    connection: Connection, *, projection: str, tenant: str
) -> tuple[tuple[int, str, int, int], ...]:
    """What the projection's read model of the tenant was built of, as one value that
    changes whenever the read model does: its code version, the applied position of each
    (topic, partition), and how many messages are parked and how many retried ones were
    applied. Every change to a read model commits with a change of these: a batch writes
    its positions in its own transaction, and a message parked there is one the position
    passes; a parked message applied later leaves the parked table (which only a new park,
    with a position that moved, fills again); a relay-retried message applied below the
    position is recorded as retried; a rebuild drops the positions with the tables and
    builds both again from the same events. So two reads that find the same version read
    the same records. One statement."""
    return tuple(
        (int(kind), str(topic), int(partition), int(value))
        for kind, topic, partition, value in connection.execute(
            _READ_MODEL_VERSION, {"projection": projection, "tenant": tenant}
        )
    )


def _read_model_version_statement() -> sa.Select[int, str, int, int]:
    t, p, r, v = projection_positions, projection_parked, projection_retried, projection_versions
    projection = sa.bindparam("projection", type_=sa.String)
    tenant = sa.bindparam("tenant", type_=sa.String)

    def counted(table: sa.Table, kind: int) -> sa.Select[int, str, int, int]:
        return sa.select(
            sa.literal(kind), sa.literal(""), sa.literal(0), sa.func.count().label("value")
        ).where(table.c.projection == projection, table.c.tenant == tenant)

    union = sa.union_all(
        sa.select(sa.literal(0), t.c.topic, t.c.partition, t.c.position).where(
            t.c.projection == projection, t.c.tenant == tenant
        ),
        counted(p, 1),
        counted(r, 2),
        sa.select(sa.literal(3), sa.literal(""), sa.literal(0), v.c.version).where(
            v.c.projection == projection
        ),
    ).subquery("version")
    return sa.select(*union.c).order_by(*union.c)


_READ_MODEL_VERSION = _read_model_version_statement()


def parked_in_partition(
    connection: Connection, *, projection: str, tenant: str, topic: str, partition: int
) -> list[ParkedMessage]:
    p = projection_parked
    rows = connection.execute(
        sa.select(p).where(
            p.c.projection == projection,
            p.c.tenant == tenant,
            p.c.topic == topic,
            p.c.partition == partition,
        )
    )
    return [_parked(row) for row in rows]


def parked_messages(connection: Connection, *, projection: str) -> list[ParkedMessage]:
    """Every parked message of the projection, in store order."""
    p = projection_parked
    rows = connection.execute(
        sa.select(p)
        .where(p.c.projection == projection)
        .order_by(p.c.tenant, p.c.position.is_(None), p.c.position, p.c.id)
    )
    return [_parked(row) for row in rows]


def parked_count(connection: Connection, *, projection: str, tenant: str) -> int:
    p = projection_parked
    return int(
        connection.execute(
            sa.select(sa.func.count()).where(p.c.projection == projection, p.c.tenant == tenant)
        ).scalar_one()
    )


def park(
    connection: Connection,
    *,
    projection: str,
    tenant: str,
    topic: str,
    partition: int,
    offset: int,
    position: int | None,
    event_type: str | None,
    aggregate_id: str | None,
    error: str,
    existing: ParkedMessage | None = None,
) -> None:
    """Parks a message, or records another failed attempt of one already parked."""
    p = projection_parked
    now = datetime.now(UTC)
    if existing is not None:
        connection.execute(
            p.update()
            .where(p.c.id == existing.id)
            .values(offset=offset, error=error, attempts=existing.attempts + 1, parked_at=now)
        )
        return
    connection.execute(
        p.insert().values(
            projection=projection,
            tenant=tenant,
            topic=topic,
            partition=partition,
            offset=offset,
            position=position,
            event_type=event_type,
            aggregate_id=aggregate_id,
            error=error,
            attempts=1,
            parked_at=now,
        )
    )


def unpark(connection: Connection, parked_id: int) -> bool:
    """Removes a parked message once it is applied; False when it was already gone."""
    deleted = connection.execute(
        projection_parked.delete().where(projection_parked.c.id == parked_id)
    )
    return bool(deleted.rowcount)


def forget(connection: Connection, projection: str) -> None:
    """Clears every position and parked message of a projection (it rebuilds from 0)."""
    connection.execute(
        projection_positions.delete().where(projection_positions.c.projection == projection)
    )
    connection.execute(
        projection_parked.delete().where(projection_parked.c.projection == projection)
    )
    connection.execute(
        projection_retried.delete().where(projection_retried.c.projection == projection)
    )


def first_retry(connection: Connection, *, projection: str, tenant: str, position: int) -> bool:
    """Records (in the caller's transaction) that the projection applies the relay's retry
    of the event at `position`; False when it applied it before."""
    r = projection_retried
    seen = connection.execute(
        sa.select(r.c.position).where(
            r.c.projection == projection, r.c.tenant == tenant, r.c.position == position
        )
    ).first()
    if seen is not None:
        return False
    connection.execute(r.insert().values(projection=projection, tenant=tenant, position=position))
    return True


def stored_version(connection: Connection, projection: str) -> int | None:
    v = projection_versions
    found = connection.execute(
        sa.select(v.c.version).where(v.c.projection == projection)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def store_version(connection: Connection, projection: str, version: int) -> None:
    v = projection_versions
    now = datetime.now(UTC)
    updated = connection.execute(
        v.update().where(v.c.projection == projection).values(version=version, built_at=now)
    )
    if updated.rowcount == 0:
        connection.execute(v.insert().values(projection=projection, version=version, built_at=now))


def _parked(row: sa.Row[tuple[object, ...]]) -> ParkedMessage:
    m = row._mapping
    return ParkedMessage(
        id=int(m["id"]),
        projection=m["projection"],
        tenant=m["tenant"],
        topic=m["topic"],
        partition=int(m["partition"]),
        offset=int(m["offset"]),
        position=_int_or_none(m["position"]),
        event_type=m["event_type"],
        aggregate_id=m["aggregate_id"],
        error=m["error"],
        attempts=int(m["attempts"]),
        parked_at=m["parked_at"],
    )


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
