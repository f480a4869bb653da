"""Data-sharing agreements: what a service (an OAuth client) may read, and on what basis.

A municipality connects a vendor's service with an agreement: the OneRoster scopes it may
use, the categories of personal data it may see unsealed (identity, contact,
demographics …), the basis (the school's statutory task, or the families' consents naming
the service) and, optionally, the schools it is limited to. The agreement is an aggregate,
so who could see what, and when, is replayable from the log. The client's secret is not
part of it: only its hash is kept, beside the tenant's keys (domain/tenant_tables.py).
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate, event

__all__ = [
    "AGREEMENT_CATEGORIES",
    "BASES",
    "CONSENT",
    "EVENT_FAMILIES",
    "STATUTORY",
    "Agreement",
]

STATUTORY = "statutory"
CONSENT = "consent"
#: The legal bases an agreement can rest on (GDPR art. 6(1)(c)/(e), or 6(1)(a)).
BASES = frozenset({STATUTORY, CONSENT})
#: The categories of personal data whose sealed fields an agreement may open.
AGREEMENT_CATEGORIES = frozenset({"identity", "contact", "demographics"})
#: The event families a service may subscribe to (`family` or `family.aggregate.event`);
#: consent and privacy stay the backbone's own.
EVENT_FAMILIES = frozenset({"roster", "assessment", "attainment"})


class Agreement(Aggregate):
    """One service's agreement with the tenant; its id is derived from the client id."""

    class Made(Aggregate.Created):
        client_id: str
        service: str
        scopes: list[str]
        categories: list[str]
        basis: str
        schools: list[str]
        made_at: datetime
        made_by: str

    @event(Made)
    def __init__(
        self,
        client_id: str,
        service: str,
        scopes: list[str],
        categories: list[str],
        basis: str,
        schools: list[str],
        made_at: datetime,
        made_by: str,
    ) -> None:
        self.client_id = client_id
        self.service = service
        self.scopes = scopes
        self.categories = categories
        self.basis = basis
        self.schools = schools
        self.made_at = made_at
        self.made_by = made_by
        self.ended = False
        #: The event types it subscribes to: families (`assessment`) or single types
        #: (`assessment.result.recorded`); set by Changed.
        self.events: list[str] = []

    class Changed(Aggregate.Event):
        """The agreement's terms as they are from now on (each list whole, not a diff)."""

        scopes: list[str]
        categories: list[str]
        schools: list[str]
        events: list[str]
        changed_at: datetime
        changed_by: str

    @event(Changed)
    def _changed(
        self,
        scopes: list[str],
        categories: list[str],
        schools: list[str],
        events: list[str],
        changed_at: datetime,
        changed_by: str,
    ) -> None:
        self.scopes = scopes
        self.categories = categories
        self.schools = schools
        self.events = events

    def change(
        self,
        *,
        scopes: list[str],
        categories: list[str],
        schools: list[str],
        events: list[str],
        changed_at: datetime,
        changed_by: str,
    ) -> bool:
        """Sets the terms; True when they changed (the same terms again record nothing)."""
        if (scopes, categories, schools, events) == (
            self.scopes,
            self.categories,
            self.schools,
            self.events,
        ):
            return False
        self._changed(scopes, categories, schools, events, changed_at, changed_by)
        return True

    def covers(self, event_type: str) -> bool:
        """Whether the agreement subscribes to the event type (`fi.digione.F.A.E.v1`)."""
        parts = event_type.split(".")
        if len(parts) < 5:
            return False
        selectors = {parts[2], ".".join(parts[2:4]), ".".join(parts[2:5])}
        return any(e in selectors for e in self.events)

    class Ended(Aggregate.Event):
        ended_at: datetime
        ended_by: str

    @event(Ended)
    def _ended(self, ended_at: datetime, ended_by: str) -> None:
        self.ended = True

    def end(self, *, ended_at: datetime, ended_by: str) -> None:
        """Ends the agreement: its client gets no more tokens; ending twice changes nothing."""
        if not self.ended:
            self._ended(ended_at, ended_by)
