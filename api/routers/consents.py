"""Consent commands: a guardian or a student (13+) grants; the grantor or a guardian withdraws."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import ActorDep, TenantAppDep
from api.idempotency import run_idempotently
from api.models import ConsentIn, ConsentWritten, Problem
from api.routers.roster import ERRORS, IdempotencyKey
from domain.commands import GrantConsent

router = APIRouter(prefix="/api/v1/consents", tags=["consent commands"])


@router.post(
    "",
    status_code=201,
    response_model=ConsentWritten,
    responses=ERRORS,
    summary="Grant a consent for a student's data to reach a service",
)
def grant_consent(
    body: ConsentIn,
    actor: ActorDep,
    app: TenantAppDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = GrantConsent(
        student=body.student,
        granted_by=body.grantedBy,
        recipient=body.recipient,
        purposes=body.purposes,
        categories=body.categories,
        valid_until=body.validUntil,
    )

    def run(seed: str | None) -> tuple[int, dict[str, Any]]:
        outcome = app.grant_consent(actor, command, idempotency_seed=seed)
        return 201, ConsentWritten(consentId=outcome.id, position=outcome.position).model_dump()

    return run_idempotently(
        app=app, actor=actor, key=idempotency_key,
        request_fingerprint=f"POST consents {body.model_dump_json()}", command=run,
    )


@router.delete(
    "/{consent_id}",
    response_model=ConsentWritten,
    responses={404: {"model": Problem, "description": "No such consent"}, **ERRORS},
    summary="Withdraw a consent; withdrawing one no longer in force changes nothing",
)
def revoke_consent(
    consent_id: Annotated[str, Path(max_length=64)],
    actor: ActorDep,
    app: TenantAppDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(_seed: str | None) -> tuple[int, dict[str, Any]]:
        outcome = app.revoke_consent(actor, consent_id)
        state = app.get_consent(consent_id).state
        body = ConsentWritten(consentId=outcome.id, position=outcome.position, state=state)
        return 200, body.model_dump()

    return run_idempotently(
        app=app, actor=actor, key=idempotency_key,
        request_fingerprint=f"DELETE consents {consent_id}", command=run,
    )
