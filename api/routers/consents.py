"""Consent commands: a guardian or a student (13+) grants; the grantor or a guardian withdraws."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from api import consent_commands
from api.deps import ActorDep, CommandRoute, IdempotencyKey, Permit, TenantAppDep
from api.models import COMMAND_ERRORS, ConsentIn, ConsentWritten, Problem
from domain.command_roles import require_consent_grantor

router = APIRouter(prefix="/api/v1/consents", tags=["consent commands"], route_class=CommandRoute)


@router.post(
    "",
    status_code=201,
    response_model=ConsentWritten,
    responses=COMMAND_ERRORS,
    dependencies=[Depends(Permit(require_consent_grantor))],
    summary="Grant a consent for a student's data to reach a service",
)
def grant_consent(
    body: ConsentIn,
    actor: ActorDep,
    app: TenantAppDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return consent_commands.grant_consent(app, actor, body, idempotency_key=idempotency_key)


@router.delete(
    "/{consent_id}",
    response_model=ConsentWritten,
    responses={404: {"model": Problem, "description": "No such consent"}, **COMMAND_ERRORS},
    summary="Withdraw a consent; withdrawing one no longer in force changes nothing",
)
def revoke_consent(
    consent_id: Annotated[str, Path(max_length=64)],
    actor: ActorDep,
    app: TenantAppDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return consent_commands.revoke_consent(app, actor, consent_id, idempotency_key=idempotency_key)
