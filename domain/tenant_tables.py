"""Tables kept beside a tenant's events: wrapped keys, the erasure list, idempotency records,
the result of each student for each line item.

They live in the same database (SQLite file or PostgreSQL schema) as the tenant's event
store and use the event store's own connection pool, so a tenant is one unit of storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    InternalError,
    OperationalError,
    StoredEvent,
)

from domain.ledger_checkpoints import Checkpoint
from domain.sealing import RetentionClass
from domain.store_statistics import due

#: The erasure-list entry that marks the tenant's own key-encryption key as destroyed.
TENANT_KEK_SUBJECT = "*tenant-kek*"


class _Cursor(Protocol):
    def execute(self, statement: Any, params: Any = ...) -> Any: ...
    def executemany(self, statement: Any, params: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


class _Datastore(Protocol):
    def transaction(self, *, commit: bool) -> Any: ...
    def get_connection(self) -> Any: ...


@dataclass(frozen=True)
class IdempotentAnswer:
    """The first answer given to a command sent with an idempotency key.

    `code` is the caller's own code for the kind of answer: stored and given back as it
    came, never read here (so a caller decides what it means).
    """

    request_hash: str
    code: int
    body: str


class TenantTables:
    """SQL for the side tables, written once for both SQLite and PostgreSQL."""

    def __init__(self, datastore: _Datastore, *, postgres_schema: str | None = None) -> None:
        self._datastore = datastore
        self._postgres = postgres_schema is not None
        prefix = f'"{postgres_schema}".' if postgres_schema else ""
        self._prefix = prefix
        self._kek = f"{prefix}digione_tenant_kek"
        self._keys = f"{prefix}digione_subject_keys"
        self._shredded = f"{prefix}digione_shredded_keys"
        self._idempotency = f"{prefix}digione_idempotency"
        self._result_slots = f"{prefix}digione_result_slots"
        self._migrations = f"{prefix}digione_migrations"
        self._client_secrets = f"{prefix}digione_client_secrets"
        self._blind_index = f"{prefix}digione_blind_index"
        self._checkpoints = f"{prefix}digione_ledger_checkpoints"
        self._record_sources = f"{prefix}digione_record_sources"

    def create_tables(self) -> None:
        blob = "BYTEA" if self._postgres else "BLOB"
        with self._transaction() as cursor:
            for statement in (
                (
                    f"CREATE TABLE IF NOT EXISTS {self._kek} ("
                    f" id INTEGER PRIMARY KEY CHECK (id = 1), wrapped {blob} NOT NULL,"
                    " created_at TEXT NOT NULL)"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._keys} ("
                    f" subject TEXT NOT NULL, retention TEXT NOT NULL, wrapped {blob} NOT NULL,"
                    " created_at TEXT NOT NULL, PRIMARY KEY (subject, retention))"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._shredded} ("
                    " subject TEXT NOT NULL, retention TEXT NOT NULL, shredded_at TEXT NOT NULL,"
                    " PRIMARY KEY (subject, retention))"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._idempotency} ("
                    " principal TEXT NOT NULL, idempotency_key TEXT NOT NULL,"
                    " request_hash TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,"
                    " created_at TEXT NOT NULL, PRIMARY KEY (principal, idempotency_key))"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._result_slots} ("
                    " student TEXT NOT NULL, line_item TEXT NOT NULL, result TEXT NOT NULL,"
                    " created_at TEXT NOT NULL, PRIMARY KEY (student, line_item))"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._migrations} ("
                    " name TEXT PRIMARY KEY, done_at TEXT NOT NULL)"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._blind_index} ("
                    " subject TEXT NOT NULL, field TEXT NOT NULL, digest TEXT NOT NULL,"
                    " PRIMARY KEY (subject, field))"
                ),
                (
                    # An index lives in its table's schema: its name is not qualified.
                    "CREATE INDEX IF NOT EXISTS digione_blind_index_lookup"
                    f" ON {self._blind_index} (field, digest)"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._checkpoints} ("
                    " position BIGINT PRIMARY KEY, head_hash TEXT NOT NULL,"
                    f" signed_at TEXT NOT NULL, key_id TEXT NOT NULL, signature {blob} NOT NULL,"
                    " published_at TEXT)"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._record_sources} ("
                    " collection TEXT NOT NULL, sourced_id TEXT NOT NULL, source TEXT NOT NULL,"
                    " active BOOLEAN NOT NULL, PRIMARY KEY (collection, sourced_id))"
                ),
                (
                    f"CREATE TABLE IF NOT EXISTS {self._client_secrets} ("
                    " client_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL,"
                    " created_at TEXT NOT NULL)"
                ),
            ):
                cursor.execute(statement)

    # -- KeyStore ------------------------------------------------------------------------

    def load_tenant_kek(self) -> bytes | None:
        row = self._one(f"SELECT wrapped FROM {self._kek} WHERE id = 1", ())
        return None if row is None else bytes(row[0])

    def store_tenant_kek(self, wrapped: bytes) -> bytes:
        self._insert_ignore(self._kek, ("id", "wrapped", "created_at"), (1, wrapped, _now()))
        stored = self.load_tenant_kek()
        assert stored is not None
        return stored

    def replace_tenant_kek(self, wrapped: bytes) -> None:
        """Stores the KEK wrapped anew (master-key rotation)."""
        with self._transaction() as cursor:
            cursor.execute(f"UPDATE {self._kek} SET wrapped = {self._p} WHERE id = 1", (wrapped,))

    def load_subject_key(self, subject: UUID, retention: RetentionClass) -> bytes | None:
        # The erasure list wins over any key row, so a restored backup of the key table
        # cannot resurrect an erased key.
        row = self._one(
            f"SELECT k.wrapped FROM {self._keys} k WHERE k.subject = {self._p}"
            f" AND k.retention = {self._p} AND NOT EXISTS (SELECT 1 FROM {self._shredded} s"
            " WHERE s.subject = k.subject AND s.retention = k.retention)",
            (str(subject), retention.value),
        )
        return None if row is None else bytes(row[0])

    def subject_retention_classes(self, subject: UUID) -> list[RetentionClass]:
        """The retention classes in which the subject has a live (unshredded) key."""
        with self._statement() as cursor:
            cursor.execute(
                f"SELECT k.retention FROM {self._keys} k WHERE k.subject = {self._p}"
                f" AND NOT EXISTS (SELECT 1 FROM {self._shredded} s"
                " WHERE s.subject = k.subject AND s.retention = k.retention)",
                (str(subject),),
            )
            rows = cursor.fetchall()
        values = [_first_column(r) for r in rows]
        return sorted((RetentionClass(v) for v in values), key=lambda r: r.value)

    def shred_subject_key(self, subject: UUID, retention: RetentionClass) -> None:
        """Destroys the key and puts it on the erasure list, in one transaction."""
        with self._transaction() as cursor:
            cursor.execute(
                f"DELETE FROM {self._keys} WHERE subject = {self._p} AND retention = {self._p}",
                (str(subject), retention.value),
            )
            cursor.execute(
                self._insert_ignore_sql(self._shredded, ("subject", "retention", "shredded_at")),
                (str(subject), retention.value, _now()),
            )

    def purge_shredded_keys(self) -> int:
        """Deletes key rows that are on the erasure list (left by a restored backup); how
        many. Every process runs it as it opens the tenant's store, often while another
        writes to it: the delete comes first, so that on SQLite the transaction waits for the
        write lock (its busy timeout) where a read first would fail at once ("database is
        locked") once the other's commit made its snapshot stale."""
        on_list = (
            f" WHERE EXISTS (SELECT 1 FROM {self._shredded} s"
            f" WHERE s.subject = {self._keys}.subject AND s.retention = {self._keys}.retention)"
        )
        with self._transaction() as cursor:
            cursor.execute(f"DELETE FROM {self._keys}{on_list}")
            return self._changed(cursor)

    def shred_tenant_kek(self) -> None:
        """Destroys the tenant KEK: every subject key of the tenant becomes unusable."""
        with self._transaction() as cursor:
            cursor.execute(f"DELETE FROM {self._kek}")
            cursor.execute(
                self._insert_ignore_sql(self._shredded, ("subject", "retention", "shredded_at")),
                (TENANT_KEK_SUBJECT, TENANT_KEK_SUBJECT, _now()),
            )

    def tenant_kek_was_shredded(self) -> bool:
        row = self._one(
            f"SELECT 1 FROM {self._shredded} WHERE subject = {self._p} AND retention = {self._p}",
            (TENANT_KEK_SUBJECT, TENANT_KEK_SUBJECT),
        )
        return row is not None

    def store_subject_key(
        self, subject: UUID, retention: RetentionClass, wrapped: bytes
    ) -> bytes | None:
        key = (str(subject), retention.value)
        if self._postgres:
            # One statement, one round trip: refused when the key is on the erasure list,
            # else inserted unless one exists; then the key that is stored.
            row = self._one(
                f"WITH erased AS (SELECT 1 FROM {self._shredded}"
                " WHERE subject = %s AND retention = %s),"
                f" added AS (INSERT INTO {self._keys} (subject, retention, wrapped, created_at)"
                " SELECT %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM erased)"
                " ON CONFLICT DO NOTHING RETURNING wrapped)"
                " SELECT EXISTS (SELECT 1 FROM erased) AS erased,"
                " (SELECT wrapped FROM added) AS added,"
                f" (SELECT wrapped FROM {self._keys} WHERE subject = %s AND retention = %s)"
                " AS kept",
                (*key, *key, wrapped, _now(), *key),
            )
            erased, added, kept = row
            if erased:
                return None
            if added is not None or kept is not None:
                return bytes(added if added is not None else kept)
            # Stored by another transaction after this statement's snapshot was taken.
            return self.load_subject_key(subject, retention)
        if self.subject_key_was_shredded(subject, retention):
            return None
        self._insert_ignore(
            self._keys, ("subject", "retention", "wrapped", "created_at"), (*key, wrapped, _now())
        )
        return self.load_subject_key(subject, retention)

    def load_subject_keys(
        self, subjects: list[UUID], retention: RetentionClass
    ) -> tuple[dict[UUID, bytes], set[UUID]]:
        """Many subjects' wrapped keys of `retention` at once (a bulk import's): the live
        keys by subject, and the subjects whose key is on the erasure list."""
        live: dict[UUID, bytes] = {}
        shredded: set[UUID] = set()
        for chunk, among in self._any_of([str(s) for s in subjects], "text"):
            keys = self._select(
                f"SELECT subject, wrapped FROM {self._keys}"
                f" WHERE retention = {self._p} AND subject {among}",
                (retention.value, *chunk),
            )
            erased = self._select(
                f"SELECT subject FROM {self._shredded}"
                f" WHERE retention = {self._p} AND subject {among}",
                (retention.value, *chunk),
            )
            for row in keys:
                subject, wrapped = tuple(row.values()) if isinstance(row, dict) else tuple(row)
                live[UUID(str(subject))] = bytes(wrapped)
            shredded.update(UUID(str(_first_column(row))) for row in erased)
        for subject in shredded:
            live.pop(subject, None)
        return live, shredded

    def store_subject_keys(self, retention: RetentionClass, wrapped: dict[UUID, bytes]) -> None:
        """Stores many new wrapped keys of `retention` in one transaction (each unless one
        exists: read them back with `load_subject_keys`)."""
        insert = self._insert_ignore_sql(
            self._keys, ("subject", "retention", "wrapped", "created_at")
        )
        now = _now()
        with self._transaction() as cursor:
            cursor.executemany(
                insert, [(str(s), retention.value, w, now) for s, w in wrapped.items()]
            )

    def subject_key_was_shredded(self, subject: UUID, retention: RetentionClass) -> bool:
        row = self._one(
            f"SELECT 1 FROM {self._shredded} WHERE subject = {self._p} AND retention = {self._p}",
            (str(subject), retention.value),
        )
        return row is not None

    def count_subject_keys(self) -> int:
        row = self._one(f"SELECT COUNT(*) FROM {self._keys}", ())
        return int(row[0])

    def row_counts(self) -> dict[str, int]:
        """How many rows each side table holds, by table: what a check that a refused
        command wrote nothing compares before and after."""
        tables = (
            self._kek,
            self._keys,
            self._shredded,
            self._idempotency,
            self._result_slots,
            self._record_sources,
        )
        counts = ", ".join(f"(SELECT COUNT(*) FROM {t}) AS n{i}" for i, t in enumerate(tables))
        row = self._one(f"SELECT {counts}", ())
        return {t: int(n) for t, n in zip(tables, row, strict=True)}

    # -- idempotency ---------------------------------------------------------------------

    # The `status` column holds IdempotentAnswer.code; stored rows keep their name and values.

    def find_answer(self, principal: str, key: str) -> IdempotentAnswer | None:
        row = self._one(
            f"SELECT request_hash, status, body FROM {self._idempotency}"
            f" WHERE principal = {self._p} AND idempotency_key = {self._p}",
            (principal, key),
        )
        if row is None:
            return None
        return IdempotentAnswer(request_hash=str(row[0]), code=int(row[1]), body=str(row[2]))

    def remember_answer(
        self, principal: str, key: str, answer: IdempotentAnswer
    ) -> IdempotentAnswer:
        """Stores the answer of a command that recorded nothing (its own transaction is
        enough then) unless one is stored already; returns the kept one."""
        self._insert_ignore(
            self._idempotency,
            ("principal", "idempotency_key", "request_hash", "status", "body", "created_at"),
            (principal, key, answer.request_hash, answer.code, answer.body, _now()),
        )
        kept = self.find_answer(principal, key)
        assert kept is not None
        return kept

    def answer_write(
        self, principal: str, key: str, answer_at: Callable[[int], IdempotentAnswer]
    ) -> Callable[[Any, int], None]:
        """The write that stores a keyed command's answer with its events (see
        `domain.recorders`): `answer_at(position)` renders it once the position is known.

        A plain INSERT: when the key is answered already (a retry that raced past the
        lookup, another server process), the whole transaction fails and records nothing.
        """
        statement = self._insert_sql(
            self._idempotency,
            ("principal", "idempotency_key", "request_hash", "status", "body", "created_at"),
        )

        def write(cursor: Any, position: int) -> None:
            answer = answer_at(position)
            cursor.execute(
                statement, (principal, key, answer.request_hash, answer.code, answer.body, _now())
            )

        return write

    def count_answers(self) -> int:
        return int(self._one(f"SELECT COUNT(*) FROM {self._idempotency}", ())[0])

    # -- one result per student per line item -------------------------------------------

    def result_in_slot(self, student: str, line_item: str) -> str | None:
        """The sourcedId of the student's result for the line item, if one is recorded."""
        row = self._one(
            f"SELECT result FROM {self._result_slots}"
            f" WHERE student = {self._p} AND line_item = {self._p}",
            (student, line_item),
        )
        return None if row is None else str(row[0])

    def result_slot_write(
        self, student: str, line_item: str, result: str
    ) -> Callable[[Any, int], None]:
        """The write that claims the slot with the result's events (see `domain.recorders`):
        a slot claimed already (a concurrent second result) fails the whole transaction."""
        statement = self._insert_sql(
            self._result_slots, ("student", "line_item", "result", "created_at")
        )

        def write(cursor: Any, _position: int) -> None:
            cursor.execute(statement, (student, line_item, result, _now()))

        return write

    def result_slots(self) -> dict[tuple[str, str], str]:
        with self._statement() as cursor:
            cursor.execute(f"SELECT student, line_item, result FROM {self._result_slots}")
            rows = cursor.fetchall()
        pairs = [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]
        return {(str(s), str(li)): str(r) for s, li, r in pairs}

    def migration_done(self, migration: str) -> bool:
        row = self._one(f"SELECT 1 FROM {self._migrations} WHERE name = {self._p}", (migration,))
        return row is not None

    def fill_result_slots(
        self,
        migration: str,
        recorded: Iterable[tuple[str, str, str]],
        *,
        stale: Iterable[tuple[str, str, str]] = (),
    ) -> int:
        """Runs the migration `migration` once: removes the `stale` slots (claims whose
        result was never recorded), then names each `recorded` (student, line item, result)
        the slot's result unless one is named (the first recorded wins). Returns how many
        slots it filled; 0 when the migration had run. As `run_once` runs it: its mark is
        written first, so a second process waits for the first, then finds it marked (on
        SQLite a read first would fail at once once the first's commit landed)."""
        filled = 0

        def fill(cursor: _Cursor) -> None:
            nonlocal filled
            for student, line_item, result in stale:
                cursor.execute(
                    f"DELETE FROM {self._result_slots} WHERE student = {self._p}"
                    f" AND line_item = {self._p} AND result = {self._p}",
                    (student, line_item, result),
                )
            insert = self._insert_ignore_sql(
                self._result_slots, ("student", "line_item", "result", "created_at")
            )
            count = f"SELECT COUNT(*) FROM {self._result_slots}"
            cursor.execute(count)
            before = int(_first_column(cursor.fetchone()))
            for student, line_item, result in recorded:
                cursor.execute(insert, (student, line_item, result, _now()))
            cursor.execute(count)
            filled = int(_first_column(cursor.fetchone())) - before

        self.run_once(migration, fill)
        return filled

    def run_once(self, migration: str, step: Callable[[Any], object]) -> bool:
        """Runs the migration `migration` once: `step(cursor)` in the transaction that marks
        it done (the mark is written first, so a second process waits for the first, then
        finds it marked and skips). True when it ran now."""
        with self._transaction() as cursor:
            cursor.execute(
                self._insert_ignore_sql(self._migrations, ("name", "done_at")), (migration, _now())
            )
            if self._changed(cursor) != 1:
                return False
            step(cursor)
        return True

    # -- blind indexes of sealed fields (domain/blind_index.py) ----------------------------

    def replace_blind_index(self, subject: str, digests: dict[str, str]) -> None:
        """Keeps a user's digests (by sourcedId), replacing those kept before."""
        self.run_write(self.blind_index_write(subject, digests))

    def blind_index_write(
        self, subject: str, digests: dict[str, str]
    ) -> Callable[[Any, int], None]:
        """The write that replaces a user's digests, to run with the user's events."""
        return self.blind_index_writes({subject: digests})

    def blind_index_writes(
        self, digests: Mapping[str, dict[str, str]]
    ) -> Callable[[Any, int], None]:
        """The write that replaces many users' digests (subject → digests) with a statement
        for all their deletions and one for all their rows (a bulk import's batch)."""
        subjects = sorted(digests)
        rows = [
            (subject, field, digest)
            for subject in subjects
            for field, digest in sorted(digests[subject].items())
        ]

        def write(cursor: Any, _position: int) -> None:
            cursor.executemany(
                f"DELETE FROM {self._blind_index} WHERE subject = {self._p}",
                [(subject,) for subject in subjects],
            )
            if rows:
                cursor.executemany(
                    f"INSERT INTO {self._blind_index} (subject, field, digest)"
                    f" VALUES ({self._p}, {self._p}, {self._p})",
                    rows,
                )

        return write

    def run_write(self, write: Callable[[Any, int], None]) -> None:
        """Runs a side write in a transaction of its own (no events to go with it)."""
        with self._transaction() as cursor:
            write(cursor, 0)

    def events_after(self, events_table: str, versions: Mapping[UUID, int]) -> list[StoredEvent]:
        """The stored events of many aggregates after the version given for each (0: all),
        each aggregate's in version order: a bulk import reads the records of a batch, or
        brings its copies up to date, with one query instead of one per record."""
        table = f"{self._prefix}{events_table}"
        items = sorted(versions.items())
        found: list[StoredEvent] = []
        reads: list[tuple[str, tuple[Any, ...]]] = []
        if self._postgres and items:
            # The ids and the versions as two arrays: one short statement for any batch.
            ids_and_versions = ([i for i, _ in items], [v for _, v in items])
            reads.append(("SELECT * FROM unnest(%s::uuid[], %s::integer[])", ids_and_versions))
        elif not self._postgres:
            for start in range(0, len(items), 400):
                chunk = items[start : start + 400]
                pairs = tuple(value for i, v in chunk for value in (i.hex, v))
                reads.append((f"VALUES {', '.join(['(?, ?)'] * len(chunk))}", pairs))
        for known, params in reads:
            rows = self._select(
                f"WITH known(id, version) AS ({known})"
                " SELECT e.originator_id, e.originator_version, e.topic, e.state"
                f" FROM {table} e JOIN known"
                " ON e.originator_id = known.id AND e.originator_version > known.version"
                " ORDER BY e.originator_id, e.originator_version",
                params,
            )
            for row in rows:
                originator, version, topic, state = (
                    tuple(row.values()) if isinstance(row, dict) else tuple(row)
                )
                found.append(
                    StoredEvent(UUID(str(originator)), int(version), str(topic), bytes(state))
                )
        return found

    def analyse_due(self, events_table: str) -> list[str]:
        """ANALYZE of the store's tables due for it (domain/store_statistics.py `due`): the
        events, the subject keys, the blind index and the record sources, the tables a bulk
        import reads many rows of at once; returns the names analysed. Nothing on SQLite,
        which plans without statistics."""
        if not self._postgres:
            return []
        tables = [f"{self._prefix}{events_table}", self._keys, self._blind_index]
        tables.append(self._record_sources)
        rows = self._select(
            "SELECT t.name, s.n_mod_since_analyze, c.reltuples"
            " FROM unnest(%s::text[]) AS t(name)"
            " JOIN pg_class AS c ON c.oid = to_regclass(t.name)"
            " JOIN pg_stat_user_tables AS s ON s.relid = c.oid",
            (tables,),
        )
        analysed = []
        with self._statement() as cursor:
            for row in rows:
                name, changed, counted = tuple(row.values()) if isinstance(row, dict) else row
                if due(int(changed), float(counted)):
                    cursor.execute(f"ANALYZE {name}")
                    analysed.append(str(name))
        return analysed

    # -- which source system put each roster record (bulk imports' deletions) -------------

    def record_sources_write(
        self, source: str, records: Iterable[tuple[str, str, bool]]
    ) -> Callable[[Any, int], None]:
        """The write that notes `source` as the system that last put each (collection,
        sourcedId, active) record, to run with the records' events."""
        rows = [(collection, sid, source, active) for collection, sid, active in records]
        upsert = (
            f"INSERT INTO {self._record_sources} (collection, sourced_id, source, active)"
            f" VALUES ({self._p}, {self._p}, {self._p}, {self._p})"
            " ON CONFLICT (collection, sourced_id) DO UPDATE"
            " SET source = excluded.source, active = excluded.active"
        )

        def write(cursor: Any, _position: int) -> None:
            if rows:
                cursor.executemany(upsert, rows)

        return write

    def records_of_source(self, source: str, collection: str) -> dict[str, bool]:
        """The sourcedIds of `collection` that `source` put last, each with whether it was
        active when it did."""
        with self._statement() as cursor:
            cursor.execute(
                f"SELECT sourced_id, active FROM {self._record_sources}"
                f" WHERE source = {self._p} AND collection = {self._p}",
                (source, collection),
            )
            rows = cursor.fetchall()
        pairs = [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]
        return {str(sid): bool(active) for sid, active in pairs}

    def delete_blind_index(self, subject: str) -> None:
        """Forgets a user's digests (an erasure of their details)."""
        with self._transaction() as cursor:
            cursor.execute(f"DELETE FROM {self._blind_index} WHERE subject = {self._p}", (subject,))

    def subjects_with_digest(self, field: str, digest: str) -> list[str]:
        """The sourcedIds of the users whose `field` has this digest."""
        with self._statement() as cursor:
            cursor.execute(
                f"SELECT subject FROM {self._blind_index}"
                f" WHERE field = {self._p} AND digest = {self._p} ORDER BY subject",
                (field, digest),
            )
            rows = cursor.fetchall()
        return [str(_first_column(row)) for row in rows]

    # -- signed checkpoints of the ledger (domain/ledger_checkpoints.py) ------------------

    def store_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keeps a checkpoint (the first one at a position stays)."""
        self._insert_ignore(
            self._checkpoints,
            ("position", "head_hash", "signed_at", "key_id", "signature"),
            (
                checkpoint.position,
                checkpoint.head_hash,
                checkpoint.signed_at,
                checkpoint.key_id,
                checkpoint.signature,
            ),
        )

    def checkpoints(self, tenant: str, *, unpublished: bool = False) -> list[Checkpoint]:
        """The tenant's checkpoints in position order (only those not yet published)."""
        where = " WHERE published_at IS NULL" if unpublished else ""
        with self._statement() as cursor:
            cursor.execute(
                "SELECT position, head_hash, signed_at, key_id, signature"
                f" FROM {self._checkpoints}{where} ORDER BY position"
            )
            rows = cursor.fetchall()
        found = []
        for row in rows:
            position, head_hash, signed_at, key, signature = (
                tuple(row.values()) if isinstance(row, dict) else tuple(row)
            )
            found.append(
                Checkpoint(
                    tenant,
                    int(position),
                    str(head_hash),
                    str(signed_at),
                    str(key),
                    bytes(signature),
                )
            )
        return found

    def mark_checkpoints_published(self, positions: Iterable[int]) -> None:
        with self._transaction() as cursor:
            for position in positions:
                cursor.execute(
                    f"UPDATE {self._checkpoints} SET published_at = {self._p}"
                    f" WHERE position = {self._p}",
                    (_now(), position),
                )

    def last_checkpoint_position(self) -> int:
        row = self._one(f"SELECT MAX(position) FROM {self._checkpoints}", ())
        return 0 if row is None or row[0] is None else int(row[0])

    # -- OAuth client secrets (hashed; domain/agreement_commands.py) ---------------------

    def store_client_secret(self, client_id: str, secret_hash: str) -> bool:
        """Keeps the hash of a new client's secret; False when the client id has one already."""
        if self.client_secret_hash(client_id) is not None:
            return False
        self._insert_ignore(
            self._client_secrets,
            ("client_id", "secret_hash", "created_at"),
            (client_id, secret_hash, _now()),
        )
        return self.client_secret_hash(client_id) == secret_hash

    def client_ids(self) -> list[str]:
        """Every OAuth client id of the tenant that was ever given a secret, in order."""
        with self._statement() as cursor:
            cursor.execute(f"SELECT client_id FROM {self._client_secrets} ORDER BY client_id", ())
            return [str(_first_column(row)) for row in cursor.fetchall()]

    def client_secret_hash(self, client_id: str) -> str | None:
        row = self._one(
            f"SELECT secret_hash FROM {self._client_secrets} WHERE client_id = {self._p}",
            (client_id,),
        )
        return None if row is None else str(row[0])

    # -- SQL helpers ---------------------------------------------------------------------

    @property
    def _p(self) -> str:
        return "%s" if self._postgres else "?"

    def _changed(self, cursor: _Cursor) -> int:
        """How many rows the cursor's last statement wrote (eventsourcing's SQLite cursor
        has no rowcount: SQLite's changes())."""
        if self._postgres:
            return int(getattr(cursor, "rowcount", 0))
        cursor.execute("SELECT changes()")
        return int(_first_column(cursor.fetchone()))

    @contextmanager
    def _transaction(self, *, commit: bool = True) -> Iterator[_Cursor]:
        with self._datastore.transaction(commit=commit) as cursor:
            yield cursor

    @contextmanager
    def _statement(self, *, commit: bool = False) -> Iterator[_Cursor]:
        """A cursor for one statement. PostgreSQL's pooled connections are in autocommit,
        where one statement is a transaction of its own: one round trip, where BEGIN, the
        statement and COMMIT (or ROLLBACK) are three. SQLite's is a transaction."""
        if not self._postgres:
            with self._transaction(commit=commit) as cursor:
                yield cursor
            return
        with self._datastore.get_connection() as connection, connection.cursor() as cursor:
            yield cursor

    def _any_of(self, values: list[Any], sql_type: str) -> Iterator[tuple[list[Any], str]]:
        """`values` as the parameters of a membership test, with the test's SQL: on
        PostgreSQL one array (`= ANY(%s::type[])`, one short statement for any number),
        on SQLite chunks of 500 markers (`IN (?, …)`)."""
        if self._postgres:
            if values:
                yield [values], f"= ANY(%s::{sql_type}[])"
            return
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            yield chunk, f"IN ({', '.join([self._p] * len(chunk))})"

    def _select(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        """The rows of a read, tried once more on a fresh connection when the server ended
        the one it had (a bulk import's reads on a machine so busy that PostgreSQL's
        idle-in-transaction timeout ended a pooled connection; a restart)."""
        try:
            return self._select_once(statement, params)
        except (InterfaceError, InternalError, OperationalError):
            return self._select_once(statement, params)

    def _select_once(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        with self._statement() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())

    def _one(self, statement: str, params: tuple[Any, ...]) -> Any:
        with self._statement() as cursor:
            cursor.execute(statement, params)
            row = cursor.fetchone()
        if row is None:
            return None
        return tuple(row.values()) if isinstance(row, dict) else tuple(row)

    def _insert_sql(self, table: str, columns: tuple[str, ...]) -> str:
        marks = ", ".join([self._p] * len(columns))
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    def _insert_ignore_sql(self, table: str, columns: tuple[str, ...]) -> str:
        marks = ", ".join([self._p] * len(columns))
        names = ", ".join(columns)
        if self._postgres:
            return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        return f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})"

    def _insert_ignore(self, table: str, columns: tuple[str, ...], values: tuple[Any, ...]) -> None:
        with self._statement(commit=True) as cursor:
            cursor.execute(self._insert_ignore_sql(table, columns), values)


def _first_column(row: Any) -> Any:
    """The first column of a row, whether the driver gives rows as tuples or as dicts."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _now() -> str:
    return datetime.now(UTC).isoformat()
