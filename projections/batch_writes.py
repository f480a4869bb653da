"""A batch's writes, held and folded per row, then flushed per table in multi-row statements.

The runner applies a batch of messages in one transaction (projections/runner.py). Handlers
that only create and change records through the record kit (projections/record_tables.py:
`insert_record`, `update_record`, the handlers built on them, `insert_rows`) are marked
`batch_aware`: while one of them runs, the batch's `BatchWrites` holds what it writes. A
record created in the batch is a row in memory that later events of the batch change in
place (a user registered, corrected and disabled in one batch is one INSERT), and rows of
a table are inserted together (one statement of many VALUES) when the batch is flushed.
A change of a record the batch did not create, where its handler needs nothing back from
the row (`change_record`: a corrected sealed value of a tenant with no subject shredded),
is held too, folded per row, and written by one statement per table and set of columns at
the flush; a kit change of the same row meanwhile (`update_record`) takes it back and
writes it with its own.

A batch-aware handler may read tables whose writes are never held (the shredded classes,
which only erasure handlers write) and the records it looks up through the kit
(`record_sourced_id`), which serves the batch's held rows first. Any other handler may read
or write the tables as it pleases, so the writes held are flushed before it runs, and before
the projection's `finish_batch`: SQL other than the kit's always sees what the events before
it wrote. Work on held rows that later events of the batch would redo (which result of a
(student, line item) is current) is noted with `after_flush` and done once, at the flush,
for every item noted (every pair) together. So a batch comes out exactly as its messages
applied one at a time would. A write that one-at-a-time apply would have refused (a record
created twice, its primary key taken, a change of a record with no row) fails the batch, at
the latest when it is flushed; the runner then applies the batch one message at a time and
parks the failing one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import sql as psql
from psycopg.types.json import Json
from sqlalchemy.engine import Connection

__all__ = [
    "BatchWrites",
    "RecordCreatedTwiceError",
    "batch_aware",
    "built_once",
    "is_batch_aware",
    "record_change",
    "record_of",
    "record_row",
    "writes_held",
]

_MARK = "__digione_batch_aware__"

F = TypeVar("F", bound=Callable[..., Any])


class RecordCreatedTwiceError(RuntimeError):
    """Raised when a batch creates a record its batch already created."""


def batch_aware(handler: F) -> F:
    """Marks a handler (or method) that writes only through the record kit, so its writes
    may be held by the batch's BatchWrites."""
    setattr(handler, _MARK, True)
    return handler


def is_batch_aware(handler: Callable[..., Any]) -> bool:
    return bool(getattr(handler, _MARK, False))


#: Work noted for the flush: (the batch's connection, the items noted for it).
AfterFlush = Callable[[Connection, list[Any]], None]


class BatchWrites:
    """What the batch-aware handlers of one transaction wrote and the database has not seen."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        #: Per record table, the records created in the batch by (tenant, aggregate id).
        self._records: dict[sa.Table, dict[tuple[str, str], dict[str, Any]]] = {}
        #: Per record table, changes of records the batch did not create, by (tenant,
        #: aggregate id), each row's folded into one (`change_record`).
        self._changes: dict[sa.Table, dict[tuple[str, str], _HeldChange]] = {}
        #: Per table, plain rows to insert (a user's roles, a class's terms).
        self._rows: dict[sa.Table, list[dict[str, Any]]] = {}
        #: Work on the held rows, by what it is for, with the items it is for: done once at
        #: the flush, after the rows are written (which result of each (student, line
        #: item) is current).
        self._after: dict[Hashable, tuple[AfterFlush, dict[Hashable, None]]] = {}

    def create_record(self, table: sa.Table, row: dict[str, Any]) -> None:
        records = self._records.setdefault(table, {})
        key = (str(row["tenant"]), str(row["aggregate_id"]))
        if key in records:
            raise RecordCreatedTwiceError(
                f"aggregate {key[1]} already has a row in {table.name}, created in this batch"
            )
        records[key] = row

    def created_record(
        self, table: sa.Table, tenant: str, aggregate_id: str
    ) -> dict[str, Any] | None:
        """The record of the aggregate created in this batch (changes go into it), if any."""
        records = self._records.get(table)
        return None if records is None else records.get((tenant, aggregate_id))

    def change_record(
        self,
        table: sa.Table,
        tenant: str,
        aggregate_id: str,
        values: Mapping[str, Any],
        *,
        missing: Callable[[], Exception],
    ) -> None:
        """Holds a change of the columns `values` of a record the batch did not create,
        folded into the row's change held already; written at the flush, where `missing()`
        is raised when the record has no row."""
        changes = self._changes.setdefault(table, {})
        held = changes.get((tenant, aggregate_id))
        if held is None:
            changes[(tenant, aggregate_id)] = _HeldChange(dict(values), missing)
        else:
            held.values.update(values)

    def take_change(self, table: sa.Table, tenant: str, aggregate_id: str) -> dict[str, Any]:
        """The change held for the record's row, no longer held (its caller writes it)."""
        held = self._changes.get(table, {}).pop((tenant, aggregate_id), None)
        return {} if held is None else held.values

    def insert(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        self._rows.setdefault(table, []).extend(rows)

    def after_flush(self, key: Hashable, item: Hashable, action: AfterFlush) -> None:
        """Has `action(connection, items)` done at the next flush, after the held rows are
        written, once for every `item` noted under `key` in the batch (each item once, in
        the order first noted; the action of the first note is the one done).

        For work that depends only on rows the batch's kit writes (and that only the
        handlers noting it change): done once at the flush, it leaves what doing it for
        each item after each of those handlers would, since nothing reads those rows in
        between."""
        noted = self._after.get(key)
        if noted is None:
            noted = self._after[key] = (action, {})
        noted[1][item] = None

    def flush(self) -> None:
        """Inserts what is held, one multi-row statement per table and set of columns,
        changes the records held changes are of (one statement per table and set of
        columns), then does the work noted for after it."""
        held = [*((t, list(r.values())) for t, r in self._records.items()), *self._rows.items()]
        changes = self._changes
        after = list(self._after.values())
        self._records = {}
        self._changes = {}
        self._rows = {}
        self._after = {}
        copying = self.connection.dialect.name == "postgresql"
        for table, rows in held:
            for columns, same in _by_columns(rows).items():
                if copying and _copyable(table):
                    _copy(self.connection, table, columns, same)
                else:
                    # SQLAlchemy sends an executemany insert as INSERT … VALUES (…), (…), …
                    self.connection.execute(table.insert(), same)
        for table, by_record in changes.items():
            _change(self.connection, table, by_record)
        for action, items in after:
            action(self.connection, list(items))

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Holds the writes of the record kit on this connection while the block runs."""
        token = _held.set(self)
        try:
            yield
        finally:
            _held.reset(token)


@dataclass
class _HeldChange:
    values: dict[str, Any]
    #: The error of a change whose record has no row (the first event's that changed it).
    missing: Callable[[], Exception]


def _change(
    connection: Connection, table: sa.Table, by_record: Mapping[tuple[str, str], _HeldChange]
) -> None:
    """Writes the held changes of `table`'s records: one executemany per set of columns
    (psycopg pipelines it: one round trip); raises a change's `missing()` when fewer rows
    were changed than changes held."""
    grouped: dict[tuple[str, ...], list[tuple[tuple[str, str], _HeldChange]]] = {}
    for key, held in by_record.items():
        grouped.setdefault(tuple(held.values), []).append((key, held))
    for columns, same in grouped.items():
        parameters = [
            {**{f"{NEW}{name}": value for name, value in held.values.items()},
             **record_of(tenant, aggregate_id)}
            for (tenant, aggregate_id), held in same
        ]  # fmt: skip
        changed = connection.execute(record_change(table, columns), parameters).rowcount
        if changed != len(same):
            raise same[0][1].missing()


#: The prefix of a change's new values among its parameters (a bound parameter may not
#: take a column's own name in the SET clause).
NEW = "new_"


def record_row(table: sa.Table) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions naming one record's row, by bound parameters (`record_of`): a record
    table's rows are found by tenant and aggregate id (projections/record_tables.py)."""
    return (
        table.c.tenant == sa.bindparam("record_tenant"),
        table.c.aggregate_id == sa.bindparam("record_aggregate_id"),
    )


def record_of(tenant: str, aggregate_id: str) -> dict[str, str]:
    """The parameters of `record_row` for a record."""
    return {"record_tenant": tenant, "record_aggregate_id": aggregate_id}


def record_change(table: sa.Table, columns: tuple[str, ...]) -> sa.Update:
    """The UPDATE of `columns` of one record's row (new values bound as `NEW` + column),
    built once per table and set of columns."""
    return built_once(
        table,
        ("digione_change", columns),
        lambda: (
            table.update()
            .where(*record_row(table))
            .values(
                {name: sa.bindparam(f"{NEW}{name}", type_=table.c[name].type) for name in columns}
            )
        ),
    )


StatementT = TypeVar("StatementT", bound=sa.Executable)


def built_once(table: sa.Table, name: Hashable, build: Callable[[], StatementT]) -> StatementT:
    """The statement `name` of `table`, built at its first use and kept in the table's
    `info` (so it lives as long as the table, per read model): for statements run per
    event, per batch or per read. One built again each time cost about 100 µs of CPU more
    than its execution (its construction, its cache key and the look-up of its compiled
    form); bound parameters carry the values."""
    kept: StatementT | None = table.info.get(name)
    if kept is None:
        kept = table.info[name] = build()
    return kept


_held: ContextVar[BatchWrites | None] = ContextVar("digione_batch_writes", default=None)


def writes_held(connection: Connection) -> BatchWrites | None:
    """The BatchWrites holding the record kit's writes on `connection`, if one does."""
    writes = _held.get()
    return writes if writes is not None and writes.connection is connection else None


#: Column types whose Python values PostgreSQL's COPY takes as an INSERT would (JSON aside).
_COPYABLE_TYPES = (sa.String, sa.Boolean, sa.Date, sa.DateTime, sa.Integer, sa.JSON)


@cache
def _copyable(table: sa.Table) -> bool:
    return all(
        isinstance(column.type, _COPYABLE_TYPES)
        and not isinstance(column.type, sa.Enum | sa.TypeDecorator)
        for column in table.columns
    )


def _copy(
    connection: Connection, table: sa.Table, columns: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Inserts rows with COPY … FROM STDIN, in the connection's transaction: PostgreSQL's
    fastest way in. JSON values go as SQLAlchemy's JSON type writes them (None as JSON null)."""
    json = [isinstance(table.c[name].type, sa.JSON) for name in columns]
    statement = psql.SQL("COPY {} ({}) FROM STDIN").format(
        psql.Identifier(*filter(None, (table.schema, table.name))),
        psql.SQL(", ").join(map(psql.Identifier, columns)),
    )
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    Json(row[name]) if is_json else row[name]
                    for name, is_json in zip(columns, json, strict=True)
                ]
            )


def _by_columns(rows: list[dict[str, Any]]) -> Mapping[tuple[str, ...], list[dict[str, Any]]]:
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(tuple(row), []).append(row)
    return grouped
