"""The class dashboard read model: what a teacher sees of a class they teach.

Per tenant and class it keeps the students (from enrollments; names stay sealed), the line
items, every result with which one is current per (student, line item) — the latest
correction wins — the latest attainment level per (student, objective) with its date and
evidence, and every attainment assessed (each student's trend). Each line item's class
distribution (mean, median, spread, min, max of scores and of numeric grades) is
recomputed whenever one of its results changes, and each student's card in the class (their
current results, attainment history and latest levels, JSON-shaped as the answer uses them)
whenever one of theirs does, so the hot read is a handful of indexed SELECTs, one row per
student, and no aggregation over the class (DESIGN.md, read path). Names stay sealed; on an
erasure the shredded names are blanked and the erasure confirmed (projections/erasure.py).

The reads of these tables (`read_class_dashboard`, `teaches`, `taught_classes`) are in
projections/class_dashboard_queries.py. `Distribution` stays here, beside the handlers that
compute it: the projection stores it and the queries read it back.
"""

from __future__ import annotations

import statistics
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.curriculum import Curriculum, load_curriculum
from projections import erasure
from projections.base import Handler, backlog, batch_state, take_batch_state
from projections.batch_writes import batch_aware, is_batch_aware
from projections.gradebook_rows import (
    AttainmentRows,
    LineItemRows,
    ResultRows,
)
from projections.record_tables import (
    ShreddedClasses,
    blank_personal,
    built_once,
)
from projections.roster_rows import (
    ClassRows,
    CourseRows,
    EnrollmentRows,
    SessionRows,
    UserRows,
)
from streams.codec import EventEnvelope

__all__ = [
    "NOT_SUBMITTED",
    "ClassDashboardProjection",
    "Distribution",
    "numeric_grade",
]

#: The score status that makes a result count as missing work.
NOT_SUBMITTED = "not submitted"
#: Score statuses whose score says nothing of how the work went (OneRoster 1.2 scoreStatus).
_NOT_SCORED = frozenset({"exempt", NOT_SUBMITTED})
_DECIMALS = 3
#: Pages past their time rendered anew with each batch, at most (besides those it changed).
_EXPIRED_PER_BATCH = 20
#: Messages waiting behind a batch from which it leaves its classes' pages to the batch
#: that catches up: a backlog's batches (5,000 messages each) of an import touch most of
#: its classes, and each rendered every page it touched, most of the catch-up's time. What
#: arrives as it is written (a few messages behind a batch) is rendered batch by batch.
LEAVE_PAGES_BACKLOG = 1_000


@dataclass(frozen=True)
class Distribution:
    """How a class did on one line item: population statistics of the values given."""

    count: int
    mean: float | None = None
    median: float | None = None
    #: The population standard deviation (statistics.pstdev): the whole class is the data.
    spread: float | None = None
    min: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls(count=0)
        return cls(
            count=len(values),
            mean=round(statistics.fmean(values), _DECIMALS),
            median=round(float(statistics.median(values)), _DECIMALS),
            spread=round(statistics.pstdev(values), _DECIMALS),
            min=float(min(values)),
            max=float(max(values)),
        )

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any] | None) -> Distribution:
        return cls(count=0) if not stored else cls(**stored)

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "median": self.median,
            "spread": self.spread,
            "min": self.min,
            "max": self.max,
        }


def numeric_grade(grade: str | None) -> int | None:
    """A Finnish numeric grade 4–10 as a number; S, H and no grade are not numbers."""
    return int(grade) if grade is not None and grade.isdigit() else None


@dataclass
class _Changed:
    """What a batch's events changed: students' cards, line items' distributions, and the
    records whose classes' pages are rendered anew."""

    #: (tenant, class, student).
    cards: set[tuple[str, str, str]] = field(default_factory=set)
    #: (tenant, line item) → its class.
    line_items: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Per record table (classes, courses, users …): the (tenant, aggregate id) of records
    #: the batch changed, whose classes' pages it renders.
    records: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    #: (tenant, subject) erased in the batch.
    erased: set[tuple[str, str]] = field(default_factory=set)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ClassDashboardProjection:
    """The teacher's class dashboards of every tenant."""

    #: 2: each student's results and attainments also kept as one card per class.
    #: 3: results say whether they were late.
    #: 4: each class's default page kept rendered (projections/class_dashboard_pages.py).
    version: int = 4
    families: tuple[str, ...] = ("roster", "assessment", "attainment", "privacy")

    def __init__(
        self,
        name: str = "class_dashboard",
        *,
        clock: Callable[[], datetime] = _utc_now,
        curriculum: Curriculum | None = None,
    ) -> None:
        """`clock` is the instant pages are rendered at (the reads' clock); `curriculum` the
        one the reads use (the shipped one by default: a changed curriculum is a new code
        version, so pages are rendered anew)."""
        self.name = name
        self.clock = clock
        self.curriculum = curriculum if curriculum is not None else load_curriculum()
        #: Whether a page may have been left to a later batch (leave_pages): assumed at
        #: start (a worker may have stopped while catching up), cleared once a batch
        #: rendered the pages left.
        self._pages_left = True
        self.metadata = sa.MetaData()
        m, p = self.metadata, name
        self.shredded = ShreddedClasses(m, prefix=p)
        self.users = UserRows(m, prefix=p, shredded=self.shredded)
        self.courses = CourseRows(m, prefix=p)
        self.classes = ClassRows(m, prefix=p)
        self.sessions = SessionRows(m, prefix=p)
        self.enrollments = EnrollmentRows(m, prefix=p)
        self.line_items = LineItemRows(m, prefix=p)
        self.results = ResultRows(m, prefix=p, on_settled=self._result_settled)
        self.attainments = AttainmentRows(
            m, prefix=p, history=True, on_changed=self._attainment_changed
        )
        assert self.attainments.history is not None
        self.attainment_history: sa.Table = self.attainments.history
        #: Per line item: its class distribution, kept current as results change.
        self.line_item_stats = sa.Table(
            f"{p}_line_item_stats",
            m,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("line_item", sa.String(128), primary_key=True),
            sa.Column("class_sourced_id", sa.String(128), nullable=False),
            sa.Column("results", sa.Integer, nullable=False),
            sa.Column("scores", sa.JSON, nullable=False),
            sa.Column("grades", sa.JSON, nullable=False),
            sa.Column("score_statuses", sa.JSON, nullable=False),
            sa.Index(f"{p}_line_item_stats_class", "tenant", "class_sourced_id"),
        )
        #: Per (class, student): the student's current results, attainment history and
        #: latest levels in the class, as one document (_refresh_card): a dashboard page
        #: reads one row per student instead of every result and assessment of the class.
        self.student_cards = sa.Table(
            f"{p}_student_cards",
            m,
            sa.Column("tenant", sa.String(32), primary_key=True),
            sa.Column("class_sourced_id", sa.String(128), primary_key=True),
            sa.Column("student", sa.String(128), primary_key=True),
            sa.Column("card", sa.JSON, nullable=False),
        )
        # Its own module reads these tables (class_dashboard_queries), so it is imported
        # here rather than at the top, where it would import this module half-made.
        from projections.class_dashboard_pages import pages_table

        #: Per class: its default page as the read answers it, names sealed in slots.
        self.pages = pages_table(m, prefix=p)
        handlers: dict[str, Handler] = {}
        for block in (self.sessions, self.results, self.attainments):
            handlers.update(block.handlers)
        # Records whose change changes the pages of their classes: noted per table.
        for kind, block_handlers in (
            ("users", self.users.handlers),
            ("courses", self.courses.handlers),
            ("classes", self.classes.handlers),
            ("enrollments", self.enrollments.handlers),
            ("line_items", self.line_items.handlers),
        ):
            for event, handler in block_handlers.items():
                handlers[event] = self._noting(kind, handler)
        self.confirmations = erasure.confirmations_table(m, prefix=p)
        for shredding in erasure.SHREDDING_EVENTS:
            handlers[shredding] = self._erased
        self.handlers: Mapping[str, Handler] = handlers

    def _noting(self, kind: str, handler: Handler) -> Handler:
        """The handler, noting the record it changes for the pages of its classes."""

        def handle(c: Connection, e: EventEnvelope) -> None:
            handler(c, e)
            records = self._changed(c).records.setdefault(kind, set())
            records.add((e.tenant, str(e.aggregate_id)))

        return batch_aware(handle) if is_batch_aware(handler) else handle

    def _erased(self, c: Connection, e: EventEnvelope) -> None:
        """Blanks the subject's sealed names of the shredded classes (in the users' rows and
        the stored pages' slots), then confirms."""
        from projections.class_dashboard_pages import blank_slots

        subject = erasure.subject_of(c, self.confirmations, e)
        shredded = erasure.shredded_classes(e)
        self.shredded.add(c, e.tenant, subject, shredded)
        blank_personal(c, [self.users.table], shredded, tenant=e.tenant, subject=subject)
        classes = self._classes_of_students(c, e.tenant, [subject])
        blank_slots(
            c, self.pages, tenant=e.tenant, subject=subject, shredded=shredded, classes=classes
        )
        self._changed(c).erased.add((e.tenant, subject))
        erasure.confirm(c, self.confirmations, e, subject)

    # Cards and class distributions summarise many events: a handler only notes which
    # changed, and finish_batch recomputes each once per batch, in the batch's transaction
    # (a rebuild's batches hold many events of each student and line item).

    def _result_settled(
        self, c: Connection, tenant: str, school_class: str, student: str, line_item: str | None
    ) -> None:
        changed = self._changed(c)
        changed.cards.add((tenant, school_class, student))
        if line_item is not None:
            changed.line_items[(tenant, line_item)] = school_class

    def _attainment_changed(
        self, c: Connection, tenant: str, school_class: str, student: str
    ) -> None:
        self._changed(c).cards.add((tenant, school_class, student))

    def _changed(self, c: Connection) -> _Changed:
        return batch_state(c, self._changed_key, _Changed)

    @property
    def _changed_key(self) -> str:
        return f"{self.name}.changed"

    def finish_batch(self, c: Connection) -> None:
        """Recomputes the cards and class distributions the batch's events changed, then
        renders the pages of the classes they are in; with a backlog behind the batch,
        leaves those pages to the batch that catches up (their reads are live meanwhile),
        which renders them with its own."""
        from projections.class_dashboard_pages import leave_pages, left_pages

        changed: _Changed | None = take_batch_state(c, self._changed_key)
        classes: set[tuple[str, str]] = set()
        if changed is not None:
            self._refresh_cards(c, changed.cards)
            for (tenant, line_item), school_class in sorted(changed.line_items.items()):
                self._line_item_changed(c, tenant, school_class, line_item)
            classes = self._changed_classes(c, changed)
        if backlog(c) >= LEAVE_PAGES_BACKLOG:
            if classes:
                leave_pages(c, self.pages, classes)
                self._pages_left = True
            return
        if self._pages_left:
            classes |= left_pages(c, self.pages)
            self._pages_left = False
        if changed is not None:
            classes |= self._expired_pages(c, {tenant for tenant, _ in classes})
        self._render_pages(c, classes)

    def _expired_pages(self, c: Connection, tenants: set[str]) -> set[tuple[str, str]]:
        """A few of the tenants' stored pages whose time has passed (a due date, a day an
        enrollment begins or ends on): rendered anew with the batch, so they are not read
        live until their class next changes."""
        if not tenants:
            return set()
        p = self.pages
        rows = c.execute(
            sa.select(p.c.tenant, p.c.class_sourced_id)
            .where(p.c.tenant.in_(sorted(tenants)), p.c.valid_until <= self.clock())
            .order_by(p.c.valid_until)
            .limit(_EXPIRED_PER_BATCH)
        )
        return {(str(tenant), str(class_id)) for tenant, class_id in rows}

    def _render_pages(self, c: Connection, classes: set[tuple[str, str]]) -> None:
        """Renders and stores the default page of each class (in a fixed order)."""
        from projections.class_dashboard_pages import render_page, store_page

        now = self.clock()
        for tenant, class_id in sorted(classes):
            # Workers applying other partitions may change the class at the same time:
            # whoever renders last must see what the others committed, so renders of a
            # class take turns (and READ COMMITTED reads each statement afresh).
            _lock_page(c, f"{self.name}.page.{tenant}.{class_id}")
            page = render_page(
                c, self, tenant=tenant, class_id=class_id, now=now, curriculum=self.curriculum
            )
            store_page(c, self.pages, tenant=tenant, class_id=class_id, page=page)

    def _changed_classes(self, c: Connection, changed: _Changed) -> set[tuple[str, str]]:
        """The classes whose default page the batch's changes may have changed."""
        classes = {(tenant, school_class) for tenant, school_class, _ in changed.cards}
        classes |= {
            (tenant, school_class) for (tenant, _), school_class in changed.line_items.items()
        }
        by_tenant: dict[str, dict[str, list[str]]] = {}
        for kind, records in changed.records.items():
            for tenant, aggregate in records:
                by_tenant.setdefault(tenant, {}).setdefault(kind, []).append(aggregate)
        for tenant, subject in changed.erased:
            by_tenant.setdefault(tenant, {}).setdefault("erased", []).append(subject)
        for tenant, kinds in by_tenant.items():
            classes |= {(tenant, k) for k in self._classes_of_records(c, tenant, kinds)}
        return classes

    def _classes_of_records(
        self, c: Connection, tenant: str, kinds: dict[str, list[str]]
    ) -> set[str]:
        """The classes a tenant's changed records (aggregate ids per table) are part of."""
        found: set[str] = set()
        k, e, li = self.classes.table, self.enrollments.table, self.line_items.table

        def of(table: sa.Table, column: str, kind: str) -> list[str]:
            ids = kinds.get(kind)
            if not ids:
                return []
            statement = _column_of_aggregates(table, column)
            return [str(v) for v in c.execute(statement, {"tenant": tenant, "ids": ids}).scalars()]

        found.update(of(k, "sourced_id", "classes"))
        found.update(of(e, "class_sourced_id", "enrollments"))
        found.update(of(li, "class_sourced_id", "line_items"))
        courses = of(self.courses.table, "sourced_id", "courses")
        if courses:
            found.update(
                str(v)
                for v in c.execute(
                    sa.select(k.c.sourced_id).where(k.c.tenant == tenant, k.c.course.in_(courses))
                ).scalars()
            )
        students = of(self.users.table, "sourced_id", "users") + kinds.get("erased", [])
        found |= self._classes_of_students(c, tenant, students)
        return found

    def _classes_of_students(self, c: Connection, tenant: str, students: list[str]) -> set[str]:
        """The classes the students have a student enrollment in (of any date or status)."""
        if not students:
            return set()
        statement = _classes_of_students(self.enrollments.table)
        return {
            str(v) for v in c.execute(statement, {"tenant": tenant, "students": students}).scalars()
        }

    def _line_item_changed(
        self, c: Connection, tenant: str, school_class: str, line_item: str
    ) -> None:
        r, s = self.results.table, self.line_item_stats
        rows = c.execute(
            sa.select(r.c.score, r.c.grade, r.c.score_status).where(
                r.c.tenant == tenant, r.c.line_item == line_item, r.c.current.is_(True)
            )
        ).all()
        scores = [
            float(row.score)
            for row in rows
            if row.score is not None and row.score_status not in _NOT_SCORED
        ]
        grades = [g for g in (numeric_grade(row.grade) for row in rows) if g is not None]
        statuses = Counter(str(row.score_status) for row in rows)
        c.execute(s.delete().where(s.c.tenant == tenant, s.c.line_item == line_item))
        c.execute(
            s.insert().values(
                tenant=tenant,
                line_item=line_item,
                class_sourced_id=school_class,
                results=len(rows),
                scores=Distribution.of(scores).as_dict(),
                grades=Distribution.of([float(g) for g in grades]).as_dict(),
                score_statuses=dict(sorted(statuses.items())),
            )
        )

    def _refresh_cards(self, c: Connection, cards: set[tuple[str, str, str]]) -> None:
        """Rewrites the cards of the (tenant, class, student)s from the result and attainment
        rows: a handful of statements per tenant for all of them.

        A card holds each current result as [line item, objectives, cell, numeric grade],
        each assessment as [objective, aggregate version, trend point, evidence] and the
        latest level per objective as its cell, in the JSON shapes a dashboard answers with.
        """
        by_tenant: dict[str, list[tuple[str, str]]] = {}
        for tenant, school_class, student in sorted(cards):
            by_tenant.setdefault(tenant, []).append((school_class, student))
        for tenant, pairs in by_tenant.items():
            self._refresh_tenant_cards(c, tenant, pairs)

    def _refresh_tenant_cards(
        self, c: Connection, tenant: str, pairs: list[tuple[str, str]]
    ) -> None:
        r, a, h, k = (
            self.results.table,
            self.attainments.table,
            self.attainment_history,
            self.student_cards,
        )
        built: dict[tuple[str, str], dict[str, Any]] = {
            pair: {"results": [], "history": [], "latest": {}} for pair in pairs
        }

        def of(table: sa.Table) -> Any:
            return (
                table.c.tenant == tenant,
                sa.tuple_(table.c.class_sourced_id, table.c.student).in_(pairs),
            )

        for row in c.execute(
            sa.select(
                r.c.class_sourced_id,
                r.c.student,
                r.c.line_item,
                r.c.sourced_id,
                r.c.score,
                r.c.grade,
                r.c.score_status,
                r.c.assessed_at,
                r.c.objectives,
                r.c.late,
            )
            .where(*of(r), r.c.current.is_(True))
            .order_by(r.c.assessed_at, r.c.last_position)
        ):
            built[(row.class_sourced_id, row.student)]["results"].append(
                [
                    row.line_item,
                    list(row.objectives),
                    {
                        "sourcedId": row.sourced_id,
                        "score": row.score,
                        "grade": row.grade,
                        "scoreStatus": row.score_status,
                        "assessedAt": row.assessed_at.isoformat(),
                        "late": row.late,
                    },
                    numeric_grade(row.grade),
                ]
            )
        for step in c.execute(
            sa.select(
                h.c.class_sourced_id,
                h.c.student,
                h.c.assessed_at,
                h.c.objective,
                h.c.level,
                h.c.version,
                h.c.evidence,
            )
            .where(*of(h))
            .order_by(h.c.assessed_at, h.c.aggregate_id, h.c.version)
        ):
            built[(step.class_sourced_id, step.student)]["history"].append(
                [
                    step.objective,
                    step.version,
                    {
                        "date": step.assessed_at.isoformat(),
                        "objective": step.objective,
                        "level": step.level,
                    },
                    list(step.evidence),
                ]
            )
        for level in c.execute(
            sa.select(
                a.c.class_sourced_id,
                a.c.student,
                a.c.objective,
                a.c.level,
                a.c.assessed_at,
                a.c.evidence,
            )
            .where(*of(a))
            .order_by(a.c.objective)
        ):
            built[(level.class_sourced_id, level.student)]["latest"][level.objective] = {
                "level": level.level,
                "assessedAt": level.assessed_at.isoformat(),
                "evidence": list(level.evidence),
            }
        c.execute(k.delete().where(*of(k)))
        c.execute(
            k.insert(),
            [
                {
                    "tenant": tenant,
                    "class_sourced_id": school_class,
                    "student": student,
                    "card": card,
                }
                for (school_class, student), card in built.items()
            ],
        )


def _lock_page(c: Connection, key: str) -> None:
    """Takes the transaction's turn at rendering one page (PostgreSQL; SQLite's database
    lock already lets one writer at a time)."""
    if c.dialect.name == "postgresql":
        c.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(key.encode())})


# Built once per table (record_tables.built_once): they run at the end of every batch.


def _column_of_aggregates(table: sa.Table, column: str) -> sa.Select[Any]:
    """`column` of the tenant's rows of the aggregates `ids` (bound: tenant, ids)."""
    return built_once(
        table,
        ("digione_column_of_aggregates", column),
        lambda: sa.select(table.c[column]).where(
            table.c.tenant == sa.bindparam("tenant"),
            table.c.aggregate_id.in_(sa.bindparam("ids", expanding=True)),
        ),
    )


def _classes_of_students(e: sa.Table) -> sa.Select[Any]:
    """The classes of the tenant's student enrollments of `students` (bound)."""
    return built_once(
        e,
        "digione_classes_of_students",
        lambda: sa.select(e.c.class_sourced_id).where(
            e.c.tenant == sa.bindparam("tenant"),
            e.c.role == "student",
            e.c.user_sourced_id.in_(sa.bindparam("students", expanding=True)),
        ),
    )
