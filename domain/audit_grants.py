"""Audit grants: an auditor may see one data subject's personal data in a replay.

The auditors' replay shows personal fields sealed unless the data protection officer
granted that auditor that subject (`digione audit grant`). Each grant is an event, so the
auditors are audited too: the log says who was let see whose data, when and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.command_roles import require_data_protection_officer
from domain.commands import Actor, Outcome
from domain.ids import aggregate_id
from domain.roster import User
from domain.sealing import Erased, RetentionClass, SealedValue
from domain.tenant_core import TenantCore, require_text

__all__ = ["AUDIT_GRANTS", "AuditGrant", "AuditGrantCommands", "GrantedSubject"]

AUDIT_GRANTS = "audit_grants"


class AuditGrant(Aggregate):
    """One auditor's grant to see one data subject's personal data; granted again, it
    records each new reason."""

    class AuditorGranted(Aggregate.Created):
        auditor: str
        subject: str
        subject_id: UUID
        reason: SealedValue
        granted_by: str
        granted_at: datetime

    @event(AuditorGranted)
    def __init__(
        self,
        auditor: str,
        subject: str,
        subject_id: UUID,
        reason: SealedValue,
        granted_by: str,
        granted_at: datetime,
    ) -> None:
        self.auditor = auditor
        self.subject = subject
        self.subject_id = subject_id
        self.reasons = [reason]
        self.granted_by = granted_by
        self.granted_at = granted_at

    class GrantRenewed(Aggregate.Event):
        """The grant was given again, for another reason."""

        reason: SealedValue
        granted_by: str
        granted_at: datetime

    @event(GrantRenewed)
    def _renewed(self, reason: SealedValue, granted_by: str, granted_at: datetime) -> None:
        self.reasons.append(reason)
        self.granted_by = granted_by
        self.granted_at = granted_at

    def renew(self, *, reason: SealedValue, granted_by: str, granted_at: datetime) -> None:
        self._renewed(reason, granted_by, granted_at)


class GrantedSubject(NamedTuple):
    """A subject an auditor was granted: its sourcedId and the grant's id."""

    sourced_id: str
    grant_id: UUID


def grant_id_of(tenant: str, *, auditor: str, subject: str) -> UUID:
    """The id of `auditor`'s grant of `subject`."""
    # A newline is in no sourcedId and no token subject: the pair names one grant.
    return aggregate_id(tenant, AUDIT_GRANTS, f"{auditor}\n{subject}")


class AuditGrantCommands(TenantCore):
    """Granting auditors subjects, and the grants an auditor holds."""

    def grant_auditor(self, actor: Actor, *, auditor: str, subject: str, reason: str) -> Outcome:
        """Lets `auditor` see `subject`'s personal data in replays; recorded as an event."""
        require_data_protection_officer(actor)
        require_text("auditor", auditor)
        require_text("reason", reason)
        self._require(User, "users", subject, "subject")
        grant_id = grant_id_of(self.tenant, auditor=auditor, subject=subject)
        now = self.clock()
        # The reason may name people: sealed under the grant's own key, like an erasure's.
        sealed = self.sealer.seal(grant_id, RetentionClass.PERMANENT_RECORD, {"reason": reason})
        return self._register_or_revise(
            AuditGrant,
            grant_id,
            register=lambda new_id: AuditGrant._create(
                AuditGrant.AuditorGranted,
                id=new_id,
                auditor=auditor,
                subject=subject,
                subject_id=self._id("users", subject),
                reason=sealed,
                granted_by=actor.subject,
                granted_at=now,
            ),
            revise=lambda grant: grant.renew(
                reason=sealed, granted_by=actor.subject, granted_at=now
            ),
        )

    def audit_grant(self, *, auditor: str, subject: str) -> AuditGrant | None:
        found = self._find_by_id(
            AuditGrant, grant_id_of(self.tenant, auditor=auditor, subject=subject), for_update=False
        )
        return found if isinstance(found, AuditGrant) else None

    def grant_reasons(self, grant: AuditGrant) -> list[str]:
        opened = [self.sealer.unseal(reason) for reason in grant.reasons]
        return ["erased" if isinstance(o, Erased) else str(o["reason"]) for o in opened]

    def granted_subjects(self, auditor: str) -> dict[UUID, GrantedSubject]:
        """The subjects `auditor` was granted, by the subject's id (grants are rare: a
        topic-filtered read of the log)."""
        topic = f"{AuditGrant.AuditorGranted.__module__}:{AuditGrant.AuditorGranted.__qualname__}"
        granted: dict[UUID, GrantedSubject] = {}
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            for notification in page:
                created = self.mapper.to_domain_event(notification)
                assert isinstance(created, AuditGrant.AuditorGranted)
                if created.auditor == auditor:
                    granted[created.subject_id] = GrantedSubject(
                        created.subject, created.originator_id
                    )
            if len(page) < 1000:
                return granted
            start = page[-1].id + 1
