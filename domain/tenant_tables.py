"""Tables kept beside a tenant's events: wrapped keys, the erasure list, idempotency records,
the result of each student for each line item.

They live in the same database (SQLite file or PostgreSQL schema) as the tenant's event
store and use the event store's own connection pool, so a tenant is one unit of storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from domain.sealing import RetentionClass

#: The erasure-list entry that marks the tenant's own key-encryption key as destroyed.
TENANT_KEK_SUBJECT = "*tenant-kek*"


class _Cursor(Protocol):
    def execute(self, statement: Any, params: Any = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


class _Datastore(Protocol):
    def transaction(self, *, commit: bool) -> Any: ...


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
        self._kek = f"{prefix}digione_tenant_kek"
        self._keys = f"{prefix}digione_subject_keys"
        self._shredded = f"{prefix}digione_shredded_keys"
        self._idempotency = f"{prefix}digione_idempotency"
        self._result_slots = f"{prefix}digione_result_slots"

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
        with self._transaction(commit=False) as cursor:
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
        """Deletes key rows that are on the erasure list (left by a restored backup)."""
        on_list = (
            f" WHERE EXISTS (SELECT 1 FROM {self._shredded} s"
            f" WHERE s.subject = {self._keys}.subject AND s.retention = {self._keys}.retention)"
        )
        with self._transaction() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self._keys}{on_list}")
            row = cursor.fetchone()
            cursor.execute(f"DELETE FROM {self._keys}{on_list}")
        return int(_first_column(row))

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

    def store_subject_key(self, subject: UUID, retention: RetentionClass, wrapped: bytes) -> bytes:
        self._insert_ignore(
            self._keys,
            ("subject", "retention", "wrapped", "created_at"),
            (str(subject), retention.value, wrapped, _now()),
        )
        stored = self.load_subject_key(subject, retention)
        assert stored is not None
        return stored

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
        tables = (self._kek, self._keys, self._shredded, self._idempotency, self._result_slots)
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
        """Stores the answer unless a concurrent request stored one first; returns the kept one."""
        self._insert_ignore(
            self._idempotency,
            ("principal", "idempotency_key", "request_hash", "status", "body", "created_at"),
            (principal, key, answer.request_hash, answer.code, answer.body, _now()),
        )
        kept = self.find_answer(principal, key)
        assert kept is not None
        return kept

    # -- one result per student per line item -------------------------------------------

    def claim_result_slot(self, student: str, line_item: str, result: str) -> str:
        """Names `result` the student's result for the line item unless one is named already
        (by an earlier or a concurrent request); returns the sourcedId of the named one."""
        self._insert_ignore(
            self._result_slots,
            ("student", "line_item", "result", "created_at"),
            (student, line_item, result, _now()),
        )
        row = self._one(
            f"SELECT result FROM {self._result_slots}"
            f" WHERE student = {self._p} AND line_item = {self._p}",
            (student, line_item),
        )
        assert row is not None
        return str(row[0])

    # -- SQL helpers ---------------------------------------------------------------------

    @property
    def _p(self) -> str:
        return "%s" if self._postgres else "?"

    @contextmanager
    def _transaction(self, *, commit: bool = True) -> Iterator[_Cursor]:
        with self._datastore.transaction(commit=commit) as cursor:
            yield cursor

    def _one(self, statement: str, params: tuple[Any, ...]) -> Any:
        with self._transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            row = cursor.fetchone()
        if row is None:
            return None
        return tuple(row.values()) if isinstance(row, dict) else tuple(row)

    def _insert_ignore_sql(self, table: str, columns: tuple[str, ...]) -> str:
        marks = ", ".join([self._p] * len(columns))
        names = ", ".join(columns)
        if self._postgres:
            return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        return f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks})"

    def _insert_ignore(self, table: str, columns: tuple[str, ...], values: tuple[Any, ...]) -> None:
        with self._transaction() as cursor:
            cursor.execute(self._insert_ignore_sql(table, columns), values)


def _first_column(row: Any) -> Any:
    """The first column of a row, whether the driver gives rows as tuples or as dicts."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _now() -> str:
    return datetime.now(UTC).isoformat()
