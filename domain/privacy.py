"""Erasure by crypto-shredding (GDPR art. 17): what was shredded, what is kept, until when.

An erasure destroys the subject's keys of the retention classes that may go now and
schedules the others for the end of their retention period. Its events carry no personal
data: the subject appears only by its pseudonymous sourcedId and id.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.sealing import SealedValue


class Erasure(Aggregate):
    """The erasure of one data subject's personal data; one per subject, repeatable."""

    class PersonalDataErased(Aggregate.Created):
        subject: str
        subject_id: UUID
        basis: str
        reason: SealedValue
        requested_by: str
        shredded: list[str]
        kept: list[dict[str, Any]]
        erased_at: datetime

    @event(PersonalDataErased)
    def __init__(
        self,
        subject: str,
        subject_id: UUID,
        basis: str,
        reason: SealedValue,
        requested_by: str,
        shredded: list[str],
        kept: list[dict[str, Any]],
        erased_at: datetime,
    ) -> None:
        self.subject = subject
        self.subject_id = subject_id
        self.basis = basis
        self.reason = reason
        self.requested_by = requested_by
        self.erased_at = erased_at
        self.shredded: dict[str, datetime] = {r: erased_at for r in shredded}
        self.kept: dict[str, dict[str, Any]] = {k["retention"]: k for k in kept}
        self.requests: list[datetime] = [erased_at]

    class ErasureRepeated(Aggregate.Event):
        """The subject asked again; keys created since (in shreddable classes) went too."""

        requested_by: str
        shredded: list[str]
        repeated_at: datetime

    @event(ErasureRepeated)
    def _repeated(self, requested_by: str, shredded: list[str], repeated_at: datetime) -> None:
        for retention in shredded:
            self.shredded.setdefault(retention, repeated_at)
        self.requests.append(repeated_at)

    class RetainedDataShredded(Aggregate.Event):
        """A kept retention class reached the end of its retention period and was shredded."""

        retention: str
        shredded_at: datetime

    @event(RetainedDataShredded)
    def _retained_shredded(self, retention: str, shredded_at: datetime) -> None:
        self.kept.pop(retention, None)
        self.shredded[retention] = shredded_at

    def repeat(self, *, requested_by: str, shredded: list[str], repeated_at: datetime) -> None:
        self._repeated(requested_by, shredded, repeated_at)

    def shred_retained(self, *, retention: str, shredded_at: datetime) -> None:
        if retention in self.kept:
            self._retained_shredded(retention, shredded_at)

    def due(self, today: date) -> list[str]:
        """Kept retention classes whose retention period has ended by `today`."""
        return [
            retention
            for retention, kept in self.kept.items()
            if kept.get("until") is not None and kept["until"] <= today
        ]


class TenantOffboarding(Aggregate):
    """A municipality that leaves: its key-encryption key is destroyed for good, so all of
    its personal data becomes unreadable at once; its pseudonymous facts remain."""

    class KeyEncryptionKeyShredded(Aggregate.Created):
        tenant: str
        requested_by: str
        shredded_at: datetime

    @event(KeyEncryptionKeyShredded)
    def __init__(self, tenant: str, requested_by: str, shredded_at: datetime) -> None:
        self.tenant = tenant
        self.requested_by = requested_by
        self.shredded_at = shredded_at
