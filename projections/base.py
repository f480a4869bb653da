"""What a projection is, and how its tables follow its code version.

A projection is small (STYLE.md habit 7): a name, a code version, the event families it
reads, its own tables and one handler per event type. Handlers get the transaction the
runner opened and write only the projection's own tables: read models never write to the
event store. Changing `version` rebuilds the read model from the beginning of the topics
(DESIGN.md invariant 3), so read models need no migrations.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from projections import positions
from streams.codec import EventEnvelope

__all__ = [
    "Handler",
    "Projection",
    "backlog",
    "batch_state",
    "ensure_current",
    "finish_batch",
    "note_backlog",
    "reset",
    "take_batch_state",
]

T = TypeVar("T")

#: Applies one event to the read model, in the runner's transaction.
Handler = Callable[[Connection, EventEnvelope], None]


@runtime_checkable
class Projection(Protocol):
    """A read model and the handlers that build it from events."""

    #: Unique among projections; names its positions, parked messages and version row.
    name: str
    #: Bump it when handlers or tables change: the read model is then rebuilt from 0.
    version: int
    #: The event families (Kafka topics per tenant) it reads, e.g. ("roster",).
    families: tuple[str, ...]
    #: Its own tables, and no others: they are dropped when it rebuilds.
    metadata: sa.MetaData
    #: One handler per event type name it cares about; other events only advance its position.
    handlers: Mapping[str, Handler]


def finish_batch(projection: Projection, connection: Connection) -> None:
    """Lets the projection finish a batch: in the batch's transaction, after its last
    handler and before its position is written.

    A projection may define `finish_batch(connection)` to do once per batch what its
    handlers deferred (a summary many events of the batch change); most need none.
    """
    finish = getattr(projection, "finish_batch", None)
    if finish is not None:
        finish(connection)


def batch_state(c: Connection, key: str, new: Callable[[], T]) -> T:
    """What a projection keeps for the batch in the connection's current transaction
    (rows it will insert at `finish_batch`, what it looked up once): made by `new` for each
    transaction, so a batch that failed and rolled back leaves nothing to the next one; not
    kept outside a transaction."""
    transaction = c.get_transaction()
    if transaction is None:
        return new()
    kept: tuple[object, Any] | None = c.info.get(key)
    if kept is None or kept[0] is not transaction:
        kept = c.info[key] = (transaction, new())
    state: T = kept[1]
    return state


def take_batch_state(c: Connection, key: str) -> Any:
    """The state `batch_state` kept under `key` for the current transaction, removed; None
    when there is none (at `finish_batch`)."""
    kept: tuple[object, Any] | None = c.info.pop(key, None)
    if kept is None or kept[0] is not c.get_transaction():
        return None
    return kept[1]


class _Backlog:
    messages = 0


_BACKLOG_KEY = "batch.backlog"


def note_backlog(c: Connection, messages: int) -> None:
    """Tells the batch's projection how many messages wait behind the batch (the runner:
    its partitions' rest as the broker last told; a rebuild from the store: the events
    left). At its end a projection may leave work that the next batch redoes anyway to
    the batch that catches up."""
    held = batch_state(c, _BACKLOG_KEY, _Backlog)
    held.messages = max(held.messages, messages)


def backlog(c: Connection) -> int:
    """The messages waiting behind the batch in the connection's transaction, as the
    runner noted them (0 when it noted none)."""
    return batch_state(c, _BACKLOG_KEY, _Backlog).messages


def ensure_current(engine: Engine, projection: Projection) -> bool:
    """Makes the projection's tables match its code version; True when it had to rebuild.

    Creates the bookkeeping and read-model tables when missing. When the stored version
    differs from `projection.version`, drops and recreates the read-model tables and clears
    the projection's positions and parked messages, so every worker starts it from the
    beginning of its topics. Workers starting together do this once between them.
    """
    positions.create_tables(engine)
    with engine.begin() as connection:
        _lock(connection, projection.name)
        stored = positions.stored_version(connection, projection.name)
        if stored == projection.version:
            projection.metadata.create_all(connection)
            return False
        _rebuild_tables(connection, projection)
        return True


def reset(engine: Engine, projection: Projection) -> None:
    """Drops the projection's read model and positions: it rebuilds from the beginning."""
    positions.create_tables(engine)
    with engine.begin() as connection:
        _lock(connection, projection.name)
        _rebuild_tables(connection, projection)


def _rebuild_tables(connection: Connection, projection: Projection) -> None:
    # Positions go first: a runner mid-batch holds its partition row, so this waits for
    # that batch to commit, and the runner's next batch finds no row and starts over.
    positions.forget(connection, projection.name)
    projection.metadata.drop_all(connection)
    projection.metadata.create_all(connection)
    positions.store_version(connection, projection.name, projection.version)


def _lock(connection: Connection, name: str) -> None:
    """Serialises rebuilds and version checks of one projection across processes."""
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(f"digione.projection.{name}".encode())
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        # A write as the first statement takes SQLite's database lock for the transaction.
        v = positions.projection_versions
        connection.execute(v.update().where(v.c.projection == name).values(version=v.c.version))
