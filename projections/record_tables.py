"""Tables and handlers the read models share: the record kit, roster records, line items, results.

The record kit (`record_table`, `insert_record`, `update_record` and the handlers built on
them) is how every read model keeps a sourced record, the roster read model's own tables
included. Each block owns a table (or two) named with its projection's prefix and the
handlers that keep it; a projection composes the blocks it needs and adds its own (STYLE.md
habit 7). The module is longer than STYLE's ~500 lines because the kit and every block
built on it are one set the learning read models compose; the gradebook blocks (line items,
results, attainments) are the part that could stand in a module of their own.

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

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.record import ACTIVE, TO_BE_DELETED
from projections import erasure
from projections.base import Handler
from projections.sealed import sealed_record
from streams.codec import EventEnvelope
from streams.event_types import MAJOR_VERSION, NAMESPACE

__all__ = [
    "SOURCED_ID",
    "AttainmentRows",
    "ClassRows",
    "CourseRows",
    "DemographicsRows",
    "EnrollmentRows",
    "LineItemRows",
    "RecordNotProjectedError",
    "ResultRows",
    "SessionRows",
    "ShreddedClasses",
    "UserRows",
    "blank_personal",
    "blank_sealed",
    "copying_handler",
    "event_type",
    "fixed_handler",
    "insert_record",
    "inserting_handler",
    "is_current",
    "list_column",
    "record_not_projected",
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
    c: Connection, table: sa.Table, column: str, shredded: set[str], *where: Any
) -> None:
    """Blanks the sealed values in `column` of the rows `where` selects whose retention
    class was shredded (projections/erasure.py): not even ciphertext of them stays."""
    keys = list(table.primary_key.columns)
    for row in c.execute(sa.select(*keys, table.c[column]).where(*where)).all():
        sealed = row[-1]
        blanked = erasure.blank(sealed, shredded)
        if blanked != sealed:
            c.execute(
                table.update()
                .where(*(key == value for key, value in zip(keys, row[:-1], strict=True)))
                .values({column: blanked})
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
        known = self.of(c, tenant, subject)
        new = sorted(classes - known)
        if new:
            c.execute(
                self.table.insert(),
                [{"tenant": tenant, "subject": subject, "retention": r} for r in new],
            )

    def of(self, c: Connection, tenant: str, subject: str) -> set[str]:
        t = self.table
        return {
            str(r)
            for r in c.execute(
                sa.select(t.c.retention).where(t.c.tenant == tenant, t.c.subject == subject)
            ).scalars()
        }

    def stored(self, c: Connection, tenant: str, subject: str, sealed: Any) -> Any:
        """The sealed JSON value as the read model stores it: blanked if already shredded."""
        if sealed is None:
            return None
        return erasure.blank(sealed, self.of(c, tenant, subject))


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
    """Inserts the active record the event creates (its payload names its sourcedId)."""
    c.execute(
        table.insert().values(
            tenant=e.tenant,
            sourced_id=e.payload["sourced_id"],
            aggregate_id=str(e.aggregate_id),
            status=ACTIVE,
            **_last_modified(table, e),
            **values,
        )
    )


def update_record(
    c: Connection, table: sa.Table, e: EventEnvelope, values: Mapping[str, Any]
) -> str:
    """Changes the row of the event's aggregate; returns its sourcedId."""
    row = c.execute(
        table.update()
        .where(table.c.tenant == e.tenant, table.c.aggregate_id == str(e.aggregate_id))
        .values(**_last_modified(table, e), **values)
        .returning(table.c.sourced_id)
    ).first()
    if row is None:
        raise record_not_projected(table, e)
    return str(row[0])


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

    def handle(c: Connection, e: EventEnvelope) -> None:
        insert_record(
            c, table, e, **{column: e.payload[field] for column, field in columns.items()}
        )

    return handle


def copying_handler(table: sa.Table, *fields: str, **renamed: str) -> Handler:
    """A handler copying payload fields into the record's columns: each of `fields` into the
    column of its name, `renamed` column → payload field."""
    columns = _payload_fields(fields, renamed)

    def handle(c: Connection, e: EventEnvelope) -> None:
        update_record(c, table, e, {column: e.payload[field] for column, field in columns.items()})

    return handle


def fixed_handler(table: sa.Table, **values: Any) -> Handler:
    """A handler setting fixed values (status, enabled) whatever the payload."""

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


class UserRows:
    """Users with their sealed personal fields (names, e-mail …), never plaintext."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str, shredded: ShreddedClasses) -> None:
        self._shredded = shredded
        self.table = record_table(
            metadata, f"{prefix}_users", sa.Column("personal", sa.JSON, nullable=False)
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "user", "registered"): self._registered,
            event_type("roster", "user", "personal_details_corrected"): self._corrected,
            **status_handlers("roster", "user", t),
        }

    def _registered(self, c: Connection, e: EventEnvelope) -> None:
        personal = sealed_record(e.payload["personal"])
        personal = self._shredded.stored(c, e.tenant, e.payload["sourced_id"], personal)
        insert_record(c, self.table, e, personal=personal)

    def _corrected(self, c: Connection, e: EventEnvelope) -> None:
        sealed = sealed_record(e.payload["personal"])
        subject = self.sourced_id(c, e)
        update_record(
            c, self.table, e, {"personal": self._shredded.stored(c, e.tenant, subject, sealed)}
        )

    def sourced_id(self, c: Connection, e: EventEnvelope) -> str:
        """The sourcedId of the user an event (of the user aggregate) is about."""
        row = c.execute(
            sa.select(self.table.c.sourced_id).where(
                self.table.c.tenant == e.tenant,
                self.table.c.aggregate_id == str(e.aggregate_id),
            )
        ).first()
        if row is None:
            raise RecordNotProjectedError(
                f"{e.event_type} at position {e.position} is about user aggregate "
                f"{e.aggregate_id}, which has no row in {self.table.name}"
            )
        return str(row[0])


class DemographicsRows:
    """Demographics (OneRoster: the sourcedId of their user), all of it sealed."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str, shredded: ShreddedClasses) -> None:
        self._shredded = shredded
        self.table = record_table(
            metadata, f"{prefix}_demographics", sa.Column("personal", sa.JSON, nullable=False)
        )
        self.handlers: dict[str, Handler] = {
            event_type("roster", "demographics", "recorded"): self._recorded,
            event_type("roster", "demographics", "corrected"): self._corrected,
            **status_handlers("roster", "demographics", self.table),
        }

    def _recorded(self, c: Connection, e: EventEnvelope) -> None:
        personal = sealed_record(e.payload["personal"])
        personal = self._shredded.stored(c, e.tenant, e.payload["sourced_id"], personal)
        insert_record(c, self.table, e, personal=personal)

    def _corrected(self, c: Connection, e: EventEnvelope) -> None:
        t = self.table
        subject = c.execute(
            sa.select(t.c.sourced_id).where(
                t.c.tenant == e.tenant, t.c.aggregate_id == str(e.aggregate_id)
            )
        ).scalar()
        personal = sealed_record(e.payload["personal"])
        if subject is not None:
            personal = self._shredded.stored(c, e.tenant, str(subject), personal)
        update_record(c, t, e, {"personal": personal})


class CourseRows:
    """Courses: their title and the subjects and grades a class inherits when it names none."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = record_table(
            metadata,
            f"{prefix}_courses",
            sa.Column("title", sa.Text, nullable=False),
            list_column("grades"),
            list_column("subject_codes"),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "course", "registered"): inserting_handler(
                t, "title", "grades", "subject_codes"
            ),
            event_type("roster", "course", "retitled"): copying_handler(t, "title"),
            event_type("roster", "course", "curriculum_changed"): copying_handler(
                t, "grades", "subject_codes"
            ),
            **status_handlers("roster", "course", t),
        }


class ClassRows:
    """Classes: title, course, school, grades, subject codes and terms."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = record_table(
            metadata,
            f"{prefix}_classes",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("class_code", sa.String(256), nullable=True),
            ref_column("course", nullable=False),
            ref_column("school", nullable=False),
            list_column("grades"),
            list_column("subject_codes"),
            list_column("terms"),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "class", "registered"): inserting_handler(
                t, "title", "class_code", "course", "school", "grades", "subject_codes", "terms"
            ),
            event_type("roster", "class", "details_corrected"): copying_handler(
                t, "title", "class_code", "grades", "subject_codes"
            ),
            event_type("roster", "class", "terms_changed"): copying_handler(t, "terms"),
            event_type("roster", "class", "moved"): copying_handler(t, "course", "school"),
            **status_handlers("roster", "class", t),
        }


class SessionRows:
    """Academic sessions: the dates a term filter selects by."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        self.table = record_table(
            metadata,
            f"{prefix}_academic_sessions",
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("start_date", sa.Date, nullable=False),
            sa.Column("end_date", sa.Date, nullable=False),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "academic_session", "registered"): inserting_handler(
                t, "title", "start_date", "end_date", type="session_type"
            ),
            event_type("roster", "academic_session", "retitled"): copying_handler(t, "title"),
            event_type("roster", "academic_session", "rescheduled"): copying_handler(
                t, "start_date", "end_date"
            ),
            event_type("roster", "academic_session", "reclassified"): copying_handler(
                t, type="session_type"
            ),
            **status_handlers("roster", "academic_session", t),
        }


class EnrollmentRows:
    """Enrollments: who is in which class, in which role, between which dates."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        name = f"{prefix}_enrollments"
        self.table = record_table(
            metadata,
            name,
            ref_column("user_sourced_id", nullable=False),
            ref_column("class_sourced_id", nullable=False),
            sa.Column("role", sa.String(64), nullable=False),
            sa.Column("begin_date", sa.Date, nullable=True),
            sa.Column("end_date", sa.Date, nullable=True),
            sa.Index(f"{name}_class", "tenant", "class_sourced_id", "role"),
            sa.Index(f"{name}_user", "tenant", "user_sourced_id", "role"),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("roster", "enrollment", "started"): inserting_handler(
                t,
                "role",
                "begin_date",
                "end_date",
                user_sourced_id="user",
                class_sourced_id="school_class",
            ),
            event_type("roster", "enrollment", "ended"): copying_handler(t, "end_date"),
            event_type("roster", "enrollment", "rescheduled"): copying_handler(
                t, "begin_date", "end_date"
            ),
            **status_handlers("roster", "enrollment", t),
        }


class LineItemRows:
    """Line items (OneRoster gradebook): what is assessed in a class, and when it is due."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str) -> None:
        name = f"{prefix}_line_items"
        self.table = record_table(
            metadata,
            name,
            ref_column("class_sourced_id", nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("category", sa.String(SOURCED_ID), nullable=False),
            sa.Column("assign_date", sa.DateTime(timezone=True), nullable=False),
            sa.Column("due_date", sa.DateTime(timezone=True), nullable=False),
            ref_column("grading_period"),
            list_column("objectives"),
            sa.Column("result_min", sa.Float, nullable=True),
            sa.Column("result_max", sa.Float, nullable=True),
            sa.Index(f"{name}_class", "tenant", "class_sourced_id"),
        )
        t = self.table
        self.handlers: dict[str, Handler] = {
            event_type("assessment", "line_item", "registered"): inserting_handler(
                t,
                "title",
                "category",
                "assign_date",
                "due_date",
                "grading_period",
                "objectives",
                "result_min",
                "result_max",
                class_sourced_id="school_class",
            ),
            event_type("assessment", "line_item", "retitled"): copying_handler(
                t, "title", "category"
            ),
            event_type("assessment", "line_item", "rescheduled"): copying_handler(
                t, "assign_date", "due_date", "grading_period"
            ),
            event_type("assessment", "line_item", "objectives_linked"): copying_handler(
                t, "objectives"
            ),
            event_type("assessment", "line_item", "scale_changed"): copying_handler(
                t, "result_min", "result_max"
            ),
            **status_handlers("assessment", "line_item", t),
        }


#: Called after the current result of a (student, line item) may have changed:
#: (connection, tenant, class sourcedId, student sourcedId, line item sourcedId or None).
ResultsSettled = Callable[[Connection, str, str, str, str | None], None]
#: (connection, tenant, class sourcedId, student sourcedId).
AttainmentChanged = Callable[[Connection, str, str, str], None]


class ResultRows:
    """Results, each with the store position of its last event, and which one is current.

    A correction replaces a result (Result.Corrected); a second result recorded for the same
    student and line item replaces the first as well. So of a (student, line item) the
    active result whose last event came latest in the store is `current`; results without a
    line item stand alone. With `comments` (the projection's shredded classes) it keeps
    the sealed verbal assessment too.
    """

    def __init__(
        self,
        metadata: sa.MetaData,
        *,
        prefix: str,
        comments: ShreddedClasses | None = None,
        on_settled: ResultsSettled | None = None,
    ) -> None:
        name = f"{prefix}_results"
        columns: list[Any] = [
            ref_column("class_sourced_id", nullable=False),
            ref_column("student", nullable=False),
            ref_column("line_item"),
            sa.Column("score", sa.Float, nullable=True),
            sa.Column("grade", sa.String(8), nullable=True),
            sa.Column("score_status", sa.String(64), nullable=False),
            list_column("objectives"),
            sa.Column("assessed_at", sa.Date, nullable=False),
            ref_column("assessor", nullable=False),
            #: Submitted past the line item's due date (OneRoster 1.2 Result.late).
            sa.Column("late", sa.Boolean, nullable=False),
            sa.Column("last_position", sa.BigInteger, nullable=False),
            sa.Column("current", sa.Boolean, nullable=False),
            sa.Index(f"{name}_class_student", "tenant", "class_sourced_id", "student"),
            sa.Index(f"{name}_line_item", "tenant", "line_item", "student"),
            sa.Index(f"{name}_student", "tenant", "student"),
        ]
        if comments is not None:
            columns.append(sa.Column("comment", sa.JSON, nullable=True))
        self.table = record_table(metadata, name, *columns)
        self._comments = comments
        self._on_settled = on_settled
        self.handlers: dict[str, Handler] = {
            event_type("assessment", "result", "recorded"): self._recorded,
            event_type("assessment", "result", "corrected"): self._corrected,
            event_type("assessment", "result", "marked_for_deletion"): self._status(TO_BE_DELETED),
            event_type("assessment", "result", "reactivated"): self._status(ACTIVE),
        }

    def _assessment(self, c: Connection, e: EventEnvelope, student: str) -> dict[str, Any]:
        p = e.payload
        values = {
            "score": p["score"],
            "grade": p["grade"],
            "score_status": p["score_status"],
            "objectives": p["objectives"],
            "assessed_at": p["assessed_at"],
            "assessor": p["assessor"],
            # Results recorded before the field existed were not marked late.
            "late": bool(p.get("late", False)),
            "last_position": e.position,
        }
        if self._comments is not None:
            comment = None if p["comment"] is None else sealed_record(p["comment"])
            values["comment"] = self._comments.stored(c, e.tenant, student, comment)
        return values

    def _recorded(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        insert_record(
            c,
            self.table,
            e,
            class_sourced_id=p["school_class"],
            student=p["student"],
            line_item=p["line_item"],
            current=False,
            **self._assessment(c, e, p["student"]),
        )
        self._settle(c, e)

    def _corrected(self, c: Connection, e: EventEnvelope) -> None:
        t = self.table
        student = c.execute(
            sa.select(t.c.student).where(
                t.c.tenant == e.tenant, t.c.aggregate_id == str(e.aggregate_id)
            )
        ).scalar()
        update_record(c, t, e, self._assessment(c, e, str(student)))
        self._settle(c, e)

    def _status(self, status: str) -> Handler:
        def handle(c: Connection, e: EventEnvelope) -> None:
            update_record(c, self.table, e, {"status": status, "last_position": e.position})
            self._settle(c, e)

        return handle

    def _settle(self, c: Connection, e: EventEnvelope) -> None:
        """Marks which result of the event's (student, line item) is current."""
        t = self.table
        row = c.execute(
            sa.select(t.c.class_sourced_id, t.c.student, t.c.line_item).where(
                t.c.tenant == e.tenant, t.c.aggregate_id == str(e.aggregate_id)
            )
        ).one()
        school_class, student, line_item = str(row[0]), str(row[1]), row[2]
        if line_item is None:
            c.execute(
                t.update()
                .where(t.c.tenant == e.tenant, t.c.aggregate_id == str(e.aggregate_id))
                .values(current=t.c.status == ACTIVE)
            )
        else:
            pair = (t.c.tenant == e.tenant, t.c.line_item == line_item, t.c.student == student)
            latest = c.execute(
                sa.select(t.c.sourced_id)
                .where(*pair, t.c.status == ACTIVE)
                .order_by(t.c.last_position.desc())
                .limit(1)
            ).scalar()
            c.execute(t.update().where(*pair).values(current=t.c.sourced_id == latest))
        if self._on_settled is not None:
            self._on_settled(c, e.tenant, school_class, student, line_item)


class AttainmentRows:
    """The latest attainment level per (student, class, objective), and optionally each one.

    One ObjectiveAttainment aggregate per (student, class, objective), so its events arrive
    in order and the latest applied is the latest assessment. `history` keeps every
    assessment (Assessed and each Reassessed) for trends.
    """

    def __init__(
        self,
        metadata: sa.MetaData,
        *,
        prefix: str,
        history: bool = False,
        on_changed: AttainmentChanged | None = None,
    ) -> None:
        name = f"{prefix}_attainments"
        self._on_changed = on_changed
        self.table = sa.Table(
            name,
            metadata,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("aggregate_id", sa.String(36), primary_key=True),
            ref_column("class_sourced_id", nullable=False),
            ref_column("student", nullable=False),
            sa.Column("objective", sa.String(64), nullable=False),
            sa.Column("subject", sa.String(16), nullable=False),
            sa.Column("level", sa.Integer, nullable=False),
            sa.Column("assessed_at", sa.Date, nullable=False),
            list_column("evidence"),
            ref_column("assessor", nullable=False),
            sa.Index(f"{name}_class_student", "tenant", "class_sourced_id", "student"),
            sa.Index(f"{name}_student", "tenant", "student"),
        )
        self.history: sa.Table | None = None
        if history:
            history_name = f"{prefix}_attainment_history"
            self.history = sa.Table(
                history_name,
                metadata,
                sa.Column("tenant", sa.String(32), primary_key=True),
                sa.Column("aggregate_id", sa.String(36), primary_key=True),
                sa.Column("version", sa.Integer, primary_key=True),
                ref_column("class_sourced_id", nullable=False),
                ref_column("student", nullable=False),
                sa.Column("objective", sa.String(64), nullable=False),
                sa.Column("level", sa.Integer, nullable=False),
                sa.Column("assessed_at", sa.Date, nullable=False),
                list_column("evidence"),
                sa.Index(f"{history_name}_class_student", "tenant", "class_sourced_id", "student"),
            )
        self.handlers: dict[str, Handler] = {
            event_type("attainment", "objective_attainment", "assessed"): self._assessed,
            event_type("attainment", "objective_attainment", "reassessed"): self._reassessed,
        }

    def _assessed(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        c.execute(
            self.table.insert().values(
                tenant=e.tenant,
                aggregate_id=str(e.aggregate_id),
                class_sourced_id=p["school_class"],
                student=p["student"],
                objective=p["objective"],
                subject=p["subject"],
                level=p["level"],
                assessed_at=p["assessed_at"],
                evidence=p["evidence"],
                assessor=p["assessor"],
            )
        )
        self._remember(c, e, p["school_class"], p["student"], p["objective"])

    def _reassessed(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        t = self.table
        row = c.execute(
            t.update()
            .where(t.c.tenant == e.tenant, t.c.aggregate_id == str(e.aggregate_id))
            .values(
                level=p["level"],
                assessed_at=p["assessed_at"],
                evidence=p["evidence"],
                assessor=p["assessor"],
            )
            .returning(t.c.class_sourced_id, t.c.student, t.c.objective)
        ).first()
        if row is None:
            raise RecordNotProjectedError(
                f"{e.event_type} at position {e.position} reassesses attainment "
                f"{e.aggregate_id}, which has no row in {t.name}"
            )
        self._remember(c, e, str(row[0]), str(row[1]), str(row[2]))

    def _remember(
        self, c: Connection, e: EventEnvelope, school_class: str, student: str, objective: str
    ) -> None:
        if self.history is not None:
            self._record_history(c, e, school_class, student, objective)
        if self._on_changed is not None:
            self._on_changed(c, e.tenant, school_class, student)

    def _record_history(
        self, c: Connection, e: EventEnvelope, school_class: str, student: str, objective: str
    ) -> None:
        assert self.history is not None
        p = e.payload
        c.execute(
            self.history.insert().values(
                tenant=e.tenant,
                aggregate_id=str(e.aggregate_id),
                version=e.aggregate_version,
                class_sourced_id=school_class,
                student=student,
                objective=objective,
                level=p["level"],
                assessed_at=p["assessed_at"],
                evidence=p["evidence"],
            )
        )
