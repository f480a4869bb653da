"""The auditors' interface: verify that the tenant's event log was never altered."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import Permit, TenantAppDep
from api.models import Problem
from domain.commands import Actor
from domain.errors import NotPermittedError

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def require_auditor(actor: Actor) -> None:
    """The audit interface is the auditors' alone: an admin, who runs the system (and could
    alter its database), does not audit it."""
    if actor.role != "auditor":
        raise NotPermittedError("only an auditor reaches the audit interface")


AUDITORS = [Depends(Permit(require_auditor))]
AUDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid bearer token"},
    403: {"model": Problem, "description": "The caller is not an auditor"},
}


class VerifyAnswer(BaseModel):
    ok: bool = Field(description="True when every stored event matches the ledger.")
    checked: int = Field(description="How many events were recomputed.")
    headPosition: int = Field(description="The ledger's last position when verify began.")
    headHash: str = Field(description="The ledger's hash at headPosition (hex SHA-256).")
    firstBadPosition: int | None = Field(
        description="The first store position where the events and the ledger disagree."
    )
    problem: str | None = Field(description="What differs there.")


@router.get(
    "/verify",
    response_model=VerifyAnswer,
    responses=AUDIT_ERRORS,
    dependencies=AUDITORS,
    summary="Recompute the tenant's ledger and report the first altered position (auditor)",
    description="Recomputes the hash chain over the stored events up to the ledger's head "
    "and reports the first position where an event was changed, deleted, reordered or "
    "recorded outside DigiOne. Answers 200 with `ok: false` when the log was altered.",
)
def verify(app: TenantAppDep) -> dict[str, Any]:
    return app.ledger.verify().as_dict()
