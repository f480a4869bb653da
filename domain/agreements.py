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
from typing import Any

from eventsourcing.domain import Aggregate, event

__all__ = [
    "AGREEMENT_CATEGORIES",
    "BASES",
    "CLEAR",
    "CONSENT",
    "DELIVERIES",
    "EVENT_FAMILIES",
    "SEALED",
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
#: How the personal fields a service may see reach its topic: re-sealed under a key of that
#: service and subject (which erasure and the agreement's end destroy), or in clear.
SEALED = "sealed"
CLEAR = "clear"
DELIVERIES = frozenset({SEALED, CLEAR})

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
        #: The purpose a consent must name for a consent-based agreement (GDPR art. 6(1)(a)
        #: consent is given for a specific purpose); None for a statutory one.
        purpose: str | None = None
        #: SEALED or CLEAR: how its topic carries the personal fields it may see.
        delivery: str = SEALED

        #: 2: `purpose` and `delivery` added; agreements made before are upcast with no
        #: purpose and sealed delivery.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["purpose"] = None
            state["delivery"] = SEALED

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
        purpose: str | None = None,
        delivery: str = SEALED,
    ) -> None:
        self.client_id = client_id
        self.service = service
        self.scopes = scopes
        self.categories = categories
        self.basis = basis
        self.schools = schools
        self.made_at = made_at
        self.made_by = made_by
        self.purpose = purpose
        self.delivery = delivery
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
        #: The purpose from now on; None keeps the one before.
        purpose: str | None = None
        #: The delivery from now on; None keeps the one before.
        delivery: str | None = None

        #: 2: `purpose` and `delivery` added; changes recorded before kept both.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["purpose"] = None
            state["delivery"] = None

    @event(Changed)
    def _changed(
        self,
        scopes: list[str],
        categories: list[str],
        schools: list[str],
        events: list[str],
        changed_at: datetime,
        changed_by: str,
        purpose: str | None = None,
        delivery: str | None = None,
    ) -> None:
        self.scopes = scopes
        self.categories = categories
        self.schools = schools
        self.events = events
        if purpose is not None:
            self.purpose = purpose
        if delivery is not None:
            self.delivery = delivery

    def change(
        self,
        *,
        scopes: list[str],
        categories: list[str],
        schools: list[str],
        events: list[str],
        changed_at: datetime,
        changed_by: str,
        purpose: str | None = None,
        delivery: str | None = None,
    ) -> bool:
        """Sets the terms (a purpose or delivery of None keeps it); True when they changed
        (the same terms again record nothing)."""
        purpose = None if purpose == self.purpose else purpose
        delivery = None if delivery == self.delivery else delivery
        if (scopes, categories, schools, events, purpose, delivery) == (
            self.scopes,
            self.categories,
            self.schools,
            self.events,
            None,
            None,
        ):
            return False
        self._changed(
            scopes, categories, schools, events, changed_at, changed_by, purpose, delivery
        )
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
