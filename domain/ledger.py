"""The auditors' ledger: a hash chain over a tenant's event log in store order.

Each event the store records gets a ledger entry (its store position and a hash): the hash
covers the previous entry's hash and the event as stored (its position, originator id,
version, topic and state bytes, i.e. the ciphertext of sealed fields), so an erasure, which
destroys keys and never touches an event, leaves the chain whole. The entries are written
by the recorder (domain/recorders.py) in the transaction of the events they cover; on
PostgreSQL under the recorder's lock of the events table, so the chain's order is the
store's.

`Ledger.verify` recomputes the chain from the events and reports the first position where
the events and the ledger disagree: changed bytes, a deleted event, two events reordered,
an event recorded behind the ledger's back. What the chain alone cannot show (someone who
rewrote the events and the ledger together) is what signed checkpoints kept elsewhere are
for.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from domain.ledger_checkpoints import Checkpoint, signature_holds

#: The hash before the first entry.
GENESIS = bytes(32)
#: The migration that chains the events of a store that predates the ledger (run once).
LEDGER_FROM_EVENTS = "ledger-chain-from-events"
#: Events and entries read per page when the chain is recomputed.
PAGE_SIZE = 20_000

_LENGTH = 4


class _Cursor(Protocol):
    def execute(self, statement: Any, params: Any = ...) -> Any: ...
    def executemany(self, statement: Any, params: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


class _Datastore(Protocol):
    def transaction(self, *, commit: bool) -> Any: ...


class StoredRow(NamedTuple):
    """An event as the store holds it, with its position (a tuple: verify makes millions)."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def originator_text(value: UUID | str) -> str:
    """The originator id as the chain covers it: the UUID's 32 hex digits (SQLite stores
    exactly that text; PostgreSQL stores a uuid)."""
    return value.hex if isinstance(value, UUID) else str(value)


def entry_hash(prev: bytes, row: StoredRow) -> bytes:
    """SHA-256 of the previous hash and the stored event's canonical bytes."""
    return hashlib.sha256(prev + canonical_bytes(row)).digest()


def canonical_bytes(row: StoredRow) -> bytes:
    """The bytes of a stored event the chain covers: the position and version as 8-byte
    big-endian integers, then the originator id, topic and state, each after its 4-byte
    big-endian length."""
    originator = row.originator_id.encode()
    topic = row.topic.encode()
    return b"".join(
        (
            row.position.to_bytes(8, "big"),
            row.originator_version.to_bytes(8, "big", signed=True),
            len(originator).to_bytes(_LENGTH, "big"),
            originator,
            len(topic).to_bytes(_LENGTH, "big"),
            topic,
            len(row.state).to_bytes(_LENGTH, "big"),
            row.state,
        )
    )


@dataclass(frozen=True)
class LedgerReport:
    """What a verification found: `ok`, or the first position where something differs."""

    ok: bool
    checked: int
    head_position: int
    head_hash: str
    first_bad_position: int | None = None
    problem: str | None = None
    #: How many signed checkpoints were checked against the chain.
    checkpoints: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "checkpoints": self.checkpoints,
            "headPosition": self.head_position,
            "headHash": self.head_hash,
            "firstBadPosition": self.first_bad_position,
            "problem": self.problem,
        }


class LedgerSQL:
    """The ledger's statements for one store: SQLite (events by rowid) or PostgreSQL (events
    by notification_id, tables in the tenant's schema)."""

    def __init__(self, *, events_table: str, postgres_schema: str | None) -> None:
        postgres = postgres_schema is not None
        prefix = f'"{postgres_schema}".' if postgres else ""
        events = f'{prefix}"{events_table}"'
        ledger = f"{prefix}digione_ledger"
        p = "%s" if postgres else "?"
        position = "notification_id" if postgres else "rowid"
        blob = "BYTEA" if postgres else "BLOB"
        self.postgres = postgres
        #: The ledger's table, qualified (quoted schema) on PostgreSQL.
        self.table = ledger
        self.create = (
            f"CREATE TABLE IF NOT EXISTS {ledger} ("
            f" position BIGINT PRIMARY KEY, hash {blob} NOT NULL)"
        )
        self.lock_events = f"LOCK TABLE {events} IN EXCLUSIVE MODE" if postgres else None
        self.head = f"SELECT position, hash FROM {ledger} ORDER BY position DESC LIMIT 1"
        self.insert = f"INSERT INTO {ledger} (position, hash) VALUES ({p}, {p})"
        # PostgreSQL: a transaction's entries in one statement.
        self.insert_many = (
            f"INSERT INTO {ledger} (position, hash) SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        )
        # PostgreSQL gives the uuid as text in the form the chain covers (32 hex digits), so
        # no UUID object is made per event.
        originator = "replace(originator_id::text, '-', '')" if postgres else "originator_id"
        self.events_page = (
            f"SELECT {position} AS position, {originator} AS originator_id,"
            " originator_version, topic, state"
            f" FROM {events} WHERE {position} > {p} AND {position} <= {p}"
            f" ORDER BY {position} LIMIT {p}"
        )
        self.entries_page = (
            f"SELECT position, hash FROM {ledger} WHERE position > {p} AND position <= {p}"
            f" ORDER BY position LIMIT {p}"
        )
        # The verification reads each event beside its ledger entry in one pass (an event
        # without one has NULLs there). PostgreSQL also builds the canonical bytes
        # (`canonical_bytes`) itself, so each row comes over as one bytea (in binary).
        if postgres:
            text = "replace(e.originator_id::text, '-', '')"
            canonical = (
                "int8send(e.notification_id) || int8send(e.originator_version::bigint)"
                f" || int4send(octet_length(convert_to({text}, 'UTF8')))"
                f" || convert_to({text}, 'UTF8')"
                " || int4send(octet_length(convert_to(e.topic, 'UTF8')))"
                " || convert_to(e.topic, 'UTF8')"
                " || int4send(octet_length(e.state)) || e.state"
            )
            self.verify_rows = (
                f"SELECT e.notification_id, l.hash, {canonical} FROM {events} e"
                f" LEFT JOIN {ledger} l ON l.position = e.notification_id"
                " WHERE e.notification_id <= %s ORDER BY e.notification_id"
            )
        else:
            self.verify_rows = (
                "SELECT e.rowid, l.hash, e.originator_id, e.originator_version, e.topic,"
                f" e.state FROM {events} e LEFT JOIN {ledger} l ON l.position = e.rowid"
                " WHERE e.rowid <= ? ORDER BY e.rowid"
            )
        self.entries_until = f"SELECT count(*) AS n FROM {ledger} WHERE position <= {p}"
        self.first_entry_without_event = (
            f"SELECT l.position FROM {ledger} l WHERE l.position <= {p}"
            f" AND NOT EXISTS (SELECT 1 FROM {events} e WHERE e.{position} = l.position)"
            " ORDER BY l.position LIMIT 1"
        )
        self.first_unchained_after = (
            f"SELECT e.{position} AS position FROM {events} e WHERE e.{position} > {p}"
            f" AND NOT EXISTS (SELECT 1 FROM {ledger} l WHERE l.position = e.{position})"
            f" ORDER BY e.{position} LIMIT 1"
        )


class Ledger:
    """A tenant's ledger: extended by the recorder, chained once for an older store,
    recomputed by `verify`."""

    def __init__(self, datastore: _Datastore, sql: LedgerSQL) -> None:
        self._datastore = datastore
        self.sql = sql

    def create_table(self) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(self.sql.create)

    # -- writing (in the events' transaction) -----------------------------------------

    def extend(self, cursor: _Cursor, rows: Iterable[StoredRow]) -> bytes:
        """Chains `rows` (just recorded, in position order) after the head; returns the new
        head hash. Runs with the cursor of the events' transaction."""
        prev = self._head(cursor)[1]
        entries = []
        for row in rows:
            prev = entry_hash(prev, row)
            entries.append((row.position, prev))
        if entries:
            cursor.executemany(self.sql.insert, entries)
        return prev

    def append(
        self, cursor: _Cursor, rows: Iterable[StoredRow], *, after: tuple[int, bytes]
    ) -> bytes:
        """Chains `rows` (just recorded, in position order) after the entry `after` (the
        head's position and hash, read by the caller in this transaction under the events
        table's lock) in one statement; returns the new head hash. PostgreSQL only."""
        positions, hashes = self.chained(rows, after=after)
        if positions:
            cursor.execute(self.sql.insert_many, (positions, hashes))
        return hashes[-1] if hashes else bytes(after[1])

    @staticmethod
    def chained(
        rows: Iterable[StoredRow], *, after: tuple[int, bytes]
    ) -> tuple[list[int], list[bytes]]:
        """The entries of `rows` (in position order) chained after the entry `after`: their
        positions and hashes, for the caller to insert."""
        head_position, prev = after[0], bytes(after[1])
        positions: list[int] = []
        hashes: list[bytes] = []
        for row in rows:
            if row.position <= head_position:
                raise ValueError(
                    f"the event at position {row.position} cannot follow the ledger's head "
                    f"at {head_position}"
                )
            prev = entry_hash(prev, row)
            positions.append(row.position)
            hashes.append(prev)
        return positions, hashes

    def chain_recorded(self, cursor: _Cursor) -> int:
        """Chains every event after the ledger's head (a store that predates the ledger:
        the migration's step, under the events table's lock); returns how many."""
        if self.sql.lock_events is not None:
            cursor.execute(self.sql.lock_events)
        head, prev = self._head(cursor)
        count = 0
        while True:
            cursor.execute(self.sql.events_page, (head, 2**62, PAGE_SIZE))
            rows = [_stored_row(r) for r in cursor.fetchall()]
            if not rows:
                return count
            entries = []
            for row in rows:
                prev = entry_hash(prev, row)
                entries.append((row.position, prev))
            cursor.executemany(self.sql.insert, entries)
            head = rows[-1].position
            count += len(rows)

    def _head(self, cursor: _Cursor) -> tuple[int, bytes]:
        cursor.execute(self.sql.head)
        row = cursor.fetchone()
        if row is None:
            return 0, GENESIS
        return int(row["position"]), bytes(row["hash"])

    # -- reading -------------------------------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        """The ledger's last position and hash ((0, GENESIS) when empty)."""
        with self._datastore.transaction(commit=False) as cursor:
            return self._head(cursor)

    def hash_at(self, position: int) -> bytes | None:
        """The ledger's hash at `position`, None when it has no entry there."""
        for entry_position, digest in self._entries(position - 1, position):
            if entry_position == position:
                return digest
        return None

    def verify(
        self,
        *,
        checkpoints: Sequence[Checkpoint] = (),
        public_key: bytes | None = None,
        page_size: int = PAGE_SIZE,
        progress: Callable[[int, int], None] | None = None,
    ) -> LedgerReport:
        """Recomputes the chain from the stored events up to the ledger's head (read first,
        so events recorded meanwhile are left to the next verification), compares each
        entry, and checks each checkpoint (read before the head) at its position: its
        signature under `public_key` and its hash against the recomputed chain. Stops at the
        first position where anything differs.

        `progress(position, head_position)` is called after each page with the last
        position checked."""
        # Several copies of a checkpoint (the store's, the topic's) are each checked.
        signed: dict[int, list[Checkpoint]] = {}
        for copy in checkpoints:
            signed.setdefault(copy.position, []).append(copy)
        head_position, head_hash = self.head()
        prev = GENESIS
        checked = 0
        seen = 0
        chained = 0

        def bad(position: int, problem: str) -> LedgerReport:
            # An entry whose event is gone lies before the first other difference: it is
            # the first (the events after it no longer chain, as a consequence).
            missing = self._first_entry_without_event(position - 1)
            if missing is not None:
                position, problem = missing, _missing(missing)
            return LedgerReport(
                ok=False,
                checked=min(checked, self._entries_until(position - 1)),
                head_position=head_position,
                head_hash=head_hash.hex(),
                first_bad_position=position,
                problem=problem,
                checkpoints=seen,
            )

        failure: tuple[int, str] | None = None
        sha256 = hashlib.sha256
        # Closed before anything else is read: on SQLite the read holds the connection.
        with contextlib.closing(self._verify_rows(head_position, page_size)) as rows:
            for position, recorded, payload in rows:
                if recorded is None:
                    failure = (
                        position,
                        (
                            f"the event at position {position} is not in the ledger: it was "
                            "recorded outside DigiOne, or moved there from another position"
                        ),
                    )
                    break
                chained += 1
                prev = sha256(prev + payload).digest()
                if prev != recorded:
                    failure = (
                        position,
                        (
                            f"the event at position {position} is not the one recorded there: "
                            "its bytes were changed, or events were reordered (or its ledger "
                            "entry was changed)"
                        ),
                    )
                    break
                for checkpoint in signed.pop(position, ()) if signed else ():
                    problem = _checkpoint_problem(checkpoint, prev, public_key)
                    if problem is not None:
                        failure = (position, problem)
                        break
                    seen += 1
                if failure is not None:
                    break
                checked += 1
                if progress is not None and checked % page_size == 0:
                    progress(position, head_position)
        if failure is not None:
            return bad(*failure)
        if chained != self._entries_until(head_position):
            missing = self._first_entry_without_event(head_position)
            if missing is not None:
                return bad(missing, _missing(missing))
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(self.sql.first_unchained_after, (head_position,))
            stray = cursor.fetchone()
        if stray is not None:
            position = int(stray["position"])
            return bad(
                position,
                f"the event at position {position} is not in the ledger: it was recorded "
                "outside DigiOne",
            )
        for position, copies in sorted(signed.items()):
            # Checkpoints at positions the chain never reached: the log was cut short.
            checkpoint = copies[0]
            return bad(
                position,
                f"the checkpoint signed at {checkpoint.signed_at} covers position {position},"
                f" but the ledger has no entry there (its head is {head_position}): events "
                "were removed with their ledger entries",
            )
        if progress is not None:
            progress(head_position, head_position)
        return LedgerReport(
            ok=True,
            checked=checked,
            head_position=head_position,
            head_hash=head_hash.hex(),
            checkpoints=seen,
        )

    def _verify_rows(
        self, until: int, page_size: int
    ) -> Generator[tuple[int, bytes | None, bytes]]:
        """Each stored event up to `until` in store order: its position, its ledger entry's
        hash (None without one) and its canonical bytes; in one transaction, read in pages
        of `page_size` through a server-side cursor on PostgreSQL."""
        with self._datastore.transaction(commit=False) as cursor:
            if self.sql.postgres:
                from psycopg.rows import tuple_row

                with cursor.connection.cursor(
                    name="digione_ledger_verify", row_factory=tuple_row, binary=True
                ) as rows:
                    rows.execute(self.sql.verify_rows, (until,))
                    while page := rows.fetchmany(page_size):
                        yield from page
                return
            # eventsourcing's SQLite cursor wraps sqlite3's, which reads in pages.
            raw = cursor.sqlite_cursor
            raw.execute(self.sql.verify_rows, (until,))
            while page := raw.fetchmany(page_size):
                for row in page:
                    stored = StoredRow(
                        row[0], originator_text(row[2]), row[3], row[4], bytes(row[5])
                    )
                    yield row[0], None if row[1] is None else bytes(row[1]), canonical_bytes(stored)

    def _entries_until(self, position: int) -> int:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(self.sql.entries_until, (position,))
            return int(cursor.fetchone()["n"])

    def _first_entry_without_event(self, until: int) -> int | None:
        """The first ledger position up to `until` whose event is gone, None when none is."""
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(self.sql.first_entry_without_event, (until,))
            found = cursor.fetchone()
        return None if found is None else int(found["position"])

    def stored_rows(self, until: int, page_size: int = PAGE_SIZE) -> Iterator[StoredRow]:
        """The stored events up to position `until`, in store order, as the chain covers
        them (the benchmark hashes the same bytes bare)."""
        return self._events(until, page_size)

    def _events(self, until: int, page_size: int = PAGE_SIZE) -> Iterator[StoredRow]:
        after = 0
        while True:
            with self._datastore.transaction(commit=False) as cursor:
                cursor.execute(self.sql.events_page, (after, until, page_size))
                rows = cursor.fetchall()
            if not rows:
                return
            for row in rows:
                yield _stored_row(row)
            after = int(rows[-1]["position"])

    def _entries(
        self, after: int, until: int, page_size: int = PAGE_SIZE
    ) -> Iterator[tuple[int, bytes]]:
        while True:
            with self._datastore.transaction(commit=False) as cursor:
                cursor.execute(self.sql.entries_page, (after, until, page_size))
                rows: Sequence[Any] = cursor.fetchall()
            if not rows:
                return
            for row in rows:
                yield int(row["position"]), bytes(row["hash"])
            after = int(rows[-1]["position"])


def _missing(position: int) -> str:
    return (
        f"the event at position {position} is missing: it was deleted, or moved to another position"
    )


def _checkpoint_problem(
    checkpoint: Checkpoint, recomputed: bytes, public_key: bytes | None
) -> str | None:
    """What is wrong with a checkpoint at the chain's recomputed hash; None when it holds."""
    if public_key is not None and not signature_holds(checkpoint, public_key):
        return (
            f"the checkpoint at position {checkpoint.position} (signed at "
            f"{checkpoint.signed_at}) does not carry a valid signature of the tenant's ledger "
            "key: it was altered or forged"
        )
    if checkpoint.head_hash != recomputed.hex():
        return (
            f"the chain recomputed to position {checkpoint.position} differs from the "
            f"checkpoint signed at {checkpoint.signed_at}: events and ledger entries up to "
            "there were rewritten together"
        )
    return None


def _stored_row(row: Any) -> StoredRow:
    return StoredRow(
        row["position"],
        originator_text(row["originator_id"]),
        row["originator_version"],
        row["topic"],
        bytes(row["state"]),
    )
