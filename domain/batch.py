"""A batch of commands saved in one store transaction (a bulk import's unit of work).

Commands run inside `TenantCore.batched()` validate and decide as they always do, but their
aggregates are kept here instead of being saved one command at a time; later commands of
the batch find those kept copies (an enrollment sees the class a row before it changed).
`flush()` saves every kept aggregate and side write with one `Application.save(*aggregates)`:
all of the batch's events are recorded, or none are. PostgreSQL's recorder locks the events
table once per save, so a thousand aggregates per save is where bulk throughput comes from.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.recorders import SideWrite

__all__ = ["SaveBatch", "current_batch"]

#: The batch the commands of this context keep their aggregates in (None: save each).
current_batch: ContextVar[SaveBatch | None] = ContextVar("current_batch", default=None)

#: How many aggregates a batch keeps across flushes (see `SaveBatch.recall`).
RETAINED = 20_000

Saver = Callable[[list[Aggregate], list[SideWrite]], int | None]


class SaveBatch:
    """The aggregates and side writes of the commands run since the last flush."""

    def __init__(self, save: Saver) -> None:
        self._save = save
        self._aggregates: dict[UUID, Aggregate] = {}
        #: How many pending events each kept aggregate had when a command last kept it.
        self._seen: dict[UUID, int] = {}
        self._side_writes: list[SideWrite] = []
        #: The items of the side writes built at the flush (`add_to_side_write`), by name.
        self._collected: dict[str, dict[Any, Any]] = {}
        #: Aggregates read (not changed) by the batch's commands: a reference checked by
        #: many rows (their school, their class) is read once per batch.
        self.read: dict[UUID, Aggregate] = {}
        #: Aggregates known not to be in the store (looked up in bulk): none to load.
        self.absent: set[UUID] = set()
        #: The ids in `read` whose copies the batch read for itself (`own`), not shared
        #: with the repository's cache: lent to a command as they are, without a copy.
        self._owned: set[UUID] = set()
        #: Owned copies lent to a command and not yet kept back.
        self._lent: set[UUID] = set()
        #: Aggregates as this batch last saved or read them, kept across flushes (the most
        #: recently used `RETAINED` of them): a bulk read brings them up to date with the
        #: events stored since (`retained_versions`, `recall`) instead of reading them whole.
        self._retained: dict[UUID, Aggregate] = {}
        #: The store position of the last event saved by a flush (0: none yet).
        self.position = 0

    def __len__(self) -> int:
        return len(self._aggregates)

    def pending(self, aggregate_id: UUID) -> Aggregate | None:
        """The kept, not yet saved copy of an aggregate, if a command of the batch kept one."""
        return self._aggregates.get(aggregate_id)

    def own(self, aggregate: Aggregate) -> None:
        """Adds an aggregate read from the store for this batch alone (a bulk read)."""
        self.read[aggregate.id] = aggregate
        self._owned.add(aggregate.id)

    def retained_versions(self, ids: Iterable[UUID]) -> dict[UUID, int]:
        """The version each of `ids` had when the batch last saved or read it (0: none)."""
        retained = self._retained
        return {i: retained[i].version if i in retained else 0 for i in ids}

    def recall(self, aggregate_id: UUID) -> Aggregate | None:
        """Takes the retained copy of an aggregate (to bring it up to date and own it)."""
        return self._retained.pop(aggregate_id, None)

    def lend(self, aggregate_id: UUID) -> Aggregate | None:
        """The batch's own read copy of an aggregate, handed to a command about to change
        it (no copy made); None unless the batch owns one. A command that keeps it without
        changing it gives it back (`keep`); one that fails midway loses it, so the next
        command reads the aggregate from the store again."""
        if aggregate_id not in self._owned:
            return None
        self._owned.discard(aggregate_id)
        self._lent.add(aggregate_id)
        return self.read.pop(aggregate_id)

    def keep(self, aggregates: Iterable[Aggregate], side_writes: Iterable[SideWrite]) -> bool:
        """Keeps a command's aggregates and side writes; True when the command added events."""
        changed = False
        for aggregate in aggregates:
            count = len(aggregate.pending_events)
            if count > self._seen.get(aggregate.id, 0):
                changed = True
            if count:
                self._aggregates[aggregate.id] = aggregate
                self._seen[aggregate.id] = count
                self.absent.discard(aggregate.id)
                self.read.pop(aggregate.id, None)
                self._owned.discard(aggregate.id)
                self._lent.discard(aggregate.id)
            elif aggregate.id in self._lent:
                # Unchanged (an aggregate changes only by new events): as read, again.
                self._lent.discard(aggregate.id)
                self.own(aggregate)
        if changed:
            self._side_writes.extend(side_writes)
        return changed

    def add_to_side_write(
        self, name: str, key: Hashable, item: Any, make: Callable[[dict[Any, Any]], SideWrite]
    ) -> None:
        """Adds `item` under `key` to the batch's side write `name`, which `make` builds at
        the flush from every item added (the last under each key): many commands' rows go
        in one statement instead of a few each."""
        items = self._collected.get(name)
        if items is None:
            collected: dict[Any, Any] = {}
            items = self._collected[name] = collected
            self._side_writes.append(lambda cursor, position: make(collected)(cursor, position))
        items[key] = item

    def add_side_write(self, write: SideWrite) -> None:
        """A write to run in the transaction of the batch's events (see domain.recorders)."""
        self._side_writes.append(write)

    def flush(self) -> int:
        """Saves what the batch kept in one transaction; the store position after it."""
        if not self._aggregates and not self._side_writes:
            return self.position
        aggregates, writes = list(self._aggregates.values()), self._side_writes
        owned = [self.read[i] for i in self._owned]
        self._aggregates, self._seen, self._side_writes, self.read = {}, {}, [], {}
        self._owned, self._lent, self._collected = set(), set(), {}
        position = self._save(aggregates, writes)
        if position is not None:
            self.position = position
        # Saved, their pending events are collected: each is the record as stored now.
        retained = self._retained
        for aggregate in (*owned, *aggregates):
            retained.pop(aggregate.id, None)
            retained[aggregate.id] = aggregate
        for stale in list(itertools.islice(retained, max(0, len(retained) - RETAINED))):
            del retained[stale]
        return self.position
