"""Erasure requests (GDPR art. 17) and their receipts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from api.deps import ActorDep, ContainerDep, TenantAppDep
from api.idempotency import run_idempotently
from api.models import Problem, Shape
from api.problems import ProblemError
from api.routers.roster import ERRORS, IdempotencyKey
from domain.application import TenantApplication
from domain.privacy import Erasure
from projections.catalogue import all_projections
from projections.erasure_queries import erasure_confirmations

router = APIRouter(prefix="/api/v1/erasures", tags=["privacy"])


class ErasureIn(Shape):
    subject: str = Field(description="The sourcedId of the user whose personal data is erased.")
    reason: str = Field(min_length=1, max_length=2000, description="Sealed; shown in the receipt.")
    basis: str | None = Field(default=None, description='Legal basis, e.g. "GDPR art. 17(1)(a)".')


class ErasureAccepted(BaseModel):
    erasureId: str
    position: int


def confirmations(engine: Engine, tenant: str, erasure_id: str) -> dict[str, Any]:
    """When each projection blanked what it derived from the subject (None: not yet)."""
    with engine.connect() as connection:
        confirmed = erasure_confirmations(
            connection, all_projections(), tenant=tenant, erasure_id=erasure_id
        )
    rows = [
        {
            "projection": c.projection,
            "confirmedAt": c.confirmed_at.isoformat() if c.confirmed_at else None,
        }
        for c in confirmed
    ]
    done = [c.confirmed_at for c in confirmed if c.confirmed_at is not None]
    return {
        "projections": rows,
        "allProjectionsConfirmedAt": max(done).isoformat() if len(done) == len(confirmed) else None,
    }


def receipt(app: TenantApplication, erasure: Erasure) -> dict[str, Any]:
    """What was shredded when, what is kept until when and why: the erasure's receipt."""
    return {
        "erasureId": str(erasure.id),
        "subject": erasure.subject,
        "basis": erasure.basis,
        "reason": app.erasure_reason(erasure),
        "requestedBy": erasure.requested_by,
        "requestedAt": [t.isoformat() for t in erasure.requests],
        "shredded": [
            {"retentionClass": r, "shreddedAt": t.isoformat()}
            for r, t in sorted(erasure.shredded.items())
        ],
        "kept": [
            {
                "retentionClass": r,
                "until": k["until"].isoformat() if k.get("until") else None,
                "permanent": k.get("until") is None,
                "ground": k["ground"],
            }
            for r, k in sorted(erasure.kept.items())
        ],
    }


@router.post(
    "",
    status_code=202,
    response_model=ErasureAccepted,
    responses=ERRORS,
    summary="Erase a data subject's personal data by destroying their keys (admin)",
)
def request_erasure(
    body: ErasureIn, actor: ActorDep, app: TenantAppDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    def run(_seed: str | None) -> tuple[int, dict[str, Any]]:
        outcome = app.erase(actor, subject=body.subject, reason=body.reason, basis=body.basis)
        return 202, ErasureAccepted(erasureId=outcome.id, position=outcome.position).model_dump()

    return run_idempotently(
        app=app, actor=actor, key=idempotency_key,
        request_fingerprint=f"POST erasures {body.model_dump_json()}", command=run,
    )


@router.get(
    "/{erasureId}",
    responses={404: {"model": Problem, "description": "No such erasure"}, **ERRORS},
    summary="The erasure receipt: shredded and kept retention classes, with grounds",
)
def get_erasure(
    erasureId: Annotated[str, Path(max_length=64)], actor: ActorDep, app: TenantAppDep,
    container: ContainerDep,
) -> dict[str, Any]:
    if actor.role not in ("admin", "auditor"):
        raise ProblemError(403, "not-permitted", "Not permitted",
                           "erasure receipts are for admins and auditors")
    found = app.erasure(erasureId)
    return {**receipt(app, found), **confirmations(container.engine, actor.tenant, erasureId)}
