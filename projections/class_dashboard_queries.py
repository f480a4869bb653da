"""Reads of the class dashboard read model: a teacher's classes, and a class's dashboard page.

`read_class_dashboard` answers a dashboard page from the tables ClassDashboardProjection
keeps (projections/class_dashboard.py): one row per student (their card), the line items
with their class distributions, and the objectives of the class's curriculum; `teaches`
and `taught_classes` say which classes a teacher may see. The API and the web pages both
call them and unseal the names they return. Each takes a connection and the projection,
whose tables it reads.

The module is somewhat over STYLE's ~500 lines: a dashboard page, its term and subject
filters and the result types it is made of are one read, best read in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.curriculum import Curriculum, Objective
from domain.record import ACTIVE
from projections.class_dashboard import NOT_SUBMITTED, ClassDashboardProjection, Distribution
from projections.record_queries import current_enrollments, records_by_sourced_id
from projections.record_tables import is_current, utc

__all__ = [
    "AttainmentCell",
    "ClassDashboard",
    "GradePoint",
    "LevelPoint",
    "LineItemSummary",
    "MissingWork",
    "ObjectiveColumn",
    "ResultCell",
    "StudentRow",
    "TaughtClass",
    "Term",
    "UnknownTermError",
    "class_objectives",
    "read_class_dashboard",
    "taught_classes",
    "teaches",
]


class UnknownTermError(LookupError):
    """Raised when a term filter names no academic session of the tenant."""


@dataclass(frozen=True)
class Term:
    """An academic session a dashboard is narrowed to (both dates inclusive)."""

    sourced_id: str
    title: str
    start_date: date
    end_date: date

    def holds(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


@dataclass(frozen=True)
class ObjectiveColumn:
    """A curriculum objective of the class, and whether anyone in it has been assessed on it."""

    code: str
    subject: str
    title_fi: str | None
    title_en: str | None
    assessed: bool


@dataclass(frozen=True)
class LineItemSummary:
    sourced_id: str
    title: str
    category: str
    assign_date: datetime
    due_date: datetime
    objectives: list[str]
    result_min: float | None
    result_max: float | None
    results: int
    score_statuses: dict[str, int]
    scores: Distribution
    grades: Distribution


#: A student's latest level of an objective: {"level", "assessedAt", "evidence"}.
AttainmentCell = dict[str, Any]
#: A student's current result of a line item:
#: {"sourcedId", "score", "grade", "scoreStatus", "assessedAt", "late"}.
ResultCell = dict[str, Any]
#: One point of a level trend: {"date", "objective", "level"}.
LevelPoint = dict[str, Any]
#: One point of a grade trend: {"date", "grade" (a number), "lineItem"}.
GradePoint = dict[str, Any]


@dataclass(frozen=True)
class MissingWork:
    line_item: str
    title: str
    due_date: datetime
    #: "no result" or "not submitted".
    reason: str


@dataclass
class StudentRow:
    """A student of a dashboard page. The cells and trend points are JSON-shaped, as the
    student's card holds them (dates as ISO strings), so a page is answered without
    converting each of them again."""

    sourced_id: str
    #: The sealed personal fields (names …) as stored; None when the user is not known yet.
    personal: dict[str, Any] | None
    attainments: dict[str, AttainmentCell] = field(default_factory=dict)
    results: dict[str, ResultCell] = field(default_factory=dict)
    missing: list[MissingWork] = field(default_factory=list)
    #: The page's line items whose current result is marked late, by due date.
    late: list[LineItemSummary] = field(default_factory=list)
    level_trend: list[LevelPoint] = field(default_factory=list)
    grade_trend: list[GradePoint] = field(default_factory=list)


@dataclass(frozen=True)
class ClassDashboard:
    sourced_id: str
    title: str
    class_code: str | None
    course: str
    school: str
    subject_codes: list[str]
    grades: list[str]
    terms: list[str]
    term: Term | None
    subject: str | None
    objectives: list[ObjectiveColumn]
    line_items: list[LineItemSummary]
    students: list[StudentRow]
    total_students: int
    limit: int
    offset: int

    @property
    def unassessed_objectives(self) -> list[ObjectiveColumn]:
        return [o for o in self.objectives if not o.assessed]


def teaches(
    connection: Connection,
    projection: ClassDashboardProjection,
    *,
    tenant: str,
    teacher: str,
    class_id: str,
    today: date,
) -> bool:
    """Whether `teacher` has an active teacher enrollment in an active class on `today`."""
    e, k = projection.enrollments.table, projection.classes.table
    rows = connection.execute(
        sa.select(e.c.begin_date, e.c.end_date)
        .join(k, sa.and_(k.c.tenant == e.c.tenant, k.c.sourced_id == e.c.class_sourced_id))
        .where(
            e.c.tenant == tenant,
            e.c.class_sourced_id == class_id,
            e.c.role == "teacher",
            e.c.user_sourced_id == teacher,
            e.c.status == ACTIVE,
            k.c.status == ACTIVE,
        )
    ).all()
    return any(is_current(row.begin_date, row.end_date, today) for row in rows)


@dataclass(frozen=True)
class TaughtClass:
    """A class a teacher teaches, as their list of classes shows it."""

    sourced_id: str
    title: str
    class_code: str | None
    subject_codes: list[str]
    #: OneRoster grades without their leading zero ("04" → "4").
    grades: list[str]


def taught_classes(
    connection: Connection,
    projection: ClassDashboardProjection,
    *,
    tenant: str,
    teacher: str,
    today: date,
) -> list[TaughtClass]:
    """The active classes `teacher` teaches on `today`, by title: the candidates from the
    enrollments, kept when `teaches` (the dashboard's own rule) accepts them, so the list
    never offers a class whose dashboard would be refused."""
    e, k = projection.enrollments.table, projection.classes.table
    # A class once, however many teacher enrollments name it: chosen by a subquery, as
    # PostgreSQL cannot compare the JSON columns a DISTINCT over the row would need.
    taught = sa.select(e.c.class_sourced_id).where(
        e.c.tenant == tenant, e.c.user_sourced_id == teacher, e.c.role == "teacher"
    )
    rows = connection.execute(
        sa.select(k.c.sourced_id, k.c.title, k.c.class_code, k.c.subject_codes, k.c.grades)
        .where(k.c.tenant == tenant, k.c.status == ACTIVE, k.c.sourced_id.in_(taught))
        .order_by(k.c.title, k.c.sourced_id)
    ).all()
    return [
        TaughtClass(
            row.sourced_id,
            row.title,
            row.class_code,
            list(row.subject_codes or []),
            [g.lstrip("0") or g for g in row.grades or []],
        )
        for row in rows
        if teaches(
            connection,
            projection,
            tenant=tenant,
            teacher=teacher,
            class_id=row.sourced_id,
            today=today,
        )
    ]


def read_class_dashboard(
    connection: Connection,
    projection: ClassDashboardProjection,
    *,
    tenant: str,
    class_id: str,
    now: datetime,
    curriculum: Curriculum,
    term: str | None = None,
    subject: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ClassDashboard | None:
    """One page of a class's dashboard (students `offset`…`offset + limit`, by sourcedId).

    `term` keeps line items due within the academic session's dates, their results, and
    results without a line item, attainments and trend points dated within it. `subject`
    keeps the objectives of that subject, and line items and results linked to one of them
    (or linked to none, in a class of that subject). Class distributions are over every
    current result of a line item. None when the class is not in the read model.
    """
    p = projection
    k = p.classes.table
    klass = connection.execute(
        sa.select(k).where(k.c.tenant == tenant, k.c.sourced_id == class_id, k.c.status == ACTIVE)
    ).first()
    if klass is None:
        return None
    subject_codes, grades = list(klass.subject_codes), list(klass.grades)
    if not subject_codes or not grades:
        c = p.courses.table
        course = connection.execute(
            sa.select(c.c.subject_codes, c.c.grades).where(
                c.c.tenant == tenant, c.c.sourced_id == klass.course
            )
        ).first()
        if course is not None:
            subject_codes = subject_codes or list(course.subject_codes)
            grades = grades or list(course.grades)
    window = _term(connection, p, tenant, term) if term is not None else None
    scope = _Scope(window, subject, subject_codes)

    students, total = _students_page(
        connection, p, tenant, class_id, today=now.date(), limit=limit, offset=offset
    )
    line_items = _line_items(connection, p, tenant, class_id, scope)
    rows = _student_rows(connection, p, tenant, class_id, students, line_items, scope, now)
    assessed = _assessed_objectives(connection, p, tenant, class_id, scope)
    return ClassDashboard(
        sourced_id=class_id,
        title=klass.title,
        class_code=klass.class_code,
        course=klass.course,
        school=klass.school,
        subject_codes=subject_codes,
        grades=grades,
        terms=list(klass.terms),
        term=window,
        subject=subject,
        objectives=_objective_columns(curriculum, subject_codes, grades, scope, assessed),
        line_items=line_items,
        students=rows,
        total_students=total,
        limit=limit,
        offset=offset,
    )


@dataclass(frozen=True)
class _Scope:
    """The term and subject filters, as predicates."""

    term: Term | None
    subject: str | None
    class_subjects: list[str]

    def day(self, day: date) -> bool:
        return self.term is None or self.term.holds(day)

    def days(self) -> tuple[str, str]:
        """The term's first and last day as ISO dates (which compare as the days do)."""
        if self.term is None:
            return "", "9999-12-31"
        return self.term.start_date.isoformat(), self.term.end_date.isoformat()

    def objective(self, code: str) -> bool:
        return self.subject is None or code.startswith(f"{self.subject}.")

    def linked(self, objectives: Iterable[str]) -> bool:
        """Whether something linked to these objectives belongs to the subject filtered by."""
        if self.subject is None:
            return True
        codes = list(objectives)
        if not codes:
            return self.subject in self.class_subjects
        return any(self.objective(code) for code in codes)


def _term(connection: Connection, p: ClassDashboardProjection, tenant: str, term: str) -> Term:
    s = p.sessions.table
    row = connection.execute(
        sa.select(s.c.sourced_id, s.c.title, s.c.start_date, s.c.end_date).where(
            s.c.tenant == tenant, s.c.sourced_id == term, s.c.status == ACTIVE
        )
    ).first()
    if row is None:
        raise UnknownTermError(f"term {term!r} is not an academic session of this tenant")
    return Term(row.sourced_id, row.title, row.start_date, row.end_date)


def _students_page(
    connection: Connection,
    p: ClassDashboardProjection,
    tenant: str,
    class_id: str,
    *,
    today: date,
    limit: int,
    offset: int,
) -> tuple[dict[str, date | None], int]:
    """The page's students (enrolled today) with the day each joined; and how many in all."""
    e = p.enrollments.table
    joined: dict[str, date | None] = {}
    for row in current_enrollments(
        connection, e, e.c.class_sourced_id == class_id, tenant=tenant, role="student", today=today
    ):
        user = str(row.user_sourced_id)
        earlier = joined.get(user, row.begin_date)
        begin = row.begin_date
        joined[user] = None if earlier is None or begin is None else min(earlier, begin)
    ordered = sorted(joined)
    return {user: joined[user] for user in ordered[offset : offset + limit]}, len(ordered)


def _line_items(
    connection: Connection, p: ClassDashboardProjection, tenant: str, class_id: str, scope: _Scope
) -> list[LineItemSummary]:
    li, st = p.line_items.table, p.line_item_stats
    rows = connection.execute(
        sa.select(li, st.c.results, st.c.scores, st.c.grades, st.c.score_statuses)
        .select_from(
            li.outerjoin(st, sa.and_(st.c.tenant == li.c.tenant, st.c.line_item == li.c.sourced_id))
        )
        .where(li.c.tenant == tenant, li.c.class_sourced_id == class_id, li.c.status == ACTIVE)
    ).all()
    items = [
        LineItemSummary(
            sourced_id=row.sourced_id,
            title=row.title,
            category=row.category,
            assign_date=utc(row.assign_date),
            due_date=utc(row.due_date),
            objectives=list(row.objectives),
            result_min=row.result_min,
            result_max=row.result_max,
            results=row.results or 0,
            score_statuses=dict(row.score_statuses or {}),
            scores=Distribution.from_dict(row.scores),
            grades=Distribution.from_dict(row.grades),
        )
        for row in rows
        if scope.day(utc(row.due_date).date()) and scope.linked(row.objectives)
    ]
    return sorted(items, key=lambda i: (i.due_date, i.sourced_id))


def _student_rows(
    connection: Connection,
    p: ClassDashboardProjection,
    tenant: str,
    class_id: str,
    students: dict[str, date | None],
    line_items: list[LineItemSummary],
    scope: _Scope,
    now: datetime,
) -> list[StudentRow]:
    """The page's students with their cells and trends, from one card per student."""
    if not students:
        return []
    ids = list(students)
    k = p.student_cards
    users = records_by_sourced_id(connection, p.users.table, "personal", tenant=tenant, ids=ids)
    personal = {sid: dict(row.personal) for sid, row in users.items()}
    cards = {
        str(row.student): row.card
        for row in connection.execute(
            sa.select(k.c.student, k.c.card).where(
                k.c.tenant == tenant, k.c.class_sourced_id == class_id, k.c.student.in_(ids)
            )
        )
    }
    selected = {item.sourced_id for item in line_items}
    rows = []
    for sid in ids:
        student = StudentRow(sourced_id=sid, personal=personal.get(sid))
        card = cards.get(sid)
        if card is not None:
            _fill(student, card, selected, scope)
        student.missing = _missing_work(student, line_items, joined=students[sid], now=now)
        student.late = [
            item
            for item in line_items
            if student.results.get(item.sourced_id, {}).get("late", False)
        ]
        rows.append(student)
    return rows


def _fill(student: StudentRow, card: Mapping[str, Any], selected: set[str], scope: _Scope) -> None:
    """The student's results, grade and level trends and attainment cells of the page."""
    first, last = scope.days()
    for line_item, objectives, cell, grade in card["results"]:
        if line_item is None:
            if not (first <= cell["assessedAt"] <= last and scope.linked(objectives)):
                continue
        elif line_item not in selected:
            continue
        else:
            student.results[line_item] = cell
        if grade is not None:
            point = {"date": cell["assessedAt"], "grade": grade, "lineItem": line_item}
            student.grade_trend.append(point)
    history = [
        entry
        for entry in card["history"]
        if scope.objective(entry[0]) and first <= entry[2]["date"] <= last
    ]
    student.level_trend = [point for _, _, point, _ in history]
    if scope.term is None:
        student.attainments = {
            objective: cell
            for objective, cell in card["latest"].items()
            if scope.objective(objective)
        }
    else:
        # The level as of the term: the latest assessment within it (by aggregate version).
        for objective, _, point, evidence in sorted(history, key=lambda entry: entry[1]):
            student.attainments[objective] = {
                "level": point["level"],
                "assessedAt": point["date"],
                "evidence": evidence,
            }


def _missing_work(
    student: StudentRow, line_items: list[LineItemSummary], *, joined: date | None, now: datetime
) -> list[MissingWork]:
    """Line items past due with no result of the student, or one `not submitted`.

    Work due before the student joined the class is not theirs to miss.
    """
    missing = []
    for item in line_items:
        if item.due_date >= now or (joined is not None and item.due_date.date() < joined):
            continue
        result = student.results.get(item.sourced_id)
        if result is None:
            missing.append(MissingWork(item.sourced_id, item.title, item.due_date, "no result"))
        elif result["scoreStatus"] == NOT_SUBMITTED:
            missing.append(MissingWork(item.sourced_id, item.title, item.due_date, NOT_SUBMITTED))
    return missing


def _assessed_objectives(
    connection: Connection, p: ClassDashboardProjection, tenant: str, class_id: str, scope: _Scope
) -> set[str]:
    """The objectives anyone in the class has an attainment level of (within the term)."""
    if scope.term is None:
        a = p.attainments.table
        query = sa.select(a.c.objective).where(
            a.c.tenant == tenant, a.c.class_sourced_id == class_id
        )
    else:
        h = p.attainment_history
        query = sa.select(h.c.objective).where(
            h.c.tenant == tenant,
            h.c.class_sourced_id == class_id,
            h.c.assessed_at >= scope.term.start_date,
            h.c.assessed_at <= scope.term.end_date,
        )
    return {str(code) for code in connection.execute(query.distinct()).scalars()}


def _objective_columns(
    curriculum: Curriculum,
    subject_codes: list[str],
    grades: list[str],
    scope: _Scope,
    assessed: set[str],
) -> list[ObjectiveColumn]:
    """The class's curriculum objectives (its subjects, in its grade band), then any other
    objective someone in the class was assessed on."""
    known = {o.code: o for o in curriculum.objectives()}
    codes = [o.code for o in class_objectives(curriculum, subject_codes, grades)]
    codes += sorted(assessed - set(codes))
    columns = []
    for code in codes:
        if not scope.objective(code):
            continue
        objective = known.get(code)
        columns.append(
            ObjectiveColumn(
                code=code,
                subject=objective.subject if objective else code.split(".")[0],
                title_fi=objective.title_fi if objective else None,
                title_en=objective.title_en if objective else None,
                assessed=code in assessed,
            )
        )
    return columns


def class_objectives(
    curriculum: Curriculum, subject_codes: Sequence[str], grades: Sequence[str]
) -> list[Objective]:
    """The curriculum objectives of the subjects, e.g. MA → MA.3-6.*, narrowed to the grade
    bands that hold one of the grades (OneRoster grades such as "04") when any are given."""
    levels = {int(g) for g in grades if g.strip().isdigit()}
    chosen = []
    for subject in dict.fromkeys(subject_codes):
        for objective in curriculum.objectives(subject):
            band = _band(objective.grades)
            if not levels or band is None or any(band[0] <= g <= band[1] for g in levels):
                chosen.append(objective)
    return chosen


def _band(grades: str) -> tuple[int, int] | None:
    """A grade band such as "3-6" as (3, 6); None when it is not one."""
    low, dash, high = grades.partition("-")
    if low.isdigit() and (high.isdigit() if dash else True):
        return int(low), int(high if dash else low)
    return None
