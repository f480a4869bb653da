"""Erasure requests (GDPR art. 17) and their receipts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import (
    ActorDep,
    CommandRoute,
    ErasureReceiptsDep,
    IdempotencyKey,
    Permit,
    TenantAppDep,
)
from api.idempotency import run_idempotently
from api.models import COMMAND_ERRORS, Problem, Shape
from api.read_answers import ErasureReceiptAnswer
from domain.command_roles import require_data_protection_officer
from domain.commands import Outcome

router = APIRouter(prefix="/api/v1/erasures", tags=["privacy"], route_class=CommandRoute)


class ErasureIn(Shape):
    subject: str = Field(description="The sourcedId of the user whose personal data is erased.")
    reason: str = Field(min_length=1, max_length=2000, description="Sealed; shown in the receipt.")
    basis: str | None = Field(default=None, description='Legal basis, e.g. "GDPR art. 17(1)(a)".')


class ErasureAccepted(BaseModel):
    erasureId: str
    position: int


@router.post(
    "",
    status_code=202,
    response_model=ErasureAccepted,
    responses=COMMAND_ERRORS,
    dependencies=[Depends(Permit(require_data_protection_officer))],
    summary="Erase a data subject's personal data by destroying their keys (admin)",
)
def request_erasure(
    body: ErasureIn, actor: ActorDep, app: TenantAppDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    def answer(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 202, ErasureAccepted(erasureId=outcome.id, position=outcome.position).model_dump()

    return run_idempotently(
        app=app,
        actor=actor,
        key=idempotency_key,
        request_fingerprint=f"POST erasures {body.model_dump_json()}",
        command=lambda _seed: app.erase(
            actor, subject=body.subject, reason=body.reason, basis=body.basis
        ),
        answer=answer,
    )


@router.get(
    "/{erasureId}",
    response_model=ErasureReceiptAnswer,
    responses={404: {"model": Problem, "description": "No such erasure"}, **COMMAND_ERRORS},
    summary="The erasure receipt: shredded and kept retention classes, with grounds",
)
def get_erasure(
    erasureId: Annotated[str, Path(max_length=64)],
    actor: ActorDep,
    app: TenantAppDep,
    receipts: ErasureReceiptsDep,
) -> dict[str, Any]:
    return receipts.receipt(app, actor, erasureId)
