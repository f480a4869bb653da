"""Group commit: concurrent commands of a tenant saved together, in one store transaction.

A command that saves while no commit runs commits at once (no added latency when the store
is idle); commands that save while a commit runs queue, and as it ends the first of them
commits every queued command in the next transaction. One transaction, one lock of the
events table and one durable flush then record many commands: that is where throughput
under concurrency comes from.

Each command keeps its own outcome: its position is the store position of its own last
event, and its side writes (an Idempotency-Key's answer, a result slot) are given that
position and run in the shared transaction. When the shared transaction fails on a
conflict (another request changed the same record, a key or slot already taken) nobody
can tell whose command caused it, so each command of the group is saved again alone: the
conflicting one fails as it would have without a group, the others commit. Any other
failure of the transaction (the database unreachable) records nothing and fails every
command of the group with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.recorders import SideWrite

__all__ = ["GroupCommit", "GroupedSave", "SaveAlone", "SaveTogether"]

#: The most commands one transaction records; later arrivals wait for the next.
MAX_GROUP = 256


@dataclass
class GroupedSave:
    """One command's save: its aggregates, its side writes and, once the group's
    transaction ran, its position or why it failed."""

    aggregates: Sequence[Aggregate]
    side_writes: Sequence[SideWrite]
    #: What the command's own thread prepared for the store before queueing (its events,
    #: encoded), so that the thread committing the group does not do it for everyone.
    prepared: object = None
    #: Its thread is to commit the next group (set by the thread that committed the last).
    lead: bool = False
    done: bool = False
    #: Set when `lead` or `done` is: its thread waits on this alone (no thundering herd).
    woken: threading.Event = field(default_factory=threading.Event)
    #: The position of the command's last event (None: it recorded none).
    position: int | None = None
    error: BaseException | None = None
    #: The group failed on a conflict (or the command shares an aggregate with an earlier
    #: command of the group): the command is saved again, alone.
    alone: bool = False
    aggregate_ids: frozenset[object] = field(default_factory=frozenset)


#: Saves the commands' aggregates and side writes in one transaction; each one's position.
SaveTogether = Callable[[Sequence[GroupedSave]], list[int | None]]
#: Saves one command's aggregates and side writes in a transaction of its own.
SaveAlone = Callable[[GroupedSave], int | None]


class GroupCommit:
    """Queues the saves of concurrent commands and commits them in groups (see module)."""

    def __init__(
        self,
        *,
        together: SaveTogether,
        alone: SaveAlone,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._together = together
        self._alone = alone
        self._max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[GroupedSave] = []
        #: Set on the thread that commits a group, while it does.
        self._leading = threading.local()
        #: A thread commits a group (one at a time: the events table is locked by each).
        self._committing = False
        #: How many transactions recorded how many commands (for measuring, not logic).
        self.groups = 0
        self.saves = 0

    @property
    def queued(self) -> int:
        """How many saves wait for the next group."""
        with self._lock:
            return len(self._queue)

    def save(
        self,
        aggregates: Sequence[Aggregate],
        side_writes: Sequence[SideWrite],
        *,
        prepared: object = None,
    ) -> int | None:
        """Saves one command's aggregates with its side writes, in the next group; the
        position of its last event (None when it recorded none). `prepared` is handed to
        `together` with the save."""
        entry = GroupedSave(
            aggregates,
            side_writes,
            prepared=prepared,
            aggregate_ids=frozenset(aggregate.id for aggregate in aggregates),
        )
        if getattr(self._leading, "group", False):
            # A save made while this thread commits a group (by a listener, a side write)
            # cannot wait for the next group: that would wait for itself.
            return self._alone(entry)
        with self._lock:
            self._queue.append(entry)
            if not self._committing:
                # No commit runs: this thread commits at once.
                self._committing = True
                entry.lead = True
        while not entry.done:
            if not entry.lead:
                entry.woken.wait()
                entry.woken.clear()
                continue
            entry.lead = False
            with self._lock:
                # What is queued (its own save among it, unless more than a group's worth
                # queued before it).
                group, self._queue = (
                    self._queue[: self._max_group],
                    self._queue[self._max_group :],
                )
            self._leading.group = True
            try:
                self._commit(group)
            finally:
                self._leading.group = False
                with self._lock:
                    following = self._queue[0] if self._queue else None
                    if following is None:
                        self._committing = False
                    else:
                        # Saves queued meanwhile: the first of them commits the next group.
                        following.lead = True
                for settled in group:
                    settled.woken.set()
                if following is not None:
                    following.woken.set()
        if entry.alone:
            return self._alone(entry)
        if entry.error is not None:
            raise entry.error
        return entry.position

    def _commit(self, group: list[GroupedSave]) -> None:
        """Records the group in one transaction and settles each of its saves."""
        together: list[GroupedSave] = []
        touched: set[object] = set()
        for entry in group:
            if touched.isdisjoint(entry.aggregate_ids):
                together.append(entry)
                touched |= entry.aggregate_ids
            else:
                # Two commands changed one record at once: at most one of them can be
                # recorded, which the store decides once this group is in.
                entry.alone = True
        try:
            positions = self._together(together)
        except IntegrityError as error:
            for entry in together:
                if len(together) > 1:
                    entry.alone = True
                else:
                    entry.error = error
        except BaseException as error:  # noqa: BLE001 - each command of the group raises it
            for entry in together:
                entry.error = error
        else:
            for entry, position in zip(together, positions, strict=True):
                entry.position = position
        finally:
            self.groups += 1
            self.saves += len(together)
            for entry in group:
                entry.done = True
