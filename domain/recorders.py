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

A command that checked its references on the copies this process keeps of them, without
asking the store whether they changed (domain/validated_reads.py), passes
`read_versions`: each record it read with the version it read. On PostgreSQL the
transaction then checks, under the events table's lock, that none of those records has a
later event, and fails with StaleReadsError, recording nothing, when one has: the command
is run again on fresh reads. SQLite takes none (`VALIDATES_READS` is False): its commands
read their references from the store.

The tenant's application names these classes in its environment
(APPLICATION_RECORDER_TOPIC), one for each database.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier, Literal

from domain.ledger import GENESIS, Ledger, LedgerSQL, StoredRow, originator_text

#: The keyword argument of `save` (and `insert_events`) that carries the side writes.
SIDE_WRITES = "side_writes"

#: The keyword argument that carries a group's side writes: one (event count, writes) pair
#: per command, in the order of the commands' events.
SIDE_WRITE_GROUPS = "side_write_groups"

#: The keyword argument that carries the records a command read unchecked, with the
#: versions it read: (aggregate id, version) pairs (PostgreSQL only).
READ_VERSIONS = "read_versions"

#: The SQLSTATE of a one-step save refused because the store head moved (PostgreSQL).
STALE_HEAD = "DGH01"
#: The SQLSTATE of a save refused because a record read at a version has a later event.
STALE_READS = "DGR01"


class StaleReadsError(PersistenceError):
    """A record a command read (`read_versions`) changed before its save: nothing was
    recorded, and the command is to be run again on fresh reads."""


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

    #: Its commands read their references from the store (READ_VERSIONS is refused).
    VALIDATES_READS = False

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.ledger = Ledger(
            datastore, LedgerSQL(events_table=events_table_name, postgres_schema=None)
        )

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if kwargs.get(READ_VERSIONS):
            raise ProgrammingError("SQLite does not check a command's reads: read them fresh")
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            self.ledger.extend(c, _ledger_rows(ids, stored_events))
        for write, position in _positioned_writes(
            kwargs, ids or (), lambda: self._max_notification_id(c) or 0
        ):
            write(c, position)
        return ids


class PostgresSideRowsRecorder(PostgresApplicationRecorder):
    """PostgreSQL: the events, their ledger entries and the side rows in one transaction,
    under its lock of the events table (so the positions are known, and no other
    transaction records events in between).

    When this process knows the store head (the last event's position and the ledger's last
    hash, kept after each of its saves) a save is one round trip: BEGIN, the lock, a check
    that the head is still the one known (by the events' highest position, under the lock),
    NOTIFY, the events at the positions that follow (the notification id sequence moved
    past them), their ledger entries, the side writes and COMMIT: one call of a database
    function with the events as arrays bound server-side, and when side writes add
    statements, that call and theirs (bound server-side too) between BEGIN and COMMIT sent
    as one pipeline. When another process recorded events since, the check fails the
    transaction (STALE_HEAD) and the save is made again in two round trips, which read the
    head under the lock:

    1. BEGIN, the lock, NOTIFY, the events' INSERT (positions from the sequence) and the
       read of the ledger's head, in one query;
    2. the ledger entries (one INSERT), the side writes and COMMIT, in one query.

    Each step is one query so that the thread waits on the server once per step, not once
    per statement (a thread that waits gives up the GIL, and under load it takes a while
    to have it back).

    A group commit (`side_write_groups`) uses a connection the recorder holds for it (one
    group commits at a time): no pool checkout and no liveness check per group. A broken
    connection is given back to the pool (which drops it) and the save is tried again on
    a fresh one. Reads (`select_events`) go through the pool and are tried again likewise.
    """

    #: Tries of a save whose connection or server failed (eventsourcing tries 10 times).
    ATTEMPTS = 10
    #: Checks a command's unchecked reads (READ_VERSIONS) in its save's transaction.
    VALIDATES_READS = True

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.ledger = Ledger(
            datastore,
            LedgerSQL(events_table=events_table_name, postgres_schema=datastore.schema),
        )
        table = Identifier(datastore.schema, events_table_name)
        # One array per column: no composite value built per event.
        self._insert_columns = SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%s::{}[], %s::bigint[], %s::text[], %s::bytea[])"
            " RETURNING notification_id"
        ).format(table, SQL(datastore.originator_id_type))
        # Every tenant's store notifies the same channel (the events table has one name in
        # every tenant's schema): the payload names the schema, so a listener can tell
        # whose store it was (api/worker.py wakes the relay for that tenant alone).
        self._notify = SQL("NOTIFY {}, {}").format(
            Identifier(self.channel_name), Literal(datastore.schema)
        )
        # A command's unchecked reads (READ_VERSIONS): none of the records has an event
        # after the version read, checked under the lock (one index probe each). Each probe
        # is a LATERAL subquery with LIMIT 1, which stays one in any plan: from its sixth
        # call a function may run a generic plan, and that of a join of the reads with the
        # events was a hash join over every event of the store, the lock held meanwhile
        # (4 ms at 40,000 events, 200-300 ms at a million, against 0.05 ms as probes).
        expect_versions = Identifier(
            datastore.schema, f"digione_expect_versions_{events_table_name}"
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {}(read_ids {}[], read_versions bigint[])"
                " RETURNS void LANGUAGE plpgsql AS $body$ BEGIN"
                " IF EXISTS (SELECT 1 FROM unnest(read_ids, read_versions) AS r(id, version)"
                " CROSS JOIN LATERAL (SELECT 1 FROM {} AS e WHERE e.originator_id = r.id"
                " AND e.originator_version > r.version LIMIT 1) AS later)"
                " THEN RAISE EXCEPTION 'a record read has changed' USING ERRCODE = '{}';"
                " END IF; END $body$"
            ).format(expect_versions, SQL(datastore.originator_id_type), table, SQL(STALE_READS))
        )
        self._expect_versions = SQL("SELECT {}(%s::{}[], %s::bigint[])").format(
            expect_versions, SQL(datastore.originator_id_type)
        )
        # The one-step save (the events at the positions that follow the head this process
        # knows, refused with STALE_HEAD when the head moved) as one statement bound
        # server-side (binary arrays): no escaping of every event's bytes into the text of
        # a query, which the thread committing the groups spends its time on otherwise.
        record_after = Identifier(datastore.schema, f"digione_record_after_{events_table_name}")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {}(expected bigint, lock_wait text, ids bigint[],"
                " originator_ids {}[], versions bigint[], topics text[], states bytea[],"
                " hashes bytea[], read_ids {}[], read_versions bigint[])"
                " RETURNS void LANGUAGE plpgsql AS $body$ BEGIN"
                " PERFORM set_config('lock_timeout', lock_wait, true);"
                " LOCK TABLE {} IN EXCLUSIVE MODE;"
                " IF (SELECT coalesce(max(notification_id), 0) FROM {}) <> expected THEN"
                " RAISE EXCEPTION 'the store head moved' USING ERRCODE = '{}';"
                " END IF;"
                " IF cardinality(read_ids) > 0 THEN PERFORM {}(read_ids, read_versions); END IF;"
                " PERFORM pg_notify({}, {});"
                " INSERT INTO {} (notification_id, originator_id, originator_version, topic, state)"
                " SELECT * FROM unnest(ids, originator_ids, versions, topics, states);"
                " PERFORM setval(pg_get_serial_sequence({}, 'notification_id'),"
                " ids[array_upper(ids, 1)]);"
                " INSERT INTO {} (position, hash) SELECT * FROM unnest(ids, hashes);"
                " END $body$"
            ).format(
                record_after,
                SQL(datastore.originator_id_type),
                SQL(datastore.originator_id_type),
                table,
                table,
                SQL(STALE_HEAD),
                expect_versions,
                Literal(self.channel_name),
                Literal(datastore.schema),
                table,
                Literal(f'"{datastore.schema}"."{events_table_name}"'),
                SQL(self.ledger.sql.table),
            )
        )
        self._record_after_call = SQL(
            "SELECT {}(%s::bigint, %s, %b::bigint[], %b::{}[], %b::bigint[], %b::text[],"
            " %b::bytea[], %b::bytea[], %b::{}[], %b::bigint[])"
        ).format(record_after, SQL(datastore.originator_id_type), SQL(datastore.originator_id_type))
        self._lock_wait = f"{int(datastore.lock_timeout)}s"
        #: The store head as this process last recorded it: the last event's position and
        #: the ledger's last hash (None: unknown, read under the lock by the next save).
        self._head: tuple[int, bytes] | None = None
        self._held: Connection[Any] | None = None
        self._select_events_by_shape: dict[tuple[bool, bool, bool, bool], bytes] = {}
        self._held_lock = threading.Lock()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """eventsourcing's read of an aggregate's events, its query composed once per shape
        rather than on every read (composing it and rendering it to bytes cost more than
        the rest of the call; every command reads its references with it)."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._select_events_by_shape.get(shape)
        if statement is None:
            composed = self.select_events_statement
            if gt is not None:
                composed += SQL(" AND originator_version > %s")
            if lte is not None:
                composed += SQL(" AND originator_version <= %s")
            composed += SQL(
                " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC"
            )
            if limit is not None:
                composed += SQL(" LIMIT %s")
            statement = self._select_events_by_shape[shape] = composed.as_bytes(None)
        params = [value for value in (originator_id, gt, lte, limit) if value is not None]
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in cursor.fetchall()
            ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:
            # The database-function path inserts events without the ledger.
            raise ProgrammingError(
                "the ledger and side writes need POSTGRES_ENABLE_DB_FUNCTIONS off"
            )
        if not stored_events and not _has_side_writes(kwargs):
            return None
        held = bool(kwargs.get(SIDE_WRITE_GROUPS))
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                if held:
                    with self._held_lock:
                        return self._on_held_connection(stored_events, kwargs)
                with self.datastore.get_connection() as connection:
                    return self._record(connection, stored_events, kwargs)
            except (InterfaceError, OperationalError):
                if attempt == self.ATTEMPTS:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")  # pragma: no cover

    def release_connection(self) -> None:
        """Gives the connection held for group commits back to the pool (when closing)."""
        with self._held_lock:
            self._give_back_held()

    def _on_held_connection(
        self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]
    ) -> Sequence[int] | None:
        try:
            with _persistence_errors():
                if self._held is None or self._held.closed:
                    self._give_back_held()
                    # Kept until it breaks (checked by the pool only when it is configured
                    # to pre-ping; a dead one fails its first save, which is tried again).
                    self.datastore.pool.open(wait=False)
                    self._held = self.datastore.pool.getconn()
                return self._record(self._held, stored_events, kwargs)
        except (InterfaceError, OperationalError):
            # A broken connection (a restarted server) or a lock timeout: a fresh one next.
            self._give_back_held()
            raise

    def _give_back_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):
                self.datastore.pool.putconn(held)

    def _record(
        self, connection: Connection[Any], stored_events: Sequence[StoredEvent], kwargs: Any
    ) -> Sequence[int] | None:
        """The transaction of one save (see the class): its events' positions."""
        assert connection.autocommit
        head = self._head if stored_events else None
        self._head = None
        cursor = psycopg.ClientCursor(connection)
        try:
            if head is not None:
                try:
                    ids, last = self._record_after(connection, stored_events, kwargs, head)
                except psycopg.Error as error:
                    if error.sqlstate != STALE_HEAD:
                        raise
                    # Another process recorded events since: the head is read again.
                    _roll_back(connection)
                    ids, last = self._record_in_two_steps(cursor, stored_events, kwargs)
            else:
                ids, last = self._record_in_two_steps(cursor, stored_events, kwargs)
        except psycopg.Error as error:
            _roll_back(connection)
            if error.sqlstate == STALE_READS:
                raise StaleReadsError(
                    "a record the command read changed before its save; nothing was recorded"
                ) from None
            raise
        except BaseException:
            _roll_back(connection)
            raise
        finally:
            cursor.close()
        if ids:
            self._head = (ids[-1], last)
        return ids

    def _record_after(
        self,
        connection: Connection[Any],
        stored_events: Sequence[StoredEvent],
        kwargs: Any,
        head: tuple[int, bytes],
    ) -> tuple[list[int], bytes]:
        """One step, when this process knows the head: the events at the positions after
        it, their ledger entries, the side writes and COMMIT, which the database refuses
        (STALE_HEAD) when the head has moved (checked under the lock).

        The events and their ledger entries are one call of a database function, its
        arrays bound server-side (no escaping of every event's bytes into the text of a
        query, which the thread committing the groups would spend its time on). Without
        side statements (side writes that wrote nothing to the database) that call is the
        whole save; with them, the call and the side statements (bound server-side too) run
        between BEGIN and COMMIT sent as one pipeline: still one round trip."""
        position, _hash = head
        ids = list(range(position + 1, position + 1 + len(stored_events)))
        rows = _ledger_rows(ids, stored_events)
        side = _DeferredStatements()
        for write, at in _positioned_writes(kwargs, ids, lambda: position):
            write(side, at)
        read_ids, read_versions = _read_columns(kwargs)
        positions, hashes = self.ledger.chained(rows, after=head)
        arguments = (
            position,
            self._lock_wait,
            positions,
            *_columns(stored_events),
            hashes,
            read_ids,
            read_versions,
        )
        if not side.statements:
            with connection.cursor() as bound:
                # Autocommit: the one statement is its own transaction.
                bound.execute(self._record_after_call, arguments)
            return ids, hashes[-1]
        # A failure (the head moved, a key answered already) ends the pipeline with the
        # transaction failed: the caller rolls it back.
        with connection.pipeline(), connection.cursor() as bound:
            bound.execute("BEGIN")
            bound.execute(self._record_after_call, arguments)
            side.run(bound)
            bound.execute("COMMIT")
        return ids, hashes[-1]

    def _record_in_two_steps(
        self, cursor: psycopg.ClientCursor[Any], stored_events: Sequence[StoredEvent], kwargs: Any
    ) -> tuple[list[int], bytes]:
        """Two steps, each one query of several statements bound client-side (the thread
        waits on the server twice, not once per statement: a thread that waits gives up
        the GIL, and under load it takes a while to have it back)."""
        ids: list[int] = []
        last = GENESIS
        read_ids, read_versions = _read_columns(kwargs)
        # A command's unchecked reads are checked under the lock, as the one-step save does.
        expected = self._expected_versions(cursor, read_ids, read_versions)
        if not stored_events:
            opening = ["BEGIN"]
            if expected:
                opening += [cursor.mogrify(lock) for lock in self.lock_table_statements]
                opening += expected
            cursor.execute("; ".join(opening))
        else:
            cursor.execute(
                "; ".join(
                    [
                        "BEGIN",
                        *(cursor.mogrify(lock) for lock in self.lock_table_statements),
                        *expected,
                        cursor.mogrify(self._notify),
                        cursor.mogrify(self._insert_columns, _columns(stored_events)),
                        self.ledger.sql.head,
                    ]
                )
            )
            # The results of BEGIN, the two lock statements, the reads' check and NOTIFY
            # come first.
            for _ in range(len(self.lock_table_statements) + len(expected) + 2):
                cursor.nextset()
            ids = [int(row["notification_id"]) for row in cursor.fetchall()]
            cursor.nextset()
            found = cursor.fetchone()
        statements = _DeferredStatements()
        if ids:
            after = (0, GENESIS) if found is None else (found["position"], found["hash"])
            last = self.ledger.append(statements, _ledger_rows(ids, stored_events), after=after)

        def store_head() -> int:
            cursor.execute(self.max_notification_id_statement)
            row = cursor.fetchone()
            return int(row["max"] or 0) if row is not None else 0

        for write, position in _positioned_writes(kwargs, ids, store_head):
            write(statements, position)
        # A side write's failure (a key already answered) raises here, before COMMIT.
        cursor.execute("; ".join([*statements.composed(cursor), "COMMIT"]))
        return ids, last

    def _expected_versions(
        self, cursor: psycopg.ClientCursor[Any], read_ids: list[Any], read_versions: list[int]
    ) -> list[str]:
        """The check of a command's unchecked reads, as statements (none without reads)."""
        if not read_ids:
            return []
        return [cursor.mogrify(self._expect_versions, (read_ids, read_versions))]


class _DeferredStatements:
    """The cursor the ledger and the side writes are given on PostgreSQL: it keeps their
    statements with their parameters, to be sent with the save's own and COMMIT (bound
    server-side, or composed client-side into one query)."""

    def __init__(self) -> None:
        #: Each statement with its rows of parameters (a row for each run).
        self.statements: list[tuple[Any, list[Any]]] = []

    def execute(self, statement: Any, params: Any = None) -> None:
        self.statements.append((statement, [params]))

    def executemany(self, statement: Any, params: Iterable[Any]) -> None:
        rows = list(params)
        if rows:
            self.statements.append((statement, rows))

    def fetchone(self) -> Any:
        raise ProgrammingError("a side write cannot read: its statements run at commit")

    def fetchall(self) -> Any:
        raise ProgrammingError("a side write cannot read: its statements run at commit")

    def run(self, cursor: psycopg.Cursor[Any]) -> None:
        """Sends the statements through `cursor` (in a pipeline: without waiting)."""
        for statement, rows in self.statements:
            if len(rows) == 1:
                cursor.execute(statement, rows[0])
            else:
                cursor.executemany(statement, rows)

    def composed(self, cursor: psycopg.ClientCursor[Any]) -> list[str]:
        """The statements bound client-side, to be sent in one query."""
        return [
            cursor.mogrify(statement, row) for statement, rows in self.statements for row in rows
        ]


def _read_columns(kwargs: dict[str, Any]) -> tuple[list[Any], list[int]]:
    """The records a command read unchecked (READ_VERSIONS) and their versions, as two
    arrays."""
    pairs: Iterable[tuple[Any, int]] = kwargs.get(READ_VERSIONS) or ()
    read_ids: list[Any] = []
    read_versions: list[int] = []
    for record_id, version in pairs:
        read_ids.append(record_id)
        read_versions.append(version)
    return read_ids, read_versions


def _columns(
    stored_events: Sequence[StoredEvent],
) -> tuple[list[Any], list[int], list[str], list[bytes]]:
    """The events as one array per column, in their order."""
    return (
        [event.originator_id for event in stored_events],
        [event.originator_version for event in stored_events],
        [event.topic for event in stored_events],
        [event.state for event in stored_events],
    )


def _roll_back(connection: Connection[Any]) -> None:
    """Ends a transaction that failed (in the database or in Python) with a rollback, so
    the connection goes back to the pool idle; a connection that cannot is left broken
    for the pool to drop.

    psycopg's own rollback(), not a ROLLBACK statement: it also forgets the statements
    psycopg prepared on the connection and deallocates them on the server. A pipeline
    the server refused part-way can leave psycopg taking a statement for prepared that
    the server skipped: run by that name in the next save, it failed with "prepared
    statement does not exist" (on a ROLLBACK statement psycopg forgets them only when it
    has not counted one since it last did)."""
    if connection.closed:
        return
    with contextlib.suppress(Exception):
        if connection.info.transaction_status != TransactionStatus.IDLE:
            connection.rollback()


@contextlib.contextmanager
def _persistence_errors() -> Iterator[None]:
    """psycopg's errors as eventsourcing's (as its datastore raises them), for work done
    on a connection held outside the datastore's `get_connection`."""
    try:
        yield
    except psycopg.IntegrityError as error:
        raise IntegrityError(str(error)) from error
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
        raise OperationalError(str(error)) from error
    except psycopg.InterfaceError as error:
        raise InterfaceError(str(error)) from error
    except psycopg.DataError as error:
        raise DataError(str(error)) from error
    except psycopg.InternalError as error:
        raise InternalError(str(error)) from error
    except psycopg.ProgrammingError as error:
        raise ProgrammingError(str(error)) from error
    except psycopg.NotSupportedError as error:
        raise NotSupportedError(str(error)) from error
    except psycopg.DatabaseError as error:
        raise DatabaseError(str(error)) from error
    except psycopg.Error as error:
        raise PersistenceError(str(error)) from error
