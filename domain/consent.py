"""Consent: what a family allows beyond the school's statutory duty (GDPR art. 6(1)(a)).

A consent is granted by a guardian for a child, or by the student themself from the
digital-consent age of 13; it can be revoked, and it expires at its `valid_until`.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from eventsourcing.domain import Aggregate, event

#: Finland's digital-consent age (Data Protection Act 1050/2018, §5).
DIGITAL_CONSENT_AGE = 13
#: Guardianship ends when the child comes of age.
AGE_OF_MAJORITY = 18
#: A purpose, as consents and agreements name it: a lowercase word such as `learning-app`.
PURPOSE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
#: Categories of a learner's data a consent can cover.
DATA_CATEGORIES = frozenset(
    {"identity", "contact", "roster", "assessment", "attainment", "demographics", "photos"}
)


def age_on(born: date, today: date) -> int:
    """Age in whole years on `today` (a birthday counts from its own day)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


GRANTED = "granted"
REVOKED = "revoked"
EXPIRED = "expired"


class Consent(Aggregate):
    """One consent: who allowed which service to use which data of whom, for what."""

    class Granted(Aggregate.Created):
        student: str
        granted_by: str
        grantor_relation: str
        recipient: str
        purposes: list[str]
        categories: list[str]
        valid_until: date | None
        granted_at: datetime

    @event(Granted)
    def __init__(
        self,
        student: str,
        granted_by: str,
        grantor_relation: str,
        recipient: str,
        purposes: list[str],
        categories: list[str],
        valid_until: date | None,
        granted_at: datetime,
    ) -> None:
        self.student = student
        self.granted_by = granted_by
        self.grantor_relation = grantor_relation
        self.recipient = recipient
        self.purposes = purposes
        self.categories = categories
        self.valid_until = valid_until
        self.granted_at = granted_at
        self.state = GRANTED

    class Revoked(Aggregate.Event):
        revoked_by: str
        revoked_at: datetime

    @event(Revoked)
    def _revoked(self, revoked_by: str, revoked_at: datetime) -> None:
        self.state = REVOKED

    class Expired(Aggregate.Event):
        expired_on: date

    @event(Expired)
    def _expired(self, expired_on: date) -> None:
        self.state = EXPIRED

    @property
    def is_in_force(self) -> bool:
        return self.state == GRANTED

    def revoke(self, *, revoked_by: str, revoked_at: datetime) -> None:
        """Ends the consent; revoking one no longer in force changes nothing."""
        if self.state == GRANTED:
            self._revoked(revoked_by, revoked_at)

    def expire(self, *, today: date) -> bool:
        """Records the expiry once `valid_until` has passed; True when it did."""
        if self.state == GRANTED and self.valid_until is not None and today > self.valid_until:
            self._expired(self.valid_until)
            return True
        return False
