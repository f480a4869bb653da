"""Teacher dashboards: a class's students × objectives, results with the class distribution,
missing work, trends, and the objectives nobody has been assessed on yet."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from api.bootstrap import Container
from api.deps import ActorDep, ContainerDep, TenantAppDep
from api.disclosures import STATUTORY_TASK
from api.models import Problem
from api.problems import ProblemError
from api.reading import Unsealer, document, not_permitted, read_model
from api.routers.roster_reads import MinPosition, wait_until_fresh
from domain.application import TenantApplication
from domain.commands import Actor
from domain.curriculum import UnknownSubjectError
from projections.catalogue import all_projections
from projections.class_dashboard import ClassDashboardProjection, Distribution
from projections.class_dashboard_queries import (
    ClassDashboard,
    UnknownTermError,
    read_class_dashboard,
    teaches,
)

router = APIRouter(prefix="/api/v1/dashboards", tags=["teacher dashboards"])

DASHBOARD = next(p for p in all_projections() if isinstance(p, ClassDashboardProjection))

_NOT_YOURS = "a class dashboard is shown only to a teacher of the class"
#: What a dashboard page discloses of each student on it (api/disclosures.py).
_DISCLOSED = ("identity", "roster", "assessment", "attainment")


@router.get(
    "/classes/{classSourcedId}",
    response_class=JSONResponse,
    responses={
        403: {"model": Problem, "description": "Not a teacher of the class (or no such class)"},
        422: {"model": Problem, "description": "Unknown term or subject"},
        504: {"model": Problem, "description": "The read model did not reach min_position"},
    },
    summary="A class's dashboard for a teacher of the class",
    description="Students (paged by sourcedId) × curriculum objectives with each latest "
    "attainment level, date and evidence; results per line item with the class "
    "distribution (mean, median, spread = population standard deviation, min, max); "
    "students with missing work (no result for a line item past due, or `not submitted`) "
    "and with late work (a result marked `late`); "
    "each student's trend (attainment levels and numeric grades over time); and the "
    "objectives of the class's subjects nobody in it has been assessed on yet.",
)
def class_dashboard(
    classSourcedId: Annotated[str, Path(max_length=128)],
    actor: ActorDep,
    app: TenantAppDep,
    container: ContainerDep,
    term: Annotated[str | None, Query(max_length=128, description=(
        "An academic session's sourcedId: only line items due, and results and "
        "attainments dated, within its dates."))] = None,
    subject: Annotated[str | None, Query(max_length=16, description=(
        "A subject code, e.g. MA: only its objectives and what is linked to them."))] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Students per page.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Students to skip.")] = 0,
    min_position: MinPosition = None,
) -> Response:
    if actor.role != "teacher":
        raise not_permitted(_NOT_YOURS)
    wait_until_fresh(container, actor.tenant, DASHBOARD.name, min_position)
    return document(class_dashboard_for(
        container, app, actor, classSourcedId,
        term=term, subject=subject, limit=limit, offset=offset,
    ))


def class_dashboard_for(
    container: Container,
    app: TenantApplication,
    actor: Actor,
    class_id: str,
    *,
    term: str | None = None,
    subject: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """The dashboard as JSON, names unsealed; 403 unless `actor` teaches the class today.

    The web pages call this too, so both refuse and show exactly the same.
    """
    now = container.clock()
    if subject is not None:
        try:
            app.curriculum.subject(subject)
        except UnknownSubjectError as error:
            raise ProblemError(422, "unknown-subject", "Unknown subject", str(error),
                               field="subject") from None
    with read_model(container) as connection:
        if actor.role != "teacher" or not teaches(
            connection, DASHBOARD, tenant=actor.tenant, teacher=actor.subject,
            class_id=class_id, today=now.date(),
        ):
            raise not_permitted(_NOT_YOURS)
        try:
            dashboard = read_class_dashboard(
                connection, DASHBOARD, tenant=actor.tenant, class_id=class_id, now=now,
                curriculum=app.curriculum, term=term, subject=subject, limit=limit,
                offset=offset,
            )
        except UnknownTermError as error:
            raise ProblemError(422, "unknown-term", "Unknown term", str(error),
                               field="term") from None
    if dashboard is None:
        raise not_permitted(_NOT_YOURS)
    answer = dashboard_json(dashboard, Unsealer(app.sealer))
    container.disclosures.record(
        tenant=actor.tenant,
        subjects=[s.sourced_id for s in dashboard.students], recipient=actor.subject,
        recipient_role=actor.role, categories=_DISCLOSED, basis=STATUTORY_TASK, at=now,
    )
    return answer


def dashboard_json(dashboard: ClassDashboard, unsealer: Unsealer) -> dict[str, Any]:
    """The JSON of a dashboard page; names opened with `unsealer` ("erased" when erased)."""
    d = dashboard
    names = {s.sourced_id: unsealer.name(s.personal) for s in d.students}
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
            "term": None if d.term is None else {
                "sourcedId": d.term.sourced_id,
                "title": d.term.title,
                "startDate": d.term.start_date.isoformat(),
                "endDate": d.term.end_date.isoformat(),
            },
            "subject": d.subject,
        },
        "page": {"limit": d.limit, "offset": d.offset, "total": d.total_students},
        "objectives": [
            {"code": o.code, "subject": o.subject, "titles": {"fi": o.title_fi, "en": o.title_en},
             "assessed": o.assessed}
            for o in d.objectives
        ],
        "unassessedObjectives": [o.code for o in d.unassessed_objectives],
        "lineItems": [
            {
                "sourcedId": i.sourced_id,
                "title": i.title,
                "category": i.category,
                "assignDate": _instant(i.assign_date),
                "dueDate": _instant(i.due_date),
                "objectives": i.objectives,
                "resultValueMin": i.result_min,
                "resultValueMax": i.result_max,
                "results": i.results,
                "scoreStatuses": i.score_statuses,
                "scores": _distribution(i.scores),
                "grades": _distribution(i.grades),
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
                    {"sourcedId": item.sourced_id, "title": item.title,
                     "dueDate": _instant(item.due_date),
                     "assessedAt": s.results[item.sourced_id]["assessedAt"]}
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
                    {"sourcedId": m.line_item, "title": m.title, "dueDate": _instant(m.due_date),
                     "reason": m.reason}
                    for m in s.missing
                ],
            }
            for s in d.students
            if s.missing
        ],
    }


def _distribution(value: Distribution) -> dict[str, Any]:
    return value.as_dict()


def _instant(value: datetime) -> str:
    return value.isoformat()
