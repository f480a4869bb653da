"""Gradebook blocks of the read models: line items, results and objective attainments.

Each block owns a table (or two) named with its projection's prefix and the handlers that
keep it (projections/record_tables.py has the kit they are built with and the ordering rules).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.record import ACTIVE, TO_BE_DELETED
from projections.base import Handler
from projections.batch_writes import batch_aware, writes_held
from projections.record_tables import (
    SOURCED_ID,
    RecordNotProjectedError,
    ShreddedClasses,
    copying_handler,
    event_type,
    insert_record,
    inserting_handler,
    list_column,
    record_not_projected,
    record_table,
    ref_column,
    status_handlers,
    update_record,
)
from projections.sealed import sealed_record
from streams.codec import EventEnvelope

__all__ = ["AttainmentRows", "LineItemRows", "ResultRows"]


class LineItemRows:
    """Line items (OneRoster gradebook): what is assessed in a class, and when it is due.

    With `last_modified` the rows keep OneRoster's dateLastModified (the roster read model's
    gradebook, which the OneRoster gradebook service reads)."""

    def __init__(self, metadata: sa.MetaData, *, prefix: str, last_modified: bool = False) -> None:
        name = f"{prefix}_line_items"
        self.table = record_table(
            metadata,
            name,
            *_modified_index(name, last_modified),
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
            last_modified=last_modified,
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


def _modified_index(name: str, last_modified: bool) -> list[sa.Index]:
    """With `last_modified` (the OneRoster read model): delta sync filters on it."""
    if not last_modified:
        return []
    return [sa.Index(f"{name}_modified", "tenant", "date_last_modified")]


#: The most (line item, student) pairs one statement marks the current results of.
_PAIRS_PER_STATEMENT = 500

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
        last_modified: bool = False,
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
        columns.extend(_modified_index(name, last_modified))
        self.table = record_table(metadata, name, *columns, last_modified=last_modified)
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

    @batch_aware
    def _recorded(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        line_item = p["line_item"]
        insert_record(
            c,
            self.table,
            e,
            class_sourced_id=p["school_class"],
            student=p["student"],
            line_item=line_item,
            # A result without a line item stands alone: current while active, as it is
            # when recorded. Of a (student, line item) settling says which is.
            current=line_item is None,
            **self._assessment(c, e, p["student"]),
        )
        self._settle(c, e.tenant, p["school_class"], p["student"], line_item)

    @batch_aware
    def _corrected(self, c: Connection, e: EventEnvelope) -> None:
        school_class, student, line_item, status = self._placed(c, e)
        values = self._assessment(c, e, student)
        if line_item is None:
            values["current"] = status == ACTIVE
        update_record(c, self.table, e, values)
        self._settle(c, e.tenant, school_class, student, line_item)

    def _status(self, status: str) -> Handler:
        @batch_aware
        def handle(c: Connection, e: EventEnvelope) -> None:
            school_class, student, line_item, _ = self._placed(c, e)
            values: dict[str, Any] = {"status": status, "last_position": e.position}
            if line_item is None:
                values["current"] = status == ACTIVE
            update_record(c, self.table, e, values)
            self._settle(c, e.tenant, school_class, student, line_item)

        return handle

    def _placed(self, c: Connection, e: EventEnvelope) -> tuple[str, str, str | None, str]:
        """The class, student, line item and status of the event's result (the batch's held
        row first)."""
        t = self.table
        writes = writes_held(c)
        held = None if writes is None else writes.created_record(t, e.tenant, str(e.aggregate_id))
        if held is not None:
            row: Any = (
                held["class_sourced_id"],
                held["student"],
                held["line_item"],
                held["status"],
            )
        else:
            row = c.execute(
                sa.select(t.c.class_sourced_id, t.c.student, t.c.line_item, t.c.status).where(
                    t.c.tenant == e.tenant, t.c.aggregate_id == str(e.aggregate_id)
                )
            ).first()
            if row is None:
                raise record_not_projected(t, e)
        line_item = row[2]
        return str(row[0]), str(row[1]), None if line_item is None else str(line_item), str(row[3])

    def _settle(
        self, c: Connection, tenant: str, school_class: str, student: str, line_item: str | None
    ) -> None:
        """Has the current result of the (student, line item) marked: at once, or once at
        the batch's flush when the batch holds its writes (only these handlers change the
        pair's rows, and nothing reads `current` before the flush)."""
        if line_item is not None:
            writes = writes_held(c)
            if writes is None:
                self._mark_current(c, tenant, line_item, student)
            else:
                writes.after_flush(
                    (self.table.name, "current"), (tenant, line_item, student), self._mark_currents
                )
        if self._on_settled is not None:
            self._on_settled(c, tenant, school_class, student, line_item)

    def _mark_current(self, c: Connection, tenant: str, line_item: str, student: str) -> None:
        """Marks the active result of the (student, line item) whose last event came latest
        in the store as its current one."""
        t = self.table
        pair = (t.c.tenant == tenant, t.c.line_item == line_item, t.c.student == student)
        latest = c.execute(
            sa.select(t.c.sourced_id)
            .where(*pair, t.c.status == ACTIVE)
            .order_by(t.c.last_position.desc())
            .limit(1)
        ).scalar()
        c.execute(t.update().where(*pair).values(current=t.c.sourced_id == latest))

    def _mark_currents(self, c: Connection, pairs: list[tuple[str, str, str]]) -> None:
        """`_mark_current` of many (tenant, line item, student) pairs: one statement per
        tenant and up to _PAIRS_PER_STATEMENT of its pairs, where a batch of results made
        two per pair (a rebuild's or a class's grading session: hundreds)."""
        by_tenant: dict[str, list[tuple[str, str]]] = {}
        for tenant, line_item, student in pairs:
            by_tenant.setdefault(tenant, []).append((line_item, student))
        for tenant, of_tenant in by_tenant.items():
            for start in range(0, len(of_tenant), _PAIRS_PER_STATEMENT):
                c.execute(
                    self._mark_currents_statement,
                    {
                        "of_tenant": tenant,
                        "pairs": of_tenant[start : start + _PAIRS_PER_STATEMENT],
                    },
                )

    @functools.cached_property
    def _mark_currents_statement(self) -> sa.Update:
        """Each row of the pairs current when it is the pair's active row whose last event
        came latest (false, not null, when the pair has none: as `_mark_current`)."""
        t = self.table
        other = t.alias("latest")
        latest = (
            sa.select(other.c.sourced_id)
            .where(
                other.c.tenant == t.c.tenant,
                other.c.line_item == t.c.line_item,
                other.c.student == t.c.student,
                other.c.status == ACTIVE,
            )
            .order_by(other.c.last_position.desc())
            .limit(1)
            .scalar_subquery()
        )
        return (
            t.update()
            .where(
                t.c.tenant == sa.bindparam("of_tenant"),
                sa.tuple_(t.c.line_item, t.c.student).in_(sa.bindparam("pairs", expanding=True)),
            )
            .values(current=sa.func.coalesce(t.c.sourced_id == latest, sa.false()))
        )


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

    # The statements are built once and given each event's values as parameters: a
    # demo's or a rebuild's thousands of attainments spent more of their time building a
    # statement per event (and its cache key) than running it.

    @functools.cached_property
    def _insert(self) -> sa.Insert:
        return self.table.insert()

    @functools.cached_property
    def _insert_history(self) -> sa.Insert:
        assert self.history is not None
        return self.history.insert()

    @functools.cached_property
    def _reassess(self) -> sa.Update:
        """Sets the columns given by name; the row by `of_tenant` and `of_aggregate`."""
        t = self.table
        return (
            t.update()
            .where(
                t.c.tenant == sa.bindparam("of_tenant"),
                t.c.aggregate_id == sa.bindparam("of_aggregate"),
            )
            .returning(t.c.class_sourced_id, t.c.student, t.c.objective)
        )

    def _assessed(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        c.execute(
            self._insert,
            {
                "tenant": e.tenant,
                "aggregate_id": str(e.aggregate_id),
                "class_sourced_id": p["school_class"],
                "student": p["student"],
                "objective": p["objective"],
                "subject": p["subject"],
                "level": p["level"],
                "assessed_at": p["assessed_at"],
                "evidence": p["evidence"],
                "assessor": p["assessor"],
            },
        )
        self._remember(c, e, p["school_class"], p["student"], p["objective"])

    def _reassessed(self, c: Connection, e: EventEnvelope) -> None:
        p = e.payload
        t = self.table
        row = c.execute(
            self._reassess,
            {
                "of_tenant": e.tenant,
                "of_aggregate": str(e.aggregate_id),
                "level": p["level"],
                "assessed_at": p["assessed_at"],
                "evidence": p["evidence"],
                "assessor": p["assessor"],
            },
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
            self._insert_history,
            {
                "tenant": e.tenant,
                "aggregate_id": str(e.aggregate_id),
                "version": e.aggregate_version,
                "class_sourced_id": school_class,
                "student": student,
                "objective": objective,
                "level": p["level"],
                "assessed_at": p["assessed_at"],
                "evidence": p["evidence"],
            },
        )
