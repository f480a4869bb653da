"""Reads of the guardian view read model: a guardian's children, and a child's view.

`read_child_view`, `linked_children`, `is_linked` and `birth_record` answer from the tables
GuardianViewProjection keeps (projections/guardian_view.py); the API and the web pages both
call them, with a connection and the projection, whose tables they read. Who may read (a
linked guardian of a minor, the student themself) is the API's decision: the child's age
needs the sealed birth date opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.consent import EXPIRED, GRANTED
from domain.record import ACTIVE
from projections.guardian_view import GuardianViewProjection
from projections.record_queries import current_enrollments, records_by_sourced_id
from projections.record_tables import utc

__all__ = [
    "ChildAttainment",
    "ChildClass",
    "ChildConsent",
    "ChildResult",
    "ChildView",
    "Person",
    "birth_record",
    "is_linked",
    "linked_children",
    "read_child_view",
]


@dataclass(frozen=True)
class Person:
    sourced_id: str
    #: The sealed personal fields as stored; None when the user is not in the read model.
    personal: dict[str, Any] | None


@dataclass(frozen=True)
class ChildClass:
    sourced_id: str
    title: str
    course: str
    course_title: str | None
    subject_codes: list[str]
    teachers: list[Person]


@dataclass(frozen=True)
class ChildResult:
    sourced_id: str
    class_sourced_id: str
    class_title: str | None
    line_item: str | None
    line_item_title: str | None
    category: str | None
    due_date: datetime | None
    score: float | None
    grade: str | None
    score_status: str
    #: Submitted past the due date (OneRoster 1.2 Result.late).
    late: bool
    objectives: list[str]
    assessed_at: date
    assessor: Person
    #: The sealed verbal assessment ({"comment": …} once opened), or None.
    comment: dict[str, Any] | None
    #: The line item's highest score (OneRoster resultValueMax), when it has one.
    result_max: float | None = None


@dataclass(frozen=True)
class ChildAttainment:
    class_sourced_id: str
    class_title: str | None
    objective: str
    subject: str
    level: int
    assessed_at: date
    #: (line item sourcedId, its title when known).
    evidence: list[tuple[str, str | None]]


@dataclass(frozen=True)
class ChildConsent:
    consent_id: str
    granted_by: str
    grantor_relation: str
    recipient: str
    purposes: list[str]
    categories: list[str]
    valid_until: date | None
    granted_at: datetime
    #: granted, revoked or expired (also when `valid_until` has passed and the expiry
    #: event is not recorded yet: a consent never reads as in force after its end).
    state: str
    revoked_at: datetime | None
    expired_on: date | None


@dataclass(frozen=True)
class ChildView:
    student: Person
    classes: list[ChildClass]
    results: list[ChildResult]
    attainments: list[ChildAttainment]
    consents: list[ChildConsent]


def is_linked(
    connection: Connection,
    projection: GuardianViewProjection,
    *,
    tenant: str,
    guardian: str,
    student: str,
) -> bool:
    """Whether the student's user record names `guardian` among its agents."""
    g = projection.guardian_links
    return (
        connection.execute(
            sa.select(g.c.student).where(
                g.c.tenant == tenant, g.c.guardian == guardian, g.c.student == student
            )
        ).first()
        is not None
    )


def birth_record(
    connection: Connection, projection: GuardianViewProjection, *, tenant: str, student: str
) -> dict[str, Any] | None:
    """The student's sealed demographics (holding birthDate), or None when not recorded."""
    d = projection.demographics.table
    row = connection.execute(
        sa.select(d.c.personal).where(
            d.c.tenant == tenant, d.c.sourced_id == student, d.c.status == ACTIVE
        )
    ).first()
    return None if row is None else dict(row[0])


def linked_children(
    connection: Connection, projection: GuardianViewProjection, *, tenant: str, guardian: str
) -> list[tuple[Person, dict[str, Any] | None]]:
    """The active students linked to `guardian`, each with their sealed demographics."""
    g, u, d = projection.guardian_links, projection.users.table, projection.demographics.table
    rows = connection.execute(
        sa.select(u.c.sourced_id, u.c.personal, d.c.personal.label("demographics"))
        .select_from(
            g.join(u, sa.and_(u.c.tenant == g.c.tenant, u.c.sourced_id == g.c.student)).outerjoin(
                d,
                sa.and_(
                    d.c.tenant == g.c.tenant, d.c.sourced_id == g.c.student, d.c.status == ACTIVE
                ),
            )
        )
        .where(g.c.tenant == tenant, g.c.guardian == guardian, u.c.status == ACTIVE)
        .order_by(u.c.sourced_id)
    ).all()
    return [
        (
            Person(row.sourced_id, dict(row.personal)),
            None if row.demographics is None else dict(row.demographics),
        )
        for row in rows
    ]


def read_child_view(
    connection: Connection,
    projection: GuardianViewProjection,
    *,
    tenant: str,
    student: str,
    today: date,
) -> ChildView | None:
    """Everything the view shows of an active student; None when there is no such student."""
    p = projection
    u = p.users.table
    row = connection.execute(
        sa.select(u.c.personal).where(
            u.c.tenant == tenant, u.c.sourced_id == student, u.c.status == ACTIVE
        )
    ).first()
    if row is None:
        return None
    results = _results(connection, p, tenant, student)
    attainments = connection.execute(
        sa.select(p.attainments.table)
        .where(p.attainments.table.c.tenant == tenant, p.attainments.table.c.student == student)
        .order_by(p.attainments.table.c.objective, p.attainments.table.c.class_sourced_id)
    ).all()
    classes = _classes(connection, p, tenant, student, today)

    class_ids = {c.sourced_id for c in classes} | {r.class_sourced_id for r in results}
    class_ids |= {a.class_sourced_id for a in attainments}
    titles = _titles(connection, p.classes.table, tenant, class_ids)
    items = {r.line_item for r in results if r.line_item is not None}
    items |= {code for a in attainments for code in a.evidence}
    line_items = _line_item_rows(connection, p, tenant, items)
    people = _people(
        connection,
        p,
        tenant,
        {r.assessor for r in results} | {t.sourced_id for c in classes for t in c.teachers},
    )
    return ChildView(
        student=Person(student, dict(row.personal)),
        classes=[
            ChildClass(
                c.sourced_id,
                c.title,
                c.course,
                c.course_title,
                c.subject_codes,
                [people.get(t.sourced_id, t) for t in c.teachers],
            )
            for c in classes
        ],
        results=[
            ChildResult(
                sourced_id=r.sourced_id,
                class_sourced_id=r.class_sourced_id,
                class_title=titles.get(r.class_sourced_id),
                line_item=r.line_item,
                line_item_title=_field(line_items, r.line_item, "title"),
                category=_field(line_items, r.line_item, "category"),
                due_date=_due(line_items, r.line_item),
                score=r.score,
                grade=r.grade,
                score_status=r.score_status,
                late=r.late,
                objectives=list(r.objectives),
                assessed_at=r.assessed_at,
                assessor=people.get(r.assessor, Person(r.assessor, None)),
                comment=None if r.comment is None else dict(r.comment),
                result_max=_number(line_items, r.line_item, "result_max"),
            )
            for r in results
        ],
        attainments=[
            ChildAttainment(
                class_sourced_id=a.class_sourced_id,
                class_title=titles.get(a.class_sourced_id),
                objective=a.objective,
                subject=a.subject,
                level=a.level,
                assessed_at=a.assessed_at,
                evidence=[(code, _field(line_items, code, "title")) for code in a.evidence],
            )
            for a in attainments
        ],
        consents=_consents(connection, p, tenant, student, today),
    )


def _results(
    connection: Connection, p: GuardianViewProjection, tenant: str, student: str
) -> list[Any]:
    r = p.results.table
    return list(
        connection.execute(
            sa.select(r)
            .where(r.c.tenant == tenant, r.c.student == student, r.c.current.is_(True))
            .order_by(r.c.assessed_at.desc(), r.c.last_position.desc())
        ).all()
    )


def _classes(
    connection: Connection, p: GuardianViewProjection, tenant: str, student: str, today: date
) -> list[ChildClass]:
    """The classes the student is enrolled in today, with their teachers of today."""
    e, k, c = p.enrollments.table, p.classes.table, p.courses.table
    enrolled = {
        str(row.class_sourced_id)
        for row in current_enrollments(
            connection,
            e,
            e.c.user_sourced_id == student,
            tenant=tenant,
            role="student",
            today=today,
        )
    }
    if not enrolled:
        return []
    rows = connection.execute(
        sa.select(
            k.c.sourced_id,
            k.c.title,
            k.c.course,
            k.c.subject_codes,
            c.c.title.label("course_title"),
            c.c.subject_codes.label("course_subjects"),
        )
        .select_from(
            k.outerjoin(c, sa.and_(c.c.tenant == k.c.tenant, c.c.sourced_id == k.c.course))
        )
        .where(k.c.tenant == tenant, k.c.sourced_id.in_(enrolled), k.c.status == ACTIVE)
        .order_by(k.c.title, k.c.sourced_id)
    ).all()
    teachers: dict[str, list[Person]] = {}
    for row in current_enrollments(
        connection,
        e,
        e.c.class_sourced_id.in_(enrolled),
        tenant=tenant,
        role="teacher",
        today=today,
    ):
        listed = teachers.setdefault(str(row.class_sourced_id), [])
        if all(t.sourced_id != row.user_sourced_id for t in listed):
            listed.append(Person(str(row.user_sourced_id), None))
    return [
        ChildClass(
            sourced_id=row.sourced_id,
            title=row.title,
            course=row.course,
            course_title=row.course_title,
            subject_codes=list(row.subject_codes or row.course_subjects or []),
            teachers=teachers.get(row.sourced_id, []),
        )
        for row in rows
    ]


def _titles(connection: Connection, table: sa.Table, tenant: str, ids: set[str]) -> dict[str, str]:
    found = records_by_sourced_id(connection, table, "title", tenant=tenant, ids=ids)
    return {sid: str(row.title) for sid, row in found.items()}


def _line_item_rows(
    connection: Connection, p: GuardianViewProjection, tenant: str, ids: set[str]
) -> dict[str, Any]:
    li = p.line_items.table
    return records_by_sourced_id(
        connection, li, "title", "category", "due_date", "result_max", tenant=tenant, ids=ids
    )


def _field(rows: Mapping[str, Any], key: str | None, name: str) -> str | None:
    row = rows.get(key) if key is not None else None
    return None if row is None else str(getattr(row, name))


def _number(rows: Mapping[str, Any], key: str | None, name: str) -> float | None:
    row = rows.get(key) if key is not None else None
    value = None if row is None else getattr(row, name)
    return None if value is None else float(value)


def _due(rows: Mapping[str, Any], key: str | None) -> datetime | None:
    row = rows.get(key) if key is not None else None
    return None if row is None else utc(row.due_date)


def _people(
    connection: Connection, p: GuardianViewProjection, tenant: str, ids: set[str]
) -> dict[str, Person]:
    found = records_by_sourced_id(connection, p.users.table, "personal", tenant=tenant, ids=ids)
    return {sid: Person(sid, dict(row.personal)) for sid, row in found.items()}


def _consents(
    connection: Connection, p: GuardianViewProjection, tenant: str, student: str, today: date
) -> list[ChildConsent]:
    k = p.consents
    consents = []
    for row in connection.execute(
        sa.select(k)
        .where(k.c.tenant == tenant, k.c.student == student)
        .order_by(k.c.granted_at.desc(), k.c.consent_id)
    ):
        state = row.state
        if state == GRANTED and row.valid_until is not None and today > row.valid_until:
            state = EXPIRED  # as Consent.expire decides; its event may not be recorded yet
        consents.append(
            ChildConsent(
                consent_id=row.consent_id,
                granted_by=row.granted_by,
                grantor_relation=row.grantor_relation,
                recipient=row.recipient,
                purposes=list(row.purposes),
                categories=list(row.categories),
                valid_until=row.valid_until,
                granted_at=utc(row.granted_at),
                state=state,
                revoked_at=None if row.revoked_at is None else utc(row.revoked_at),
                expired_on=row.expired_on,
            )
        )
    return consents
