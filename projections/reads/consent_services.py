"""The services a family can consent to: those the municipality registered with an agreement
that rests on consent (domain/agreements.py), each as families are told about it.

Read from the tenant's agreements, not from a read model: there are a handful per tenant,
and a family must never be offered a service whose agreement has just ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.agreements import Agreement
from domain.application import TenantApplication
from domain.commands import Actor
from projections.reads.access import require_role

__all__ = ["NOT_A_FAMILY", "ConsentServiceReads", "OfferedService"]

NOT_A_FAMILY = "consents are given by a guardian or by the student themself"


@dataclass(frozen=True)
class OfferedService:
    """A service a consent can be given to, as the consent form shows it."""

    #: The service's id: a consent's `recipient`.
    service: str
    #: Its name as families know it (the id when the municipality gave none).
    title: str
    #: Language → what the service does; the languages the municipality wrote.
    descriptions: dict[str, str]
    #: What a consent to it is given for ("learning-app").
    purposes: list[str]
    #: The categories of the learner's data it would receive (domain/consent.py).
    categories: list[str]

    def description(self, lang: str) -> tuple[str, str] | None:
        """The description in `lang`, else in Finnish, else in English, with its language."""
        for candidate in (lang, "fi", "en", "sv"):
            if self.descriptions.get(candidate):
                return self.descriptions[candidate], candidate
        return None


def offered_service(agreement: Agreement) -> OfferedService:
    return OfferedService(
        service=agreement.service,
        title=agreement.title or agreement.service,
        descriptions={lang: text for lang, text in agreement.descriptions.items() if text},
        purposes=list(agreement.purposes),
        categories=agreement.received_categories(),
    )


class ConsentServiceReads:
    """Reads of the services a guardian or a student may consent to."""

    def offered(self, app: TenantApplication, actor: Actor) -> list[OfferedService]:
        """The tenant's services in force on a consent-based agreement, by id; only a
        service the municipality described (with the purposes of a consent) is offered."""
        require_role(actor, ("guardian", "student"), NOT_A_FAMILY)
        return [offered_service(a) for a in app.consent_agreements() if a.purposes]

    def known(self, app: TenantApplication, actor: Actor) -> dict[str, OfferedService]:
        """Every service with a consent-based agreement, ended or not, by id: for naming
        the recipients of consents already given."""
        require_role(actor, ("guardian", "student"), NOT_A_FAMILY)
        return {a.service: offered_service(a) for a in app.consent_agreements(ended=True)}
