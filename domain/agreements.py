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
#: The consent categories (domain/consent.py) a OneRoster 1.2 scope reads, by the scope's
#: short name's head (`roster-core.readonly` → `roster-core`).
_SCOPE_CATEGORIES = {
    "roster": ("roster",),
    "roster-core": ("roster",),
    "roster-demographics": ("demographics",),
    "gradebook": ("assessment",),
    "gradebook-core": ("assessment",),
}


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
        #: How families are told about the service (set by Described): its name, what it
        #: does in each language, and the purposes a consent to it is given for.
        self.title = ""
        self.descriptions: dict[str, str] = {}
        self.purposes: list[str] = []

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

    def received_categories(self) -> list[str]:
        """The categories of a learner's data (as consents name them) the service would
        receive: what its scopes read, the event families it subscribes to, and the personal
        data it may see unsealed."""
        received = set(self.categories)
        for scope in self.scopes:
            head = scope.rpartition("/")[2].partition(".")[0]
            received.update(_SCOPE_CATEGORIES.get(head, ()))
        received.update(e.partition(".")[0] for e in self.events)
        return sorted(received)

    def covers(self, event_type: str) -> bool:
        """Whether the agreement subscribes to the event type (`fi.digione.F.A.E.v1`)."""
        parts = event_type.split(".")
        if len(parts) < 5:
            return False
        selectors = {parts[2], ".".join(parts[2:4]), ".".join(parts[2:5])}
        return any(e in selectors for e in self.events)

    class Described(Aggregate.Event):
        """How the service is presented to the families asked to consent to it (GDPR art.
        13: who receives the data and for what purposes), each field whole."""

        title: str
        description_fi: str
        description_sv: str
        description_en: str
        purposes: list[str]
        described_at: datetime
        described_by: str

    @event(Described)
    def _described(
        self,
        title: str,
        description_fi: str,
        description_sv: str,
        description_en: str,
        purposes: list[str],
        described_at: datetime,
        described_by: str,
    ) -> None:
        self.title = title
        self.descriptions = {"fi": description_fi, "sv": description_sv, "en": description_en}
        self.purposes = purposes

    def describe(
        self,
        *,
        title: str,
        descriptions: dict[str, str],
        purposes: list[str],
        described_at: datetime,
        described_by: str,
    ) -> bool:
        """Sets how families are told about the service; True when it changed."""
        full = {lang: descriptions.get(lang, "") for lang in ("fi", "sv", "en")}
        if (title, full, purposes) == (self.title, self.descriptions, self.purposes):
            return False
        self._described(
            title,
            full["fi"],
            full["sv"],
            full["en"],
            purposes,
            described_at,
            described_by,
        )
        return True

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
