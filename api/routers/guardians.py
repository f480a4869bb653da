"""Guardian views: a guardian's children, and what each child's school records say.

A guardian sees a child while the child's user record names them as an agent and the child
is under 18 (guardianship ends at majority; the birth date is sealed and opened here, at
read time). Either ending ends access at once. A student sees their own view.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Connection

from api.bootstrap import Container
from api.deps import ActorDep, ContainerDep, TenantAppDep
from api.disclosures import RIGHT_OF_ACCESS, STATUTORY_TASK
from api.models import Problem
from api.reading import (
    LEVEL_TEXTS,
    Unsealer,
    age_on,
    document,
    not_permitted,
    objective_titles,
    read_model,
)
from api.routers.roster_reads import MinPosition, wait_until_fresh
from domain.application import TenantApplication
from domain.commands import Actor
from domain.consent import AGE_OF_MAJORITY
from projections.catalogue import all_projections
from projections.guardian_view import GuardianViewProjection
from projections.guardian_view_queries import (
    ChildView,
    birth_record,
    is_linked,
    linked_children,
    read_child_view,
)

router = APIRouter(prefix="/api/v1", tags=["guardian views"])

VIEW = next(p for p in all_projections() if isinstance(p, GuardianViewProjection))

_NOT_YOURS = "a child's view is shown only to the child's guardian (while under 18) or the child"
#: What a child's view discloses of the child, and of the teachers named in it.
_DISCLOSED = ("identity", "roster", "assessment", "attainment")
_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "Not your child (or no such student)"},
    504: {"model": Problem, "description": "The read model did not reach min_position"},
}


@router.get(
    "/guardians/me/children",
    response_class=JSONResponse,
    responses=_REFUSALS,
    summary="The caller's children: students naming the caller as guardian, under 18",
)
def my_children(
    actor: ActorDep,
    app: TenantAppDep,
    container: ContainerDep,
    min_position: MinPosition = None,
) -> Response:
    if actor.role != "guardian":
        raise not_permitted("only a guardian has children to list")
    wait_until_fresh(container, actor.tenant, VIEW.name, min_position)
    return document(children_for(container, app, actor))


@router.get(
    "/guardians/me/children/{studentSourcedId}",
    response_class=JSONResponse,
    responses=_REFUSALS,
    summary="A child's classes, teachers, results with verbal feedback, attainments and "
    "consents (a guardian of the child, or the student themself)",
)
def my_child(
    studentSourcedId: Annotated[str, Path(max_length=128)],
    actor: ActorDep,
    app: TenantAppDep,
    container: ContainerDep,
    min_position: MinPosition = None,
) -> Response:
    if actor.role not in ("guardian", "student"):
        raise not_permitted(_NOT_YOURS)
    wait_until_fresh(container, actor.tenant, VIEW.name, min_position)
    return document(child_view_for(container, app, actor, studentSourcedId))


@router.get(
    "/students/me",
    response_class=JSONResponse,
    responses=_REFUSALS,
    summary="The calling student's own view, as their guardians see it",
)
def my_own_view(
    actor: ActorDep,
    app: TenantAppDep,
    container: ContainerDep,
    min_position: MinPosition = None,
) -> Response:
    if actor.role != "student":
        raise not_permitted("only a student has a view of their own")
    wait_until_fresh(container, actor.tenant, VIEW.name, min_position)
    return document(child_view_for(container, app, actor, actor.subject))


def children_for(container: Container, app: TenantApplication, actor: Actor) -> dict[str, Any]:
    """The guardian's children under 18, names unsealed (the web pages call this too)."""
    if actor.role != "guardian":
        raise not_permitted("only a guardian has children to list")
    now = container.clock()
    unsealer = Unsealer(app.sealer)
    with read_model(container) as connection:
        children = linked_children(connection, VIEW, tenant=actor.tenant, guardian=actor.subject)
    minors = [child for child, born in children if _minor(unsealer, born, now.date())]
    container.disclosures.record(
        tenant=actor.tenant, subjects=[c.sourced_id for c in minors],
        recipient=actor.subject, recipient_role=actor.role, categories=["identity"],
        basis=STATUTORY_TASK, at=now,
    )
    return {
        "children": [
            {"sourcedId": child.sourced_id, "name": unsealer.name(child.personal)}
            for child in minors
        ]
    }


def child_view_for(
    container: Container, app: TenantApplication, actor: Actor, student: str
) -> dict[str, Any]:
    """A child's view as JSON; 403 unless `actor` is the student or a guardian of the minor.

    The same refusal whether or not the student exists, so it tells nothing about others.
    """
    now = container.clock()
    unsealer = Unsealer(app.sealer)
    with read_model(container) as connection:
        if not _may_see(connection, unsealer, actor, student, now.date()):
            raise not_permitted(_NOT_YOURS)
        view = read_child_view(
            connection, VIEW, tenant=actor.tenant, student=student, today=now.date()
        )
    if view is None:
        raise not_permitted(_NOT_YOURS)
    answer = child_view_json(view, unsealer, app)
    teachers = {t.sourced_id for c in view.classes for t in c.teachers}
    teachers |= {r.assessor.sourced_id for r in view.results}
    for subjects, categories, basis in (
        ([student], _DISCLOSED, RIGHT_OF_ACCESS if actor.subject == student else STATUTORY_TASK),
        (sorted(teachers), ("identity",), STATUTORY_TASK),
    ):
        container.disclosures.record(
            tenant=actor.tenant, subjects=subjects, recipient=actor.subject,
            recipient_role=actor.role, categories=categories, basis=basis, at=now,
        )
    return answer


def _may_see(
    connection: Connection, unsealer: Unsealer, actor: Actor, student: str, today: date
) -> bool:
    if actor.role == "student":
        return actor.subject == student
    if actor.role != "guardian":
        return False
    if not is_linked(connection, VIEW, tenant=actor.tenant, guardian=actor.subject,
                     student=student):
        return False
    return _minor(unsealer, birth_record(connection, VIEW, tenant=actor.tenant, student=student),
                  today)


def _minor(unsealer: Unsealer, demographics: dict[str, Any] | None, today: date) -> bool:
    """Under 18, or of unknown age (no birth date recorded: the domain's rule for consents)."""
    born = unsealer.birth_date(demographics)
    return born is None or age_on(born, today) < AGE_OF_MAJORITY


def child_view_json(view: ChildView, unsealer: Unsealer, app: TenantApplication) -> dict[str, Any]:
    """The JSON of a child's view; personal data opened with `unsealer`."""
    curriculum = app.curriculum
    return {
        "student": {"sourcedId": view.student.sourced_id,
                    "name": unsealer.name(view.student.personal)},
        "classes": [
            {
                "sourcedId": c.sourced_id,
                "title": c.title,
                "course": {"sourcedId": c.course, "title": c.course_title},
                "subjectCodes": c.subject_codes,
                "teachers": [
                    {"sourcedId": t.sourced_id, "name": unsealer.name(t.personal)}
                    for t in c.teachers
                ],
            }
            for c in view.classes
        ],
        "results": [
            {
                "sourcedId": r.sourced_id,
                "class": {"sourcedId": r.class_sourced_id, "title": r.class_title},
                "lineItem": None if r.line_item is None else {
                    "sourcedId": r.line_item,
                    "title": r.line_item_title,
                    "category": r.category,
                    "dueDate": None if r.due_date is None else r.due_date.isoformat(),
                },
                "score": r.score,
                "grade": r.grade,
                "scoreStatus": r.score_status,
                "late": r.late,
                "assessedAt": r.assessed_at.isoformat(),
                "objectives": [
                    {"code": code, "titles": objective_titles(curriculum, code)}
                    for code in r.objectives
                ],
                "assessor": {"sourcedId": r.assessor.sourced_id,
                             "name": unsealer.name(r.assessor.personal)},
                "comment": unsealer.text(r.comment, "comment"),
            }
            for r in view.results
        ],
        "attainments": [
            {
                "objective": {"code": a.objective, "subject": a.subject,
                              "titles": objective_titles(curriculum, a.objective)},
                "class": {"sourcedId": a.class_sourced_id, "title": a.class_title},
                "level": a.level,
                "levelText": dict(LEVEL_TEXTS.get(a.level, {})),
                "assessedAt": a.assessed_at.isoformat(),
                "evidence": [{"sourcedId": code, "title": title} for code, title in a.evidence],
            }
            for a in view.attainments
        ],
        "consents": [
            {
                "consentId": c.consent_id,
                "recipient": c.recipient,
                "purposes": c.purposes,
                "categories": c.categories,
                "grantedBy": c.granted_by,
                "grantorRelation": c.grantor_relation,
                "grantedAt": c.granted_at.isoformat(),
                "validUntil": None if c.valid_until is None else c.valid_until.isoformat(),
                "state": c.state,
                "revokedAt": None if c.revoked_at is None else c.revoked_at.isoformat(),
                "expiredOn": None if c.expired_on is None else c.expired_on.isoformat(),
            }
            for c in view.consents
        ],
    }
