"""The auditors' interface: verify that the tenant's event log was never altered."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.audit_replay import AuditorView, ReplayFilter, StoreSource, replay, to_jsonl
from api.deps import ActorDep, ContainerDep, OneHopRoute, Permit, TenantAppDep
from api.models import Problem
from domain.commands import Actor
from domain.errors import NotPermittedError
from domain.ledger_checkpoints import key_id

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], route_class=OneHopRoute)


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
    checkpoints: int = Field(description="How many signed checkpoints were checked.")
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
    return app.verify_ledger().as_dict()


class LedgerKey(BaseModel):
    algorithm: str = Field(description="Always Ed25519.")
    keyId: str = Field(description="The first 16 hex digits of the public key's SHA-256.")
    publicKey: str = Field(description="The raw 32-byte Ed25519 public key, hex.")


class KeysAnswer(BaseModel):
    tenant: str
    keys: list[LedgerKey] = Field(
        description="The keys that sign the tenant's ledger checkpoints (none before the "
        "first checkpoint of a tenant without personal data, and none once the tenant was "
        "offboarded)."
    )


@router.get(
    "/keys",
    response_model=KeysAnswer,
    responses=AUDIT_ERRORS,
    dependencies=AUDITORS,
    summary="The public key that signs the tenant's ledger checkpoints (auditor)",
    description="Keep a copy: a checkpoint (on the `ledger.v1` topic, or in `audit "
    "verify`'s answer) is checked with it without trusting the database. A checkpoint "
    "signs the UTF-8 lines `digione/ledger-checkpoint/v1`, tenant, position, head hash "
    "(hex) and signing time, joined by newlines.",
)
def keys(app: TenantAppDep) -> dict[str, Any]:
    public_key = app.ledger_public_key()
    found = (
        []
        if public_key is None
        else [{"algorithm": "Ed25519", "keyId": key_id(public_key), "publicKey": public_key.hex()}]
    )
    return {"tenant": app.tenant, "keys": found}


#: The most events one page of `GET /api/v1/audit/events` answers.
MAX_EVENTS = 10_000


@router.get(
    "/events",
    responses={
        **AUDIT_ERRORS,
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "One JSON event per line, in store order.",
        },
    },
    response_class=StreamingResponse,
    dependencies=AUDITORS,
    summary="The tenant's events in store order, decoded, personal data sealed (auditor)",
    description="Events after store position `after`, at most `limit`, one JSON object per "
    "line: `position`, `occurredAt`, `type`, `aggregateId`, `aggregateVersion` and "
    '`fields`. A sealed field is shown as `{"sealed": {"subject", "retention"}}`, or '
    '`{"erased": …}` once its key was destroyed, or `{"opened": {…, "data"}}` for a subject '
    "the data protection officer granted this auditor (`digione audit grant`), which is "
    "recorded as a disclosure in the subject's record. Ask again with `after` set to the last "
    "position read.",
)
def events(
    app: TenantAppDep,
    actor: ActorDep,
    container: ContainerDep,
    after: Annotated[int, Query(ge=0, description="Show events after this position.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_EVENTS, description="At most this many events.")
    ] = 1000,
) -> StreamingResponse:
    view = AuditorView(app, auditor=actor.subject, disclosures=container.disclosures)
    replayed = replay(
        StoreSource(app, container.codec), ReplayFilter(after=after, limit=limit), view
    )
    # The first page is read (and its disclosures recorded) before the answer begins, so a
    # disclosure that cannot be recorded is refused (503) with nothing sent.
    first = next(replayed, None)
    lines: Iterator[str] = (
        to_jsonl(e) for e in itertools.chain(() if first is None else (first,), replayed)
    )
    return StreamingResponse(lines, media_type="application/x-ndjson")
