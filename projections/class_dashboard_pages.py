"""Pre-rendered class dashboard pages: each class's default page as the bytes its read answers.

The class dashboard projection (projections/class_dashboard.py) renders, at the end of each
batch, the default page (no term, no subject, the first `DEFAULT_LIMIT` students) of every
class the batch changed, with `read_class_dashboard` and `dashboard_json` as the live read
does, and keeps it as a `StoredPage`: the JSON bytes with every personal name cut out (a NUL
byte, which orjson never writes), and per cut the slot that fills it: the student's
sourcedId and their sealed personal record as the read model holds it. Names stay sealed at
rest (DESIGN.md invariant 4): the read unseals the slots, as the live read unseals the
users' rows, and joins the bytes. An erasure blanks the subject's slots like the users' rows
(`blank_slots`), in the transaction that confirms it.

A page depends on the time as well: work past due counts as missing, and a student is on the
page while an enrollment holds today. So a page is stored with the window it holds for: from
the latest such instant at or before the render (a due date, the midnight an enrollment of
the class begins or ends on) to the next one after it. A read at an instant strictly inside
the window answers the stored bytes; any other read (the window passed, or a clock behind
the render) reads live, until the class changes again and the page is rendered anew.

A batch with a backlog behind it (an import, a catch-up) leaves its classes' pages to the
batch that catches up (`leave_pages`): each such class keeps a row that holds for no
instant (`LEFT`, no bytes, no slots), so its reads are live, and the first batch with no
backlog renders every page so left (`left_pages`) with its own. The rows make the list
durable: a worker that stops in between leaves them to the next one.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from domain.curriculum import Curriculum
from domain.record import ACTIVE
from projections import erasure
from projections.class_dashboard import ClassDashboardProjection
from projections.class_dashboard_queries import ClassDashboard, read_class_dashboard
from projections.record_tables import utc

__all__ = [
    "DEFAULT_LIMIT",
    "LEFT",
    "StoredPage",
    "blank_slots",
    "dashboard_json",
    "is_default_page",
    "leave_pages",
    "left_pages",
    "pages_table",
    "render_page",
    "store_page",
    "stored_page",
    "teachers_page",
]

#: Students on the default page (the read's default `limit`).
DEFAULT_LIMIT = 50
#: Where a name was cut out of a page: orjson escapes every control character it writes.
_CUT = b"\x00"
#: The end of the window of a page left to a later batch: it holds for no read (a page is
#: rendered at the present, so no rendered page's window ends this early).
LEFT = datetime(1970, 1, 1, tzinfo=UTC)


def is_default_page(*, term: str | None, subject: str | None, limit: int, offset: int) -> bool:
    """Whether a dashboard read asks for the page the projection pre-renders."""
    return term is None and subject is None and limit == DEFAULT_LIMIT and offset == 0


@dataclass(frozen=True)
class StoredPage:
    """A class's default page as stored: the bytes around the names, and the names sealed."""

    #: The page's JSON with each name (a JSON string, or null) replaced by one NUL byte.
    template: bytes
    #: Per NUL, in order: [student sourcedId, their sealed personal record or None].
    slots: list[list[Any]]
    #: The page holds for reads strictly after this instant (None: since ever) …
    valid_from: datetime | None
    #: … and strictly before this one (None: for ever).
    valid_until: datetime | None

    def holds(self, now: datetime) -> bool:
        """Whether the page is the one a live read at `now` would answer."""
        return (self.valid_from is None or self.valid_from < now) and (
            self.valid_until is None or now < self.valid_until
        )

    @property
    def subjects(self) -> list[str]:
        """The page's students, in page order (each student's first slot is in `students`)."""
        return list(dict.fromkeys(str(student) for student, _ in self.slots))

    @property
    def sealed(self) -> list[Mapping[str, Any] | None]:
        """Each student's sealed personal record, for prefetching their keys."""
        return [personal for _, personal in self.slots]

    def body(self, names: Mapping[str, str | None]) -> bytes:
        """The page's bytes with each slot filled with its student's name from `names`."""
        encoded = {student: orjson.dumps(name) for student, name in names.items()}
        parts = self.template.split(_CUT)
        out = [parts[0]]
        for (student, _), part in zip(self.slots, parts[1:], strict=True):
            out.append(encoded[str(student)])
            out.append(part)
        return b"".join(out)


def dashboard_json(dashboard: ClassDashboard, names: Mapping[str, str | None]) -> dict[str, Any]:
    """The JSON of a dashboard page, each student named as `names` says."""
    d = dashboard
    return {
        "class": {
            "sourcedId": d.sourced_id,
            "title": d.title,
            "classCode": d.class_code,
            "course": d.course,
            "school": d.school,
            "subjectCodes": d.subject_codes,
            "grades": d.grades,
            "terms": d.terms,
        },
        "filters": {
            "term": None
            if d.term is None
            else {
                "sourcedId": d.term.sourced_id,
                "title": d.term.title,
                "startDate": d.term.start_date.isoformat(),
                "endDate": d.term.end_date.isoformat(),
            },
            "subject": d.subject,
        },
        "page": {"limit": d.limit, "offset": d.offset, "total": d.total_students},
        "objectives": [
            {
                "code": o.code,
                "subject": o.subject,
                "titles": {"fi": o.title_fi, "en": o.title_en},
                "assessed": o.assessed,
            }
            for o in d.objectives
        ],
        "unassessedObjectives": [o.code for o in d.unassessed_objectives],
        "lineItems": [
            {
                "sourcedId": i.sourced_id,
                "title": i.title,
                "category": i.category,
                "assignDate": i.assign_date.isoformat(),
                "dueDate": i.due_date.isoformat(),
                "objectives": i.objectives,
                "resultValueMin": i.result_min,
                "resultValueMax": i.result_max,
                "results": i.results,
                "scoreStatuses": i.score_statuses,
                "scores": i.scores.as_dict(),
                "grades": i.grades.as_dict(),
            }
            for i in d.line_items
        ],
        "students": [
            {
                "sourcedId": s.sourced_id,
                "name": names[s.sourced_id],
                # Cells and trend points come JSON-shaped from the read model.
                "attainments": s.attainments,
                "results": s.results,
                "trend": {"attainments": s.level_trend, "grades": s.grade_trend},
            }
            for s in d.students
        ],
        "lateWork": [
            {
                "student": s.sourced_id,
                "name": names[s.sourced_id],
                "lineItems": [
                    {
                        "sourcedId": item.sourced_id,
                        "title": item.title,
                        "dueDate": item.due_date.isoformat(),
                        "assessedAt": s.results[item.sourced_id]["assessedAt"],
                    }
                    for item in s.late
                ],
            }
            for s in d.students
            if s.late
        ],
        "missingWork": [
            {
                "student": s.sourced_id,
                "name": names[s.sourced_id],
                "lineItems": [
                    {
                        "sourcedId": m.line_item,
                        "title": m.title,
                        "dueDate": m.due_date.isoformat(),
                        "reason": m.reason,
                    }
                    for m in s.missing
                ],
            }
            for s in d.students
            if s.missing
        ],
    }


def render_page(
    connection: Connection,
    projection: ClassDashboardProjection,
    *,
    tenant: str,
    class_id: str,
    now: datetime,
    curriculum: Curriculum,
) -> StoredPage | None:
    """The class's default page as a live read at `now` would answer it, names as slots;
    None when the class is not (or no longer) in the read model."""
    dashboard = read_class_dashboard(
        connection,
        projection,
        tenant=tenant,
        class_id=class_id,
        now=now,
        curriculum=curriculum,
        limit=DEFAULT_LIMIT,
    )
    if dashboard is None:
        return None
    # Each student's name is first written as a marker no roster text can forge (a fresh
    # random token), then cut out of the bytes.
    token = secrets.token_hex(8)
    markers = {s.sourced_id: f"\x00{token}:{i}\x00" for i, s in enumerate(dashboard.students)}
    raw = orjson.dumps(dashboard_json(dashboard, markers))
    found = re.compile(rb'"\\u0000' + token.encode() + rb':(\d+)\\u0000"')
    assert _CUT not in raw
    slots: list[list[Any]] = []
    for match in found.finditer(raw):
        student = dashboard.students[int(match.group(1))]
        slots.append([student.sourced_id, student.personal])
    valid_from, valid_until = _window(connection, projection, tenant, class_id, dashboard, now)
    return StoredPage(found.sub(_CUT, raw), slots, valid_from, valid_until)


def _window(
    connection: Connection,
    projection: ClassDashboardProjection,
    tenant: str,
    class_id: str,
    dashboard: ClassDashboard,
    now: datetime,
) -> tuple[datetime | None, datetime | None]:
    """The instants around `now` at which the page would change with no event: the due
    dates (work past due is missing) and the midnights (UTC, as the read takes today) on
    which a student enrollment of the class begins or ends."""
    instants = {item.due_date for item in dashboard.line_items}
    e = projection.enrollments.table
    for begin, end in connection.execute(
        sa.select(e.c.begin_date, e.c.end_date).where(
            e.c.tenant == tenant,
            e.c.class_sourced_id == class_id,
            e.c.role == "student",
            e.c.status == ACTIVE,
        )
    ):
        if begin is not None:
            instants.add(_midnight(begin))
        if end is not None:
            instants.add(_midnight(end + timedelta(days=1)))
    before = [instant for instant in instants if instant <= now]
    after = [instant for instant in instants if instant > now]
    return (max(before) if before else None), (min(after) if after else None)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def pages_table(metadata: sa.MetaData, *, prefix: str) -> sa.Table:
    """Per class: its default page, rendered at the end of the batch that last changed it."""
    return sa.Table(
        f"{prefix}_pages",
        metadata,
        sa.Column("tenant", sa.String(32), primary_key=True),
        sa.Column("class_sourced_id", sa.String(128), primary_key=True),
        sa.Column("template", sa.LargeBinary, nullable=False),
        sa.Column("slots", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        # No store position: which batch rendered a page last depends on how the events
        # were batched, and a rebuilt read model must equal the live one row for row. The
        # projection's own positions say how far the pages are.
    )


def store_page(
    c: Connection,
    table: sa.Table,
    *,
    tenant: str,
    class_id: str,
    page: StoredPage | None,
) -> None:
    """Replaces the class's stored page (removes it when `page` is None): one statement."""
    if page is None:
        c.execute(
            table.delete().where(table.c.tenant == tenant, table.c.class_sourced_id == class_id)
        )
        return
    _upsert_pages(
        c,
        table,
        [
            {"tenant": tenant, "class_sourced_id": class_id, "template": page.template,
             "slots": page.slots, "valid_from": page.valid_from, "valid_until": page.valid_until}
        ],
    )  # fmt: skip


def leave_pages(c: Connection, table: sa.Table, classes: Iterable[tuple[str, str]]) -> None:
    """Marks the classes' pages (tenant, class) as left to a later batch: each class's row
    holds for no instant, with no bytes and no slots (one statement)."""
    rows: list[dict[str, Any]] = [
        {"tenant": tenant, "class_sourced_id": class_id, "template": b"", "slots": [],
         "valid_from": None, "valid_until": LEFT}
        for tenant, class_id in sorted(set(classes))
    ]  # fmt: skip
    if rows:
        _upsert_pages(c, table, rows)


def _upsert_pages(c: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Stores the rows' pages, each replacing its class's (by tenant and class): one
    statement."""
    dialect = postgresql if c.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(table)
    replaced = ("template", "slots", "valid_from", "valid_until")
    c.execute(
        upsert.on_conflict_do_update(
            index_elements=[table.c.tenant, table.c.class_sourced_id],
            set_={name: upsert.excluded[name] for name in replaced},
        ),
        rows,
    )


def left_pages(c: Connection, table: sa.Table) -> set[tuple[str, str]]:
    """Every page left to a later batch (`leave_pages`), of any tenant: (tenant, class)."""
    rows = c.execute(
        sa.select(table.c.tenant, table.c.class_sourced_id).where(table.c.valid_until == LEFT)
    )
    return {(str(tenant), str(class_id)) for tenant, class_id in rows}


def stored_page(c: Connection, table: sa.Table, *, tenant: str, class_id: str) -> StoredPage | None:
    """The class's stored page; None when none is stored (one query)."""
    row = c.execute(
        sa.select(table.c.template, table.c.slots, table.c.valid_from, table.c.valid_until).where(
            table.c.tenant == tenant, table.c.class_sourced_id == class_id
        )
    ).first()
    return None if row is None else _page(*row)


def teachers_page(
    c: Connection,
    projection: ClassDashboardProjection,
    *,
    tenant: str,
    class_id: str,
    teacher: str,
    today: date,
) -> tuple[bool, StoredPage] | None:
    """The class's stored page, and whether `teacher` teaches the class on `today` (the
    rule of `teaches` in class_dashboard_queries, said in SQL): one query for both. None
    when no page is stored (the caller reads live, and authorises there)."""
    statement = _teachers_page_query(
        projection.pages, projection.enrollments.table, projection.classes.table
    )
    parameters = {"tenant": tenant, "class_id": class_id, "teacher": teacher, "today": today}
    if c.dialect.name == "postgresql":
        row = _first_row_in_binary(c, statement, parameters)
    else:
        row = c.execute(statement, parameters).first()
    if row is None:
        return None
    template, slots, valid_from, valid_until, teaches = row
    return bool(teaches), _page(template, slots, valid_from, valid_until)


def _first_row_in_binary(
    c: Connection, statement: sa.TextualSelect, parameters: dict[str, Any]
) -> tuple[Any, ...] | None:
    """The statement's first row, asked of PostgreSQL in the binary result format: a
    stored page's template (a bytea, 135 KB for the bench's class of 25 with a year of
    results) then comes as its bytes, not as hex text twice its size that the server
    encodes and libpq decodes. Measured on a 100 KB bytea: 481 µs a query in text (190 µs
    of it this process's CPU), 156 µs in binary; in the bench, the page query's time in
    PostgreSQL fell from 1.05 to 0.32–0.36 ms. The other columns come back as in text."""
    compiled = _compiled(statement, c.dialect)
    driver = c.connection.driver_connection
    assert driver is not None, "a connection in use has its driver's connection"
    try:
        with driver.cursor(binary=True) as cursor:
            cursor.execute(compiled.string, compiled.construct_params(parameters), prepare=True)
            found: tuple[Any, ...] | None = cursor.fetchone()
            return found
    except psycopg.Error as error:
        # As SQLAlchemy raises a driver's error of its own statements: wrapped, and a
        # connection found dropped is invalidated with every connection the pool opened
        # before it (a restarted server ended them all), so that callers such as
        # read_retried read again on a new one, not on the next pooled one.
        dropped = c.dialect.is_disconnect(cast(Any, error), driver, None)
        if dropped:
            # What SQLAlchemy's Connection does on a disconnect of its own statements
            # (`invalidate_pool_on_disconnect`); the pool has no public form of it.
            c.engine.pool._invalidate(c.connection, error)
            c.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            compiled.string,
            parameters,
            error,
            psycopg.Error,
            connection_invalidated=dropped,
            dialect=c.dialect,
        ) from error


@functools.cache
def _compiled(statement: sa.TextualSelect, dialect: sa.Dialect) -> sa.engine.Compiled:
    """The statement as the dialect's driver takes it, compiled once."""
    return statement.compile(dialect=dialect)


@functools.cache
def _teachers_page_query(p: sa.Table, e: sa.Table, k: sa.Table) -> sa.TextualSelect:
    """`teachers_page`'s statement, written once per read model: the hottest read runs it,
    and building and compiling the same Core select on every call cost more than the
    query itself (a text statement's cache key is its string)."""
    statement = sa.text(
        f"""
        SELECT p.template, p.slots, p.valid_from, p.valid_until,
            EXISTS (
                SELECT 1 FROM {_name(e)} AS e
                JOIN {_name(k)} AS k
                    ON k.tenant = e.tenant AND k.sourced_id = e.class_sourced_id
                WHERE e.tenant = :tenant AND e.class_sourced_id = :class_id
                    AND e.role = 'teacher' AND e.user_sourced_id = :teacher
                    AND e.status = :active
                    AND (e.begin_date IS NULL OR e.begin_date <= :today)
                    AND (e.end_date IS NULL OR e.end_date >= :today)
                    AND k.status = :active
            ) AS teaches
        FROM {_name(p)} AS p
        WHERE p.tenant = :tenant AND p.class_sourced_id = :class_id
        """
    )
    return statement.bindparams(
        sa.bindparam("tenant", type_=sa.String),
        sa.bindparam("class_id", type_=sa.String),
        sa.bindparam("teacher", type_=sa.String),
        sa.bindparam("today", type_=sa.Date),
        sa.bindparam("active", ACTIVE, type_=sa.String),
    ).columns(
        p.c.template,
        p.c.slots,
        p.c.valid_from,
        p.c.valid_until,
        sa.column("teaches", sa.Boolean),
    )


def _name(table: sa.Table) -> str:
    """A table's name as SQL says it, quoted (its schema too, when it has one)."""
    quoted = f'"{table.name}"'
    return quoted if table.schema is None else f'"{table.schema}".{quoted}'


def _page(template: bytes, slots: list[list[Any]], valid_from: Any, valid_until: Any) -> StoredPage:
    """A stored page from its row's columns."""
    return StoredPage(
        bytes(template),
        list(slots),
        None if valid_from is None else utc(valid_from),
        None if valid_until is None else utc(valid_until),
    )


def blank_slots(
    c: Connection,
    table: sa.Table,
    *,
    tenant: str,
    subject: str,
    shredded: set[str],
    classes: Iterable[str],
) -> None:
    """Blanks the subject's sealed records in the slots of the classes' stored pages, where
    their retention class was shredded (projections/erasure.py)."""
    wanted = sorted(set(classes))
    if not wanted:
        return
    rows = c.execute(
        sa.select(table.c.class_sourced_id, table.c.slots).where(
            table.c.tenant == tenant, table.c.class_sourced_id.in_(wanted)
        )
    ).all()
    for class_id, slots in rows:
        blanked = [
            [student, erasure.blank(personal, shredded) if student == subject else personal]
            for student, personal in slots
        ]
        if blanked != slots:
            c.execute(
                table.update()
                .where(table.c.tenant == tenant, table.c.class_sourced_id == class_id)
                .values(slots=blanked)
            )
