"""Rebuilding a projection straight from a tenant's event store, without Kafka (issue 14).

A rebuild from the topics spends half its time fetching messages and decoding Avro. The
store holds the same events in the same order, so this reads the tenant's notification log
in large pages (streams/stored_rows.py), makes of each stored event exactly the record a
handler gets from its topic (EventCodec.envelope_from_stored: the decoded Avro record, built
without the bytes and checked against a real round trip for the first event of each type;
an upcast or a store with a cipher takes the domain event's round trip), and applies them
through the runner's own code (runner.MessageApplier: the same handlers, batched writes,
parking and end-of-batch work), one transaction per page.

Which events, and the positions (what lets the runner carry on from the topics afterwards):

- Only the relay's acknowledged prefix: the events up to the tenant's published position
  when the rebuild starts (streams/positions.py), less those the relay parked then
  (streams/parked_events.py: refused for what they are, on no topic). Within that prefix
  every event is on its topic, so "applied up to P" means the same for the store as for
  the topics. Events after P are not settled yet (one may still be refused and parked, then
  published later with the relay's retry header, which a projection applies once even below
  its position): they are the runner's to apply from the topics, as they arrive.
- A projection's position is per topic partition: every message of the partition with a
  store position up to it is applied. Having applied every event of the tenant's store up
  to a page's last position L, the rebuild raises the position of each of the projection's
  partitions to L, in the page's transaction. So a crash leaves consistent positions.
- Offsets: the relay records positions, not offsets, so the rebuild leaves each
  partition's `next_offset` as it is (null after the reset): the runner then reads the
  partition from its beginning and skips, as duplicates, the messages at or below the
  position. It neither re-applies nor skips anything; the price is one read of the topics
  by the runner after a rebuild (no writes). Recording the offsets the broker acknowledged
  beside the relay's partition positions would let it seek straight to them.
- A runner may run meanwhile (a `serve`): each page locks the projection's partition rows
  first (as the runner's batches do) and skips the events of a partition at or below the
  position the runner reached there, so whichever applies an event first, the other skips
  it.
- A handler that fails parks its event (offset -1: a store knows no offsets) and, as on the
  topics, the later events of its aggregate behind it; the runner retries it when its read
  from the beginning reaches it.

Known difference: an event the relay had parked and published again (`digione relay retry`)
before the rebuild is applied here in store order, and again when the runner reads its
retried message (the retry header makes it due once per projection). Rebuild from the
topics (`--from-topics`) where `digione relay retry` was used.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from eventsourcing.domain import Aggregate
from sqlalchemy.engine import Connection, Engine

from domain.application import TenantApplication
from projections import positions
from projections.base import Projection, note_backlog
from projections.runner import HandlerFailedError, MessageApplier
from streams import parked_events
from streams import positions as relay_positions
from streams.codec import (
    DecodedMessage,
    EventCodec,
    NotEncodableFromStoredError,
    family_topic,
    partition_for,
)
from streams.consumer import describe_error
from streams.event_types import by_topic
from streams.stored_rows import StoredRow, notification, plain_stored_state, read_page

__all__ = ["STORE_REBUILD_PAGE", "StoreRebuild", "StoreTarget"]

#: Stored events read, and applied in one transaction, at a time.
STORE_REBUILD_PAGE = 5000

_Key = tuple[str, int]


class ProjectionResetError(RuntimeError):
    """Raised when the projection's positions vanished mid-rebuild (another rebuild reset it)."""


@dataclass(frozen=True)
class StoreTarget:
    """What a store rebuild applies of a tenant: its events up to `position` (the relay's
    acknowledged prefix), less the `skipped` positions (parked by the relay)."""

    tenant: str
    position: int
    skipped: frozenset[int]

    @classmethod
    def of(cls, engine: Engine, tenant: str) -> StoreTarget:
        relay_positions.create_tables(engine)
        parked_events.create_tables(engine)
        with engine.connect() as connection:
            published = relay_positions.published_state(connection, tenant)
            parked = connection.execute(
                sa.select(parked_events.relay_parked.c.position).where(
                    parked_events.relay_parked.c.tenant == tenant,
                    parked_events.relay_parked.c.position <= published.position,
                )
            ).scalars()
            return cls(tenant, published.position, frozenset(int(p) for p in parked))


class StoreRebuild:
    """Applies a tenant's stored events to one projection (reset beforehand by the caller)."""

    def __init__(
        self,
        *,
        engine: Engine,
        projection: Projection,
        codec: EventCodec,
        app: TenantApplication,
        target: StoreTarget,
        page: int = STORE_REBUILD_PAGE,
    ) -> None:
        self._engine = engine
        self._projection = projection
        self._codec = codec
        self._app = app
        self._target = target
        self._page = page
        self._applier = MessageApplier(projection)
        self._plain = plain_stored_state(app)
        tenant = target.tenant
        self._topics = {
            family_topic(codec.topic_prefix, tenant, family) for family in projection.families
        }
        #: The projection's partitions: those the relay published to, and any an applied
        #: event names (its key's partition).
        with engine.connect() as connection:
            published = relay_positions.partition_positions(connection, tenant)
        self._partitions: set[_Key] = {k for k in published if k[0] in self._topics}
        for key in self._partitions:
            self._ensure(key)
        #: Store positions read (of every family): the rebuild's progress.
        self.reached = 0
        #: Stored events read.
        self.read = 0

    def run(self, on_page: Callable[[StoreRebuild], None] = lambda _: None) -> None:
        """Applies every event of the target, a page per transaction."""
        target = self._target.position
        while self.reached < target:
            rows = read_page(self._app, self.reached + 1, min(self._page, target - self.reached))
            rows = [row for row in rows if row[0] <= target]
            if not rows:
                break
            self.apply_page(rows)
            self.read += len(rows)
            self.reached = rows[-1][0]
            on_page(self)

    # -- one page --------------------------------------------------------------------------

    def apply_page(self, rows: Sequence[StoredRow]) -> None:
        messages = [m for m in (self._message(row) for row in rows) if m is not None]
        last = rows[-1][0]
        try:
            self._commit(messages, last)
            return
        except HandlerFailedError:
            pass
        # One event per transaction, so only the failing one is parked.
        for message in messages:
            assert message[1].position is not None
            try:
                self._commit([message], message[1].position)
            except HandlerFailedError as failed:
                self._commit([message], message[1].position, park_error=failed.text)
        self._commit([], last)

    def _message(self, row: StoredRow) -> tuple[_Key, DecodedMessage] | None:
        """The event as its topic's consumer decodes it; None when not on the projection's
        topics (another family's, or parked by the relay)."""
        position, aggregate_id, version, stored_topic, state = row
        if position in self._target.skipped:
            return None
        event_type = by_topic().get(stored_topic)
        if event_type is None or event_type.family not in self._projection.families:
            return None  # of no family the projection reads (the relay parks unknown types)
        tenant = self._target.tenant
        try:
            envelope = None
            if self._plain:
                try:
                    envelope = self._codec.envelope_from_stored(
                        tenant, position, stored_topic, aggregate_id, version, state
                    )
                except NotEncodableFromStoredError:
                    envelope = None
            if envelope is None:
                event = cast(Aggregate.Event, self._app.mapper.to_domain_event(notification(row)))
                envelope = self._codec.round_trip(tenant, position, event)
        except Exception as error:  # noqa: BLE001 - as an undecodable message: it is parked
            key = (
                family_topic(self._codec.topic_prefix, tenant, event_type.family),
                partition_for(str(aggregate_id).encode(), self._codec.partitions),
            )
            return key, DecodedMessage(
                offset=-1,
                position=position,
                aggregate_id=str(aggregate_id),
                event_type=event_type.type_name,
                error=f"undecodable: {describe_error(error)}",
            )
        key = (envelope.topic, envelope.partition)
        return key, DecodedMessage(
            offset=-1,
            position=position,
            # The row's text where PostgreSQL gave one (str() hands it back as it is):
            # printing the envelope's UUID again was 2% of a rebuild.
            aggregate_id=str(aggregate_id),
            event_type=envelope.event_type,
            envelope=envelope,
        )

    def _commit(
        self,
        messages: Sequence[tuple[_Key, DecodedMessage]],
        last: int,
        *,
        park_error: str | None = None,
    ) -> None:
        """Applies the messages and raises the partitions' positions to `last`, at once."""
        for key, _ in messages:
            if key not in self._partitions:
                self._ensure(key)
                self._partitions.add(key)
        with self._engine.begin() as connection:
            keys = sorted(self._partitions)
            applied: dict[_Key, int] = {}
            for key in keys:
                row = positions.lock_partition(connection, **self._key(key))
                if row is None:
                    raise ProjectionResetError(
                        f"the positions of {self._projection.name} were reset meanwhile"
                    )
                applied[key] = row.position
            waiting = {key: self._applier.waiting(connection, self._key(key)) for key in keys}
            # The store's events after this page, up to where the rebuild goes.
            note_backlog(connection, self._target.position - last)
            writes = self._applier.writes(connection)
            for key, message in messages:
                # The runner may have applied it (and later ones of its partition) meanwhile.
                self._applier.apply(
                    connection,
                    self._key(key),
                    message,
                    applied[key],
                    waiting[key],
                    writes,
                    park_error=park_error,
                )
            self._applier.finish_batch(connection, writes)
            self._raise_positions(connection, keys, last)

    def _raise_positions(self, connection: Connection, keys: Collection[_Key], last: int) -> None:
        t = positions.projection_positions
        for topic, partition in keys:
            connection.execute(
                t.update()
                .where(
                    t.c.projection == self._projection.name,
                    t.c.tenant == self._target.tenant,
                    t.c.topic == topic,
                    t.c.partition == partition,
                    t.c.position < last,
                )
                .values(position=last)
            )

    def _ensure(self, key: _Key) -> None:
        positions.ensure_partition(self._engine, **self._key(key))

    def _key(self, key: _Key) -> dict[str, Any]:
        return {
            "projection": self._projection.name,
            "tenant": self._target.tenant,
            "topic": key[0],
            "partition": key[1],
        }
