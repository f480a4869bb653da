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

The tenant's application names these classes in its environment
(APPLICATION_RECORDER_TOPIC), one for each database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from domain.ledger import Ledger, LedgerSQL, StoredRow, originator_text

#: The keyword argument of `save` (and `insert_events`) that carries the side writes.
SIDE_WRITES = "side_writes"

#: A write done with the events: given the transaction's cursor and the command's position.
SideWrite = Callable[[Any, int], None]


def _side_writes(kwargs: dict[str, Any]) -> Sequence[SideWrite]:
    writes: Sequence[SideWrite] = kwargs.get(SIDE_WRITES) or ()
    return writes


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
        writes = _side_writes(kwargs)
        if writes:
            position = max(ids) if ids else (self._max_notification_id(c) or 0)
            for write in writes:
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
        writes = _side_writes(kwargs)
        if writes and not stored_events:
            # Nothing to insert: no events table lock, no notification ids; the position
            # is the head as this transaction sees it.
            curs.execute(self.max_notification_id_statement)
            row = curs.fetchone()
            position = int(row["max"] or 0) if row is not None else 0
            for write in writes:
                write(curs, position)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if not ids:
            return ids
        # In pipeline mode a failed statement surfaces at the next sync: the nested block
        # syncs as it ends, inside the recorder's error handling, not at commit.
        with curs.connection.pipeline():
            self.ledger.extend(curs, _ledger_rows(ids, stored_events))
            for write in _side_writes(kwargs):
                write(curs, max(ids))
        return ids
