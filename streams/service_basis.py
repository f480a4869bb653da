"""Who may receive what, as of any store position: agreements, consents and erasures.

The fan-out asks, for an event at store position P, whether a service's basis for the
event's subject held at P *and still holds now*: an agreement in force covering the event,
for a consent-based agreement a consent naming the service, the agreement's purpose and the
event's category, granted at or before P and not since revoked or expired, for a statutory one the subject's
school among the agreement's schools (when it names any), and no erasure of the subject.
"Still holds now" is what stops the flow at once: once the revocation is in the store,
nothing of that subject is delivered any more, however far behind the fan-out reads.

It reads the store itself (the agreement, consent, erasure and user-registration events,
filtered by topic), not the consent topic: the family topics are read concurrently, so a
consent topic read behind the assessment topic would wrongly hold results back.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.agreements import CONSENT, SEALED, Agreement
from domain.application import TenantApplication
from domain.consent import Consent
from domain.privacy import Erasure
from domain.roster import User

__all__ = ["AgreementTerms", "BasisTimeline", "ConsentSpan"]

_TOPICS = [
    get_topic(c)
    for c in (
        Agreement.Made,
        Agreement.Changed,
        Agreement.Ended,
        Consent.Granted,
        Consent.Revoked,
        Consent.Expired,
        Erasure.PersonalDataErased,
        User.Registered,
    )
]
_PAGE = 5000


@dataclass(frozen=True)
class AgreementTerms:
    """A service's agreement from a store position on."""

    position: int
    service: str
    client_id: str
    basis: str
    categories: tuple[str, ...]
    schools: tuple[str, ...]
    events: tuple[str, ...]
    ended: bool = False
    #: The purpose a consent must name (consent-based agreements).
    purpose: str | None = None
    #: SEALED or CLEAR (domain/agreements.py).
    delivery: str = SEALED

    def covers(self, event_type: str) -> bool:
        parts = event_type.split(".")
        if self.ended or len(parts) < 5:
            return False
        selectors = {parts[2], ".".join(parts[2:4]), ".".join(parts[2:5])}
        return any(e in selectors for e in self.events)


@dataclass
class ConsentSpan:
    consent_id: str
    student: str
    recipient: str
    categories: tuple[str, ...]
    granted: int
    ended: int | None = None
    ended_reason: str | None = None
    purposes: tuple[str, ...] = ()


@dataclass
class _TenantState:
    head: int = 0
    #: service → its terms over time, oldest first.
    agreements: dict[str, list[AgreementTerms]] = field(default_factory=dict)
    agreement_service: dict[str, str] = field(default_factory=dict)
    consents: dict[str, ConsentSpan] = field(default_factory=dict)
    consents_of: dict[tuple[str, str], list[ConsentSpan]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: subject sourcedId → position of its erasure.
    erased: dict[str, int] = field(default_factory=dict)
    #: user aggregate id → sourcedId.
    users: dict[str, str] = field(default_factory=dict)


class BasisTimeline:
    """The agreements, consents and erasures of each tenant, kept up to the store's head."""

    def __init__(self) -> None:
        self._states: dict[str, _TenantState] = {}
        self._lock = threading.Lock()

    def catch_up(self, app: TenantApplication) -> int:
        """Reads what the store recorded since the last call; returns the head read to."""
        with self._lock:
            state = self._states.setdefault(app.tenant, _TenantState())
            top = app.recorder.max_notification_id() or 0
            while state.head < top:
                page = app.recorder.select_notifications(
                    state.head, _PAGE, stop=top, topics=_TOPICS, inclusive_of_start=False
                )
                for n in page:
                    self._apply(state, n.id, cast(Aggregate.Event, app.mapper.to_domain_event(n)))
                    state.head = n.id
                if len(page) < _PAGE:
                    state.head = top
            return state.head

    def _apply(self, state: _TenantState, position: int, event: Aggregate.Event) -> None:
        aggregate = str(event.originator_id)
        if isinstance(event, Agreement.Made):
            state.agreement_service[aggregate] = event.service
            state.agreements[event.service] = [
                AgreementTerms(
                    position,
                    event.service,
                    event.client_id,
                    event.basis,
                    tuple(event.categories),
                    tuple(event.schools),
                    (),
                    purpose=event.purpose,
                    delivery=event.delivery,
                )
            ]
        elif isinstance(event, Agreement.Changed | Agreement.Ended):
            service = state.agreement_service[aggregate]
            last = state.agreements[service][-1]
            if isinstance(event, Agreement.Ended):
                terms = AgreementTerms(**{**last.__dict__, "position": position, "ended": True})
            else:
                terms = AgreementTerms(
                    position,
                    last.service,
                    last.client_id,
                    last.basis,
                    tuple(event.categories),
                    tuple(event.schools),
                    tuple(event.events),
                    purpose=last.purpose if event.purpose is None else event.purpose,
                    delivery=last.delivery if event.delivery is None else event.delivery,
                )
            state.agreements[service].append(terms)
        elif isinstance(event, Consent.Granted):
            span = ConsentSpan(
                aggregate,
                event.student,
                event.recipient,
                tuple(event.categories),
                position,
                purposes=tuple(event.purposes),
            )
            state.consents[aggregate] = span
            state.consents_of[(event.student, event.recipient)].append(span)
        elif isinstance(event, Consent.Revoked | Consent.Expired):
            span = state.consents[aggregate]
            if span.ended is None:
                span.ended = position
                span.ended_reason = (
                    "consent revoked" if isinstance(event, Consent.Revoked) else "consent expired"
                )
        elif isinstance(event, Erasure.PersonalDataErased):
            state.erased.setdefault(event.subject, position)
        elif isinstance(event, User.Registered):
            state.users[aggregate] = event.sourced_id

    # -- questions -------------------------------------------------------------------------

    def _state(self, tenant: str) -> _TenantState:
        return self._states.get(tenant) or _TenantState()

    def services(self, tenant: str) -> list[str]:
        """The services whose agreement is in force now and subscribes to events."""
        return sorted(
            s
            for s, terms in self._state(tenant).agreements.items()
            if terms[-1].events and not terms[-1].ended
        )

    def has_agreements(self, tenant: str) -> bool:
        """Whether any service agreement of the tenant ever subscribed to events."""
        return any(
            any(t.events for t in terms) for terms in self._state(tenant).agreements.values()
        )

    def all_services(self, tenant: str) -> list[str]:
        return sorted(self._state(tenant).agreements)

    def terms(
        self, tenant: str, service: str, position: int | None = None
    ) -> AgreementTerms | None:
        """The service's terms at `position` (None: now)."""
        history = self._state(tenant).agreements.get(service, [])
        found = None
        for terms in history:
            if position is None or terms.position <= position:
                found = terms
        return found

    def history(self, tenant: str, service: str) -> list[AgreementTerms]:
        return list(self._state(tenant).agreements.get(service, []))

    def user_of(self, tenant: str, aggregate_id: str) -> str | None:
        return self._state(tenant).users.get(aggregate_id)

    def erased_at(self, tenant: str, subject: str) -> int | None:
        return self._state(tenant).erased.get(subject)

    def consent(self, tenant: str, consent_id: str) -> ConsentSpan | None:
        return self._state(tenant).consents.get(consent_id)

    def consent_basis(
        self,
        tenant: str,
        *,
        student: str,
        service: str,
        purpose: str | None,
        category: str,
        position: int,
    ) -> str | None:
        """The id of a consent naming the service, the purpose and the category, granted
        at or before `position` and in force now; None when there is none (always for an
        agreement without a purpose: a consent is given for a purpose, GDPR art. 6(1)(a))."""
        for span in self.consents_in_force(tenant, student=student, service=service):
            if (
                span.granted <= position
                and purpose in span.purposes
                and category in span.categories
            ):
                return span.consent_id
        return None

    def consents_in_force(self, tenant: str, *, student: str, service: str) -> list[ConsentSpan]:
        """The student's consents naming the service that are in force now."""
        spans = self._state(tenant).consents_of.get((student, service), [])
        return [span for span in spans if span.ended is None]


def basis_of(
    timeline: BasisTimeline,
    tenant: str,
    *,
    service: str,
    event_type: str,
    subject: str | None,
    school_of: Any,
    category: str,
    position: int,
) -> str | None:
    """The basis on which the service receives the event (STATUTORY or a consent id), or
    None when it may not: the terms at the event and now both cover it."""
    then = timeline.terms(tenant, service, position)
    now = timeline.terms(tenant, service)
    if then is None or now is None or not then.covers(event_type) or not now.covers(event_type):
        return None
    if subject is None:
        return "statutory"
    if timeline.erased_at(tenant, subject) is not None:
        return None
    if now.basis == CONSENT:
        return timeline.consent_basis(
            tenant,
            student=subject,
            service=service,
            purpose=now.purpose,
            category=category,
            position=position,
        )
    if now.schools and not set(school_of(subject)) & set(now.schools):
        return None
    return "statutory"
