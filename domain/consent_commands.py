"""Consent commands (GDPR art. 6(1)(a)): grant, revoke and expire a family's consents."""

from __future__ import annotations

import re
from collections.abc import Iterable
from uuid import UUID

from domain.command_roles import require_consent_grantor
from domain.commands import Actor, GrantConsent, Outcome
from domain.consent import (
    AGE_OF_MAJORITY,
    DATA_CATEGORIES,
    DIGITAL_CONSENT_AGE,
    PURPOSE,
    Consent,
)
from domain.errors import (
    ConflictError,
    ConsentNotAllowedError,
    InvalidValueError,
    NotPermittedError,
)
from domain.roster import User
from domain.tenant_core import TenantCore, generated_id

_SERVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class ConsentCommands(TenantCore):
    """The consents of one tenant: granted by a guardian or a student, revoked, expired."""

    def grant_consent(
        self, actor: Actor, command: GrantConsent, *, idempotency_seed: str | None = None
    ) -> Outcome:
        student = self._require(User, "users", command.student, "student")
        if not student.is_student:
            raise InvalidValueError(f"user {command.student!r} is not a student", field="student")
        require_consent_grantor(actor)
        if actor.subject != command.granted_by:
            raise NotPermittedError(
                "a consent is granted by a guardian or a student for themself: "
                "grantedBy must be the caller",
                field="grantedBy",
            )
        relation = self._consent_relation(command.student, command.granted_by, student)
        if not _SERVICE_ID.match(command.recipient):
            raise InvalidValueError(
                "recipient must be a service id (lowercase letters, digits and dashes)",
                field="recipient",
            )
        if not command.purposes or not all(PURPOSE.match(p) for p in command.purposes):
            raise InvalidValueError(
                "purposes must be a non-empty list of lowercase words such as 'learning-app'",
                field="purposes",
            )
        unknown = sorted(set(command.categories) - DATA_CATEGORIES)
        if not command.categories or unknown:
            raise InvalidValueError(
                f"categories must be a non-empty list from {sorted(DATA_CATEGORIES)}"
                + (f"; unknown: {unknown}" if unknown else ""),
                field="categories",
            )
        if command.valid_until is not None and command.valid_until < self._today():
            raise InvalidValueError("validUntil is in the past", field="validUntil")
        consent_id = UUID(generated_id(actor, idempotency_seed))
        # A consent is never revised: a second grant is a new consent with a new id.
        if self._find_by_id(Consent, consent_id) is not None:
            raise ConflictError(f"consent {consent_id} exists already", field="consentId")
        consent = Consent._create(
            Consent.Granted,
            id=consent_id,
            student=command.student,
            granted_by=command.granted_by,
            grantor_relation=relation,
            recipient=command.recipient,
            purposes=sorted(set(command.purposes)),
            categories=sorted(set(command.categories)),
            valid_until=command.valid_until,
            granted_at=self.clock(),
        )
        return self._outcome(str(consent_id), True, consent)

    def revoke_consent(self, actor: Actor, consent_id: str) -> Outcome:
        consent = self.get_consent(consent_id)
        student = self._require(User, "users", consent.student, "student")
        allowed = actor.role == "admin" or actor.subject == consent.granted_by
        if actor.role == "guardian" and actor.subject in student.guardians:
            allowed = (
                allowed
                or self.age(consent.student) is None
                or ((self.age(consent.student) or 0) < AGE_OF_MAJORITY)
            )
        if actor.role == "student" and actor.subject == consent.student:
            age = self.age(consent.student)
            allowed = allowed or (age is not None and age >= DIGITAL_CONSENT_AGE)
        if not allowed:
            raise NotPermittedError(
                "only the person who granted a consent, the student's guardian or the student "
                "(from 13) can withdraw it"
            )
        consent.revoke(revoked_by=actor.subject, revoked_at=self.clock())
        return self._outcome(consent_id, False, consent, state=consent.state)

    def expire_due_consents(self, consent_ids: Iterable[str]) -> int:
        """Records the expiry of each given consent whose `validUntil` has passed."""
        expired = [c for c in map(self.get_consent, consent_ids) if c.expire(today=self._today())]
        if expired:
            self._save(*expired)
        return len(expired)

    def get_consent(self, consent_id: str) -> Consent:
        return self._get_by_uuid(Consent, consent_id, kind="consent")

    def _consent_relation(self, student_id: str, granted_by: str, student: User) -> str:
        age = self.age(student_id)
        if granted_by == student_id:
            if age is None:
                raise ConsentNotAllowedError(
                    "the student's birth date is not known, so the digital-consent age of "
                    f"{DIGITAL_CONSENT_AGE} cannot be checked; a guardian can grant instead",
                    field="grantedBy",
                )
            if age < DIGITAL_CONSENT_AGE:
                raise ConsentNotAllowedError(
                    f"the student is under the digital-consent age of {DIGITAL_CONSENT_AGE}; "
                    "a guardian must grant this consent",
                    field="grantedBy",
                )
            return "self"
        if granted_by not in student.guardians:
            raise ConsentNotAllowedError(
                f"{granted_by!r} is not a guardian linked to student {student_id!r}",
                field="grantedBy",
            )
        if age is not None and age >= AGE_OF_MAJORITY:
            raise ConsentNotAllowedError(
                "the student is of age: guardianship has ended and the student grants "
                "consents themself",
                field="grantedBy",
            )
        return "guardian"
