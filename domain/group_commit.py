"""Group commit: concurrent commands of a tenant saved together, in one store transaction.

Commands queue their saves for the tenant's committer, a thread that records everything
queued in one transaction, then whatever queued meanwhile in the next, and so on; a save
that arrives while the committer is idle is committed at once (no added latency when the
store is idle). One transaction, one lock of the events table and one durable flush then
record many commands: that is where throughput under concurrency comes from. The
committer is one long-lived thread rather than whichever command happened to be first, so
no group waits for another thread to be woken (and to get the GIL back) to start; it ends
after a while idle, and the next save starts it again.

Each command keeps its own outcome: its position is the store position of its own last
event, and its side writes (an Idempotency-Key's answer, a result slot) are given that
position and run in the shared transaction. When the shared transaction fails on a
conflict (another request changed the same record, a key or slot already taken) nobody
can tell whose command caused it, so each command of the group is saved again alone: the
conflicting one fails as it would have without a group, the others commit. When a record
a command read unchecked changed (domain/validated_reads.py), the transaction fails as well:
the commands that read records unchecked fail with StaleReadsError (and are run again on
fresh reads), the others are saved again alone. Any other
failure of the transaction (the database unreachable) records nothing and fails every
command of the group with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.recorders import SideWrite, StaleReadsError

__all__ = ["GroupCommit", "GroupedSave", "SaveAlone", "SaveTogether"]

#: The most commands one transaction records; later arrivals wait for the next.
MAX_GROUP = 256
#: How long the committer waits for a save before its thread ends.
IDLE_SECONDS = 5.0


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class GroupedSave:
    """One command's save: its aggregates, its side writes and, once the group's
    transaction ran, its position or why it failed."""

    aggregates: Sequence[Aggregate]
    side_writes: Sequence[SideWrite]
    #: What the command's own thread prepared for the store before queueing (its events,
    #: encoded), so that the thread committing the group does not do it for everyone.
    prepared: object = None
    done: bool = False
    #: Held until the save is settled: its thread waits by acquiring it, and the committer
    #: releases it (a bare lock: far less work on either side than an Event's condition,
    #: and waking the group's threads is on the committer's path to the next group).
    _unsettled: threading.Lock = field(default_factory=_held_lock, init=False, repr=False)
    #: The position of the command's last event (None: it recorded none).
    position: int | None = None
    error: BaseException | None = None
    #: The group failed on a conflict (or the command shares an aggregate with an earlier
    #: command of the group): the command is saved again, alone.
    alone: bool = False
    aggregate_ids: frozenset[object] = field(default_factory=frozenset)
    #: The records the command read unchecked, with the versions read (its save checks
    #: them: domain/validated_reads.py).
    reads: object = None

    def wait_settled(self) -> None:
        """Blocks until the committer settled the save."""
        self._unsettled.acquire()

    def settle(self) -> None:
        """Wakes the save's thread (called once per save)."""
        self._unsettled.release()


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
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._together = together
        self._alone = alone
        self._max_group = max_group
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: list[GroupedSave] = []
        #: Set on the committer's thread.
        self._leading = threading.local()
        #: The committer (None until a save starts it, and again once it ended idle).
        self._committer: threading.Thread | None = None
        self._closed = False
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
        reads: object = None,
    ) -> int | None:
        """Saves one command's aggregates with its side writes, in the next group; the
        position of its last event (None when it recorded none). `prepared` and `reads`
        are handed to `together` with the save."""
        entry = GroupedSave(
            aggregates,
            side_writes,
            prepared=prepared,
            aggregate_ids=frozenset(aggregate.id for aggregate in aggregates),
            reads=reads,
        )
        if getattr(self._leading, "group", False):
            # A save made while the committer commits a group (by a listener, a side
            # write) cannot wait for the next group: that would wait for itself.
            return self._alone(entry)
        with self._lock:
            if self._closed:
                # The store is closing: nothing is left to group with.
                entry.alone = True
            else:
                self._queue.append(entry)
                if self._committer is None:
                    self._committer = threading.Thread(
                        target=self._commit_queued, name="group-commit", daemon=True
                    )
                    self._committer.start()
                else:
                    self._arrived.notify()
        if not entry.alone:
            entry.wait_settled()
        if entry.alone:
            return self._alone(entry)
        if entry.error is not None:
            raise entry.error
        return entry.position

    def close(self) -> None:
        """Commits what is queued, then stops the committer (saves after this are saved
        alone)."""
        with self._lock:
            self._closed = True
            self._arrived.notify()
            committer = self._committer
        if committer is not None and committer is not threading.current_thread():
            committer.join()

    def _commit_queued(self) -> None:
        """The committer: commits what is queued, group after group, until idle for
        `idle_seconds` (or closed with nothing queued)."""
        self._leading.group = True
        ended = False
        try:
            while True:
                with self._lock:
                    if not self._queue and not self._closed:
                        self._arrived.wait(self._idle_seconds)
                    if not self._queue:
                        self._committer = None
                        ended = True
                        return
                    group, self._queue = (
                        self._queue[: self._max_group],
                        self._queue[self._max_group :],
                    )
                try:
                    self._commit(group)
                finally:
                    for settled in group:
                        settled.settle()
        finally:
            if not ended:
                # Ended by an error of its own: the saves queued meanwhile are saved alone
                # rather than waiting for a committer that is gone.
                with self._lock:
                    self._committer = None
                    stranded, self._queue = self._queue, []
                for entry in stranded:
                    entry.alone = True
                    entry.settle()

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
        except StaleReadsError as error:
            for entry in together:
                if entry.reads:
                    entry.error = error
                else:
                    entry.alone = True
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
