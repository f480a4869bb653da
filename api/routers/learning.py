"""Learning-record commands: line items, assessments and objective attainments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import (
    ActorDep,
    CommandRoute,
    IdempotencyKey,
    Permit,
    SourcedIdPath,
    TenantAppDep,
)
from api.idempotency import run_idempotently
from api.models import (
    COMMAND_ERRORS,
    AssessmentIn,
    AttainmentIn,
    AttainmentWritten,
    LineItemIn,
    RecordWritten,
    record_written,
)
from api.problems import ProblemError
from domain.command_roles import require_teacher
from domain.commands import Outcome, PutLineItem, RecordAssessment, RecordAttainment

router = APIRouter(prefix="/api/v1", tags=["learning-record commands"], route_class=CommandRoute)
#: Checked before the body is read; whether they teach the class is checked after.
_TEACHER = [Depends(Permit(require_teacher))]


class LineItemEnvelope(BaseModel):
    lineItem: LineItemIn


@router.put(
    "/lineItems/{sourcedId}",
    response_model=RecordWritten,
    dependencies=_TEACHER,
    responses={201: {"model": RecordWritten, "description": "Created"}, **COMMAND_ERRORS},
    summary="Create or update a line item (OneRoster 1.2 lineItem) of a class you teach",
)
def put_line_item(
    request: Request,
    sourcedId: SourcedIdPath,
    body: LineItemEnvelope,
    actor: ActorDep,
    app: TenantAppDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    item = body.lineItem
    if item.sourcedId is not None and item.sourcedId != sourcedId:
        raise ProblemError(
            422,
            "sourced-id-mismatch",
            "sourcedId mismatch",
            f"the body's sourcedId {item.sourcedId!r} differs from the path's {sourcedId!r}",
            field="lineItem.sourcedId",
        )
    command = PutLineItem(
        sourced_id=sourcedId,
        status=item.status,
        title=item.title,
        description=item.description,
        school_class=item.class_.sourcedId,
        category=item.category.sourcedId,
        assign_date=item.assignDate,
        due_date=item.dueDate,
        grading_period=item.gradingPeriod.sourcedId if item.gradingPeriod else None,
        objectives=[code for s in item.learningObjectiveSet for code in s.learningObjectiveIds],
        result_min=item.resultValueMin,
        result_max=item.resultValueMax,
    )
    return run_idempotently(
        app=app,
        actor=actor,
        key=idempotency_key,
        request_fingerprint=f"PUT {request.url.path} {item.model_dump_json()}",
        command=lambda _seed: app.put_line_item(actor, command),
        answer=record_written,
    )


@router.post(
    "/assessments",
    status_code=201,
    response_model=RecordWritten,
    dependencies=_TEACHER,
    responses=COMMAND_ERRORS,
    summary="Record an assessment (score, Finnish grade, verbal assessment) of a student",
    description="With the sourcedId of an existing result, records a correction of it; the "
    "earlier assessment stays in the log. The verbal assessment is sealed under the "
    "student's key.",
)
def record_assessment(
    body: AssessmentIn,
    actor: ActorDep,
    app: TenantAppDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(seed: str | None) -> Outcome:
        return app.record_assessment(
            actor,
            RecordAssessment(
                sourced_id=body.sourcedId,
                student=body.student,
                school_class=body.class_,
                line_item=body.lineItem,
                score=body.score,
                grade=body.grade,
                comment=body.comment,
                objectives=body.objectives,
                assessed_at=body.assessedAt,
                score_status=body.scoreStatus,
                late=body.late,
            ),
            idempotency_seed=seed,
        )

    def answer(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 201, RecordWritten(sourcedId=outcome.id, position=outcome.position).model_dump()

    return run_idempotently(
        app=app,
        actor=actor,
        key=idempotency_key,
        request_fingerprint=f"POST assessments {body.model_dump_json()}",
        command=run,
        answer=answer,
    )


@router.post(
    "/attainments",
    status_code=201,
    response_model=AttainmentWritten,
    dependencies=_TEACHER,
    responses=COMMAND_ERRORS,
    summary="Record a student's attainment level (1–4) of a curriculum objective",
)
def record_attainment(
    body: AttainmentIn,
    actor: ActorDep,
    app: TenantAppDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = RecordAttainment(
        student=body.student,
        school_class=body.class_,
        objective=body.objective,
        level=body.level,
        evidence=body.evidence,
        assessed_at=body.assessedAt,
    )

    def answer(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 201, AttainmentWritten(id=outcome.id, position=outcome.position).model_dump()

    return run_idempotently(
        app=app,
        actor=actor,
        key=idempotency_key,
        request_fingerprint=f"POST attainments {body.model_dump_json()}",
        command=lambda _seed: app.record_attainment(actor, command),
        answer=answer,
    )
