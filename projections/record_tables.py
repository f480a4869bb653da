"""The record kit the read models share: record tables, their handlers, and erasure blanking.

The record kit (`record_table`, `insert_record`, `update_record` and the handlers built on
them) is how every read model keeps a sourced record, the roster read model's own tables
included. The blocks built on it, each owning a table (or two) named with its projection's
prefix and the handlers that keep it, are in projections/roster_rows.py (users,
demographics, courses, classes, sessions, enrollments) and projections/gradebook_rows.py
(line items, results, attainments); a projection composes the blocks it needs and adds its
own (STYLE.md habit 7).

Events of one aggregate arrive in order (one key, one partition), but events of different
aggregates may arrive in any order: an enrollment before its user, a result before its line
item, an attainment before the class. So no handler needs another aggregate's row to be
there. What joins aggregates is done at read time, or recomputed from rows keyed by the
event's own fields (which result of a student for a line item is current), so the read
model comes out the same whatever the interleaving, as a rebuild must (DESIGN.md
invariant 3).

Personal fields stay sealed (projections/sealed.py): users', demographics' and verbal
assessments' columns hold the sealed record as published; the API unseals at read time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.record import ACTIVE, TO_BE_DELETED
from projections import erasure
from projections.base import Handler, batch_state
from projections.batch_writes import (
    NEW,
    batch_aware,
    built_once,
    record_change,
    record_of,
    record_row,
    writes_held,
)
from streams.codec import EventEnvelope
from streams.event_types import MAJOR_VERSION, NAMESPACE

__all__ = [
    "SOURCED_ID",
    "RecordNotProjectedError",
    "ShreddedClasses",
    "blank_personal",
    "blank_sealed",
    "built_once",
    "copying_handler",
    "event_type",
    "fixed_handler",
    "insert_record",
    "insert_rows",
    "inserting_handler",
    "is_current",
    "list_column",
    "record_not_projected",
    "record_sourced_id",
    "record_table",
    "ref_column",
    "status_handlers",
    "update_record",
    "utc",
]

SOURCED_ID = 128


class RecordNotProjectedError(LookupError):
    """Raised when an event changes a record whose creating event the read model lacks."""


def event_type(family: str, aggregate: str, event: str) -> str:
    """An event's type name, e.g. event_type("assessment", "result", "corrected")."""
    return f"{NAMESPACE}.{family}.{aggregate}.{event}.{MAJOR_VERSION}"


def utc(value: datetime) -> datetime:
    """PostgreSQL gives aware datetimes, SQLite naive ones that were written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def is_current(begin: date | None, end: date | None, today: date) -> bool:
    """Whether a dated membership (OneRoster beginDate/endDate, both inclusive) holds today."""
    return (begin is None or begin <= today) and (end is None or today <= end)


def blank_sealed(
    c: Connection,
    table: sa.Table,
    column: str,
    shredded: set[str],
    *where: Any,
    modified_at: datetime | None = None,
) -> None:
    """Blanks the sealed values in `column` of the rows `where` selects whose retention
    class was shredded (projections/erasure.py): not even ciphertext of them stays. With
    `modified_at`, a blanked row's dateLastModified moves to it (never back): its readers
    see a change."""
    keys = list(table.primary_key.columns)
    moved: dict[str, Any] = {}
    if modified_at is not None:
        modified = table.c.date_last_modified
        moved["date_last_modified"] = sa.case((modified < modified_at, modified_at), else_=modified)
    for row in c.execute(sa.select(*keys, table.c[column]).where(*where)).all():
        sealed = row[-1]
        blanked = erasure.blank(sealed, shredded)
        if blanked != sealed:
            c.execute(
                table.update()
                .where(*(key == value for key, value in zip(keys, row[:-1], strict=True)))
                .values({column: blanked, **moved})
            )


def blank_personal(
    c: Connection, tables: Iterable[sa.Table], shredded: set[str], *, tenant: str, subject: str
) -> None:
    """Blanks the subject's own sealed `personal` record (as a user, their demographics) in
    each record table, where its retention class was shredded."""
    for table in tables:
        where = (table.c.tenant == tenant, table.c.sourced_id == subject)
        blank_sealed(c, table, "personal", shredded, *where)


class ShreddedClasses:
    """The retention classes shredded per subject, as the erasure events said.

    Events of other topics may be applied after the erasure event that shredded their
    subject's keys (nothing orders the privacy topic against the others, and a rebuild reads
    them as it pleases), so sealed values are checked on the way in as well: the read model
    comes out the same in any order, with no ciphertext of a shredded class in it.
    """

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = sa.Table(
            f"{prefix}_shredded_classes",
            metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("subject", sa.String(SOURCED_ID), primary_key=True),
            sa.Column("retention", sa.String(32), primary_key=True),
        )

    def add(self, c: Connection, tenant: str, subject: str, classes: set[str]) -> None:
        known = self._tenant(c, tenant).setdefault(subject, set())
        new = sorted(classes - known)
        if new:
            c.execute(
                self.table.insert(),
                [{"tenant": tenant, "subject": subject, "retention": r} for r in new],
            )
            known.update(new)

    def of(self, c: Connection, tenant: str, subject: str) -> set[str]:
        return set(self._tenant(c, tenant).get(subject, ()))

    def _tenant(self, c: Connection, tenant: str) -> dict[str, set[str]]:
        """The tenant's shredded classes by subject, read once per transaction (a batch's
        events ask for each of their subjects; `add` keeps it current). Erased subjects are
        few beside a tenant's events, so one query per batch replaces one per event."""
        tenants: dict[str, dict[str, set[str]]] = batch_state(
            c, f"digione.shredded_classes.{self.table.name}", dict
        )
        if tenant not in tenants:
            t = self.table
            select = built_once(
                t,
                "digione_shredded_of_tenant",
                lambda: sa.select(t.c.subject, t.c.retention).where(
                    t.c.tenant == sa.bindparam("tenant")
                ),
            )
            by_subject: dict[str, set[str]] = {}
            for subject, retention in c.execute(select, {"tenant": tenant}):
                by_subject.setdefault(str(subject), set()).add(str(retention))
            tenants[tenant] = by_subject
        return tenants[tenant]

    def stored(self, c: Connection, tenant: str, subject: str, sealed: Any) -> Any:
        """The sealed JSON value as the read model stores it: blanked if already shredded."""
        if sealed is None:
            return None
        return erasure.blank(sealed, self.of(c, tenant, subject))

    def update_sealed(self, c: Connection, table: sa.Table, e: EventEnvelope, sealed: Any) -> None:
        """Writes a corrected sealed value (`personal`) into the row of the event's record,
        as `stored` has it. Where no subject of the tenant is shredded the value is stored
        as it is: the change is held with the batch's others (`change_record`). Otherwise
        the update says whose row it changed, so the subject is not looked up first: one
        statement, and a second only for a subject already shredded (its blank written
        over the value in the same transaction)."""
        if not self._tenant(c, e.tenant):
            change_record(c, table, e, {"personal": sealed})
            return
        subject = update_record(c, table, e, {"personal": sealed})
        blanked = self.stored(c, e.tenant, subject, sealed)
        if blanked is not sealed:
            update_record(c, table, e, {"personal": blanked})


# -- sourced records ---------------------------------------------------------------------


def record_table(
    metadata: sa.MetaData, name: str, *columns: Any, last_modified: bool = False
) -> sa.Table:
    """A record named by (tenant, sourcedId), found by its aggregate id, with its status.

    With `last_modified` it is a OneRoster record as the roster read model keeps it, with
    `date_last_modified` (the time of the last event applied to it, which `insert_record`
    and `update_record` keep), laid out as that read model's tables have always been:
    another layout would want a rebuild.
    """
    tenant = sa.Column("tenant", sa.String(32), primary_key=True)
    sourced_id = sa.Column("sourced_id", sa.String(SOURCED_ID), primary_key=True)
    # Events after the first carry only the aggregate id, so rows are found by it too.
    aggregate_id = sa.Column("aggregate_id", sa.String(36), nullable=False)
    status = sa.Column("status", sa.String(16), nullable=False)
    head: list[sa.Column[Any]]
    if last_modified:
        modified = sa.Column("date_last_modified", sa.DateTime(timezone=True), nullable=False)
        head = [tenant, sourced_id, status, modified, aggregate_id]
        index = sa.Index(f"{name}_aggregate", "aggregate_id", unique=True)
    else:
        head = [tenant, sourced_id, aggregate_id, status]
        index = sa.Index(f"{name}_aggregate", "tenant", "aggregate_id", unique=True)
    return sa.Table(name, metadata, *head, *columns, index)


def ref_column(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    """A column naming another record by its sourcedId."""
    return sa.Column(name, sa.String(SOURCED_ID), nullable=nullable)


def list_column(name: str) -> sa.Column[Any]:
    """A column holding a JSON list (grades, subject codes, objectives …)."""
    return sa.Column(name, sa.JSON, nullable=False)


def _last_modified(table: sa.Table, e: EventEnvelope) -> dict[str, Any]:
    """dateLastModified for a record table that keeps it: the time of the event applied."""
    return {"date_last_modified": e.occurred_at} if "date_last_modified" in table.c else {}


def insert_record(c: Connection, table: sa.Table, e: EventEnvelope, **values: Any) -> None:
    """Inserts the active record the event creates (its payload names its sourcedId); held
    by the batch's writes when a batch holds them (projections/batch_writes.py)."""
    row = {
        "tenant": e.tenant,
        "sourced_id": e.payload["sourced_id"],
        "aggregate_id": str(e.aggregate_id),
        "status": ACTIVE,
        **_last_modified(table, e),
        **values,
    }
    writes = writes_held(c)
    if writes is not None:
        writes.create_record(table, row)
    else:
        c.execute(table.insert().values(row))


def insert_rows(c: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Inserts plain rows (not records: a user's roles, a class's terms); held by the
    batch's writes when a batch holds them."""
    if not rows:
        return
    writes = writes_held(c)
    if writes is not None:
        writes.insert(table, rows)
    else:
        c.execute(table.insert(), rows)


def update_record(
    c: Connection, table: sa.Table, e: EventEnvelope, values: Mapping[str, Any]
) -> str:
    """Changes the row of the event's aggregate (`values`: plain values by column, each
    bound as its column's type); returns its sourcedId. A record the batch created is
    changed where the batch holds it; a change the batch holds for the row is written
    with this one."""
    writes = writes_held(c)
    aggregate_id = str(e.aggregate_id)
    created = None if writes is None else writes.created_record(table, e.tenant, aggregate_id)
    if created is not None:
        created.update(_last_modified(table, e), **values)
        return str(created["sourced_id"])
    held = {} if writes is None else writes.take_change(table, e.tenant, aggregate_id)
    changes = {**held, **_last_modified(table, e), **values}
    statement = _record_update(table, tuple(changes))
    parameters = {f"{NEW}{name}": value for name, value in changes.items()}
    row = c.execute(statement, parameters | _record_of(e)).first()
    if row is None:
        raise record_not_projected(table, e)
    return str(row[0])


def change_record(
    c: Connection, table: sa.Table, e: EventEnvelope, values: Mapping[str, Any]
) -> None:
    """`update_record` for a caller that needs no sourcedId back: in a batch that holds
    writes the change is held as well (folded with the row's other held changes) and
    written with the batch's others, one statement per set of columns, at the flush, which
    fails the batch when the record has no row (one message at a time, the one changing
    it is parked, as update_record's failure parks it). A round trip for each event
    changing a record was the roster's largest cost under a steady load of corrections."""
    writes = writes_held(c)
    if writes is None:
        update_record(c, table, e, values)
        return
    aggregate_id = str(e.aggregate_id)
    created = writes.created_record(table, e.tenant, aggregate_id)
    if created is not None:
        created.update(_last_modified(table, e), **values)
        return
    writes.change_record(
        table,
        e.tenant,
        aggregate_id,
        {**_last_modified(table, e), **values},
        missing=lambda: record_not_projected(table, e),
    )


def _record_of(e: EventEnvelope) -> dict[str, str]:
    """The parameters of `record_row` for the event's aggregate."""
    return record_of(e.tenant, str(e.aggregate_id))


def _record_update(table: sa.Table, columns: tuple[str, ...]) -> sa.Update:
    """The UPDATE of `columns` of one record's row (by tenant and aggregate id), returning
    its sourcedId."""
    return built_once(
        table,
        ("digione_update", columns),
        lambda: record_change(table, columns).returning(table.c.sourced_id),
    )


def record_sourced_id(c: Connection, table: sa.Table, e: EventEnvelope) -> str | None:
    """The sourcedId of the row of the event's aggregate (the batch's held row first), or
    None when it has none."""
    writes = writes_held(c)
    created = (
        None if writes is None else writes.created_record(table, e.tenant, str(e.aggregate_id))
    )
    if created is not None:
        return str(created["sourced_id"])
    select = built_once(
        table,
        "digione_sourced_id",
        lambda: sa.select(table.c.sourced_id).where(*record_row(table)),
    )
    found = c.execute(select, _record_of(e)).scalar()
    return None if found is None else str(found)


def record_not_projected(table: sa.Table, e: EventEnvelope) -> RecordNotProjectedError:
    """The error for an event that changes a record `table` has no row of."""
    return RecordNotProjectedError(
        f"{e.event_type} at position {e.position} changes aggregate {e.aggregate_id}, "
        f"which has no row in {table.name}: the event that created it is missing or parked"
    )


def _payload_fields(fields: tuple[str, ...], renamed: Mapping[str, str]) -> dict[str, str]:
    """Column name → payload field: each of `fields` into the column of its own name, and
    `renamed` as given."""
    return {**{name: name for name in fields}, **renamed}


def inserting_handler(table: sa.Table, *fields: str, **renamed: str) -> Handler:
    """A handler inserting the record an event creates, with payload fields copied into
    columns: each of `fields` into the column of its name, `renamed` column → payload field."""
    columns = _payload_fields(fields, renamed)

    @batch_aware
    def handle(c: Connection, e: EventEnvelope) -> None:
        insert_record(
            c, table, e, **{column: e.payload[field] for column, field in columns.items()}
        )

    return handle


def copying_handler(table: sa.Table, *fields: str, **renamed: str) -> Handler:
    """A handler copying payload fields into the record's columns: each of `fields` into the
    column of its name, `renamed` column → payload field."""
    columns = _payload_fields(fields, renamed)

    @batch_aware
    def handle(c: Connection, e: EventEnvelope) -> None:
        update_record(c, table, e, {column: e.payload[field] for column, field in columns.items()})

    return handle


def fixed_handler(table: sa.Table, **values: Any) -> Handler:
    """A handler setting fixed values (status, enabled) whatever the payload."""

    @batch_aware
    def handle(c: Connection, e: EventEnvelope) -> None:
        update_record(c, table, e, values)

    return handle


def status_handlers(family: str, aggregate: str, table: sa.Table) -> dict[str, Handler]:
    """The handlers of the aggregate's marked_for_deletion and reactivated events."""
    # OneRoster never hard-deletes: a record marked for deletion stays, `tobedeleted`,
    # until its source system stops sending it.
    return {
        event_type(family, aggregate, "marked_for_deletion"): fixed_handler(
            table, status=TO_BE_DELETED
        ),
        event_type(family, aggregate, "reactivated"): fixed_handler(table, status=ACTIVE),
    }
