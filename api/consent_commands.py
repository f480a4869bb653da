"""The consent commands as the API and the guardian's pages both run them.

POST /api/v1/consents, DELETE /api/v1/consents/{id} and the pages' consent forms call
these, so a page allows, refuses, records and answers exactly what the API does (and a
repeated Idempotency-Key or form key gets the first answer).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from api.idempotency import run_idempotently
from api.models import ConsentIn, ConsentWritten
from domain.application import TenantApplication
from domain.commands import Actor, GrantConsent, Outcome

__all__ = ["grant_consent", "revoke_consent"]


def grant_consent(
    app: TenantApplication, actor: Actor, body: ConsentIn, *, idempotency_key: str | None
) -> JSONResponse:
    """Grants the consent `body` describes: 201 with its id and position."""
    command = GrantConsent(
        student=body.student,
        granted_by=body.grantedBy,
        recipient=body.recipient,
        purposes=body.purposes,
        categories=body.categories,
        valid_until=body.validUntil,
    )

    def answer(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        return 201, ConsentWritten(consentId=outcome.id, position=outcome.position).model_dump()

    return run_idempotently(
        app=app,
        actor=actor,
        key=idempotency_key,
        request_fingerprint=f"POST consents {body.model_dump_json()}",
        command=lambda seed: app.grant_consent(actor, command, idempotency_seed=seed),
        answer=answer,
    )


def revoke_consent(
    app: TenantApplication, actor: Actor, consent_id: str, *, idempotency_key: str | None
) -> JSONResponse:
    """Withdraws the consent: 200 with its state (withdrawing one not in force changes
    nothing)."""

    def answer(outcome: Outcome) -> tuple[int, dict[str, Any]]:
        # The consent's state after the command, known before its events are saved (the
        # answer is stored with them).
        body = ConsentWritten(
            consentId=outcome.id, position=outcome.position, state=outcome.state or "withdrawn"
        )
        return 200, body.model_dump()

    return run_idempotently(
        app=app,
        actor=actor,
        key=idempotency_key,
        request_fingerprint=f"DELETE consents {consent_id}",
        command=lambda _seed: app.revoke_consent(actor, consent_id),
        answer=answer,
    )
