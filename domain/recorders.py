"""Event recorders that write a command's side rows in the transaction of its events.

A command's events and what must stay true with them (the answer to its Idempotency-Key,
the claim of a student's one result for a line item) are written together or not at all:
`Application.save(*aggregates, side_writes=[...])` hands the writes down to the recorder,
which runs each with the transaction's cursor and the store position of the command's last
event (the store head when the command recorded no event). A write that fails (a key
already answered, a result slot already claimed) fails the whole transaction, events
included.

Both also extend the auditors' ledger (domain/ledger.py) over every event they insert, in
the same transaction, before the side writes: on PostgreSQL under the events table's lock,
so the chain's order is the notification ids' order.

A group commit (domain/group_commit.py) saves several commands in one transaction: it
passes `side_write_groups` instead, each command's event count and writes, and each write
gets the position of its own command's last event (the transaction's last event for a
command that recorded none).

The tenant's application names these classes in its environment
(APPLICATION_RECORDER_TOPIC), one for each database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from domain.ledger import Ledger, LedgerSQL, StoredRow, originator_text

#: The keyword argument of `save` (and `insert_events`) that carries the side writes.
SIDE_WRITES = "side_writes"

#: The keyword argument that carries a group's side writes: one (event count, writes) pair
#: per command, in the order of the commands' events.
SIDE_WRITE_GROUPS = "side_write_groups"

#: A write done with the events: given the transaction's cursor and the command's position.
SideWrite = Callable[[Any, int], None]


def _has_side_writes(kwargs: dict[str, Any]) -> bool:
    return bool(kwargs.get(SIDE_WRITES)) or bool(kwargs.get(SIDE_WRITE_GROUPS))


def _positioned_writes(
    kwargs: dict[str, Any], ids: Sequence[int], head: Callable[[], int]
) -> Iterator[tuple[SideWrite, int]]:
    """Each side write with the position it is given: its command's last event, else the
    last event of the transaction, else the store head (`head()`) when none was inserted."""
    last = max(ids) if ids else None
    flat: Sequence[SideWrite] = kwargs.get(SIDE_WRITES) or ()
    groups: Sequence[tuple[int, Sequence[SideWrite]]] = kwargs.get(SIDE_WRITE_GROUPS) or ()
    if flat or groups:
        if last is None:
            last = head()
        for write in flat:
            yield write, last
    start = 0
    for count, writes in groups:
        own = ids[start : start + count]
        start += count
        if len(own) != count:
            raise ProgrammingError(f"{len(ids)} positions for a group of {start}+ events")
        for write in writes:
            yield write, max(own) if own else last or 0


def _ledger_rows(ids: Sequence[int], stored_events: Sequence[StoredEvent]) -> list[StoredRow]:
    """The inserted events as the ledger covers them (the bytes just stored)."""
    if len(ids) != len(stored_events):
        raise ProgrammingError(f"{len(ids)} positions for {len(stored_events)} events")
    return [
        StoredRow(
            position=position,
            originator_id=originator_text(event.originator_id),
            originator_version=event.originator_version,
            topic=event.topic,
            state=event.state,
        )
        for position, event in zip(ids, stored_events, strict=True)
    ]


class SQLiteSideRowsRecorder(SQLiteApplicationRecorder):
    """SQLite: the events, their ledger entries, then the side rows, in the one transaction
    of `insert_events`."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.ledger = Ledger(
            datastore, LedgerSQL(events_table=events_table_name, postgres_schema=None)
        )

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            self.ledger.extend(c, _ledger_rows(ids, stored_events))
        for write, position in _positioned_writes(
            kwargs, ids or (), lambda: self._max_notification_id(c) or 0
        ):
            write(c, position)
        return ids


class PostgresSideRowsRecorder(PostgresApplicationRecorder):
    """PostgreSQL: the ledger entries and the side rows follow the events inside
    `insert_events`' transaction, under its lock of the events table (so the notification
    ids are known, and no other transaction records events in between)."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.ledger = Ledger(
            datastore,
            LedgerSQL(events_table=events_table_name, postgres_schema=datastore.schema),
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:
            # The database-function path inserts events without calling back here.
            raise ProgrammingError(
                "the ledger and side writes need POSTGRES_ENABLE_DB_FUNCTIONS off"
            )
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return ids

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        if _has_side_writes(kwargs) and not stored_events:
            # Nothing to insert: no events table lock, no notification ids; the position
            # is the head as this transaction sees it.
            def head() -> int:
                curs.execute(self.max_notification_id_statement)
                row = curs.fetchone()
                return int(row["max"] or 0) if row is not None else 0

            for write, position in _positioned_writes(kwargs, (), head):
                write(curs, position)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if not ids:
            return ids
        try:
            # In pipeline mode a failed statement surfaces at the next sync: the nested
            # block syncs as it ends, inside the recorder's error handling, not at commit.
            with curs.connection.pipeline():
                self.ledger.extend(curs, _ledger_rows(ids, stored_events))
                for write, position in _positioned_writes(kwargs, ids, lambda: max(ids)):
                    write(curs, position)
        except BaseException:
            # The library's insert_events holds what is raised here until its transaction
            # block has ended, and that block commits: a side write that failed in Python
            # (not in the database) would leave the events recorded without it.
            self._roll_back(curs)
            raise
        return ids

    @staticmethod
    def _roll_back(curs: Any) -> None:
        """Ends the server's transaction with a rollback, so the commit that follows has
        nothing to commit."""
        with curs.connection.pipeline():
            curs.execute("ROLLBACK")
