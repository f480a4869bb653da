"""Erasure receipts (GDPR art. 17): what was shredded when, what is kept until when and why,
and when each projection confirmed blanking what it derived from the subject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from domain.application import TenantApplication
from domain.commands import Actor
from domain.privacy import Erasure
from projections.base import Projection
from projections.erasure_queries import erasure_confirmations
from projections.reads.access import require_role

__all__ = ["NOT_ADMIN_OR_AUDITOR", "ErasureReceipts", "receipt"]

NOT_ADMIN_OR_AUDITOR = "erasure receipts are for admins and auditors"


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


@dataclass(frozen=True, kw_only=True)
class ErasureReceipts:
    """Erasure receipts for admins and auditors, with each projection's confirmation."""

    engine: Engine
    #: Every projection; those that confirm erasures are listed in the receipt, in order.
    projections: Sequence[Projection]

    def receipt(self, app: TenantApplication, actor: Actor, erasure_id: str) -> dict[str, Any]:
        """The receipt of the tenant's erasure `erasure_id` (NotFoundError when none)."""
        require_role(actor, ("admin", "auditor"), NOT_ADMIN_OR_AUDITOR)
        found = app.erasure(erasure_id)
        return {**receipt(app, found), **self.confirmations(actor.tenant, erasure_id)}

    def confirmations(self, tenant: str, erasure_id: str) -> dict[str, Any]:
        """When each projection blanked what it derived from the subject (None: not yet)."""
        with self.engine.connect() as connection:
            confirmed = erasure_confirmations(
                connection, self.projections, tenant=tenant, erasure_id=erasure_id
            )
        times = [c.confirmed_at for c in confirmed]
        done = [t for t in times if t is not None]
        return {
            "projections": [
                {"projection": c.projection, "confirmedAt": t.isoformat() if t else None}
                for c, t in zip(confirmed, times, strict=True)
            ],
            "allProjectionsConfirmedAt": max(done).isoformat() if len(done) == len(times) else None,
        }
