"""Agreement commands: connect a service as an OAuth client, check its credentials, end it.

`make_agreement` records the agreement (domain/agreements.py) and returns the client's id and
a new secret, which is shown once: only its SHA-256 is kept (the secret is 32 random bytes,
so a plain hash is as strong as a slow one). The OneRoster 1.2 scopes are the URIs of the
specification (https://purl.imsglobal.org/spec/or/v1p2/scope/…); the short names
(`roster.readonly`) are accepted and stored as the URIs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from uuid import UUID

from domain.agreements import (
    AGREEMENT_CATEGORIES,
    BASES,
    CONSENT,
    DELIVERIES,
    EVENT_FAMILIES,
    SEALED,
    Agreement,
)
from domain.commands import Actor
from domain.consent import PURPOSE
from domain.errors import ConflictError, InvalidValueError, NotFoundError, NotPermittedError
from domain.ids import aggregate_id
from domain.roster import Org
from domain.sealing import RetentionClass
from domain.tenant_core import TenantCore

__all__ = [
    "ONEROSTER_SCOPES",
    "SCOPE_PREFIX",
    "AgreementCommands",
    "ClientCredentials",
    "ServiceDescription",
    "event_selectors",
    "new_client_secret",
    "scope_uri",
]

SCOPE_PREFIX = "https://purl.imsglobal.org/spec/or/v1p2/scope/"
#: The OneRoster 1.2 scopes (rostering, gradebook, resources) by their short names.
ONEROSTER_SCOPES = frozenset(
    {
        "roster.readonly",
        "roster-core.readonly",
        "roster-demographics.readonly",
        "gradebook.readonly",
        "gradebook-core.readonly",
        "gradebook.createput",
        "gradebook.createpost",
        "gradebook.delete",
        "resource.readonly",
        "resource-core.readonly",
    }
)
#: A service's name: its id in consents and topic names (as a consent's `recipient`).
_SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
#: A purpose of processing, as consents name it (domain/consent_commands.py).
_PURPOSE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
#: The longest title and description shown to families.
_TITLE_MAX = 80
_DESCRIPTION_MAX = 1000


@dataclass(frozen=True)
class ServiceDescription:
    """How a service is presented to the families asked to consent to it."""

    title: str
    #: Language ("fi", "sv", "en") → what the service does, in that language.
    descriptions: dict[str, str]
    #: The purposes a consent to the service is given for ("learning-app").
    purposes: list[str]

    def checked(self) -> ServiceDescription:
        """The description, refused (InvalidValueError naming the field) when not usable."""
        title = " ".join(self.title.split())
        if not 0 < len(title) <= _TITLE_MAX:
            raise InvalidValueError(
                f"the title must be 1–{_TITLE_MAX} characters: the service's name as "
                "families know it",
                field="title",
            )
        unknown = sorted(set(self.descriptions) - {"fi", "sv", "en"})
        texts = {lang: " ".join(text.split()) for lang, text in self.descriptions.items()}
        if unknown or not texts.get("fi") or any(len(t) > _DESCRIPTION_MAX for t in texts.values()):
            raise InvalidValueError(
                "descriptions are in fi (required), sv and en, each at most "
                f"{_DESCRIPTION_MAX} characters"
                + (f"; unknown languages: {unknown}" if unknown else ""),
                field="description",
            )
        if not self.purposes or not all(_PURPOSE.match(p) for p in self.purposes):
            raise InvalidValueError(
                "purposes must be a non-empty list of lowercase words such as 'learning-app'",
                field="purpose",
            )
        return ServiceDescription(title, texts, sorted(set(self.purposes)))


def scope_uri(scope: str) -> str | None:
    """The scope URI of `scope` (a URI or a short name); None when it is no OneRoster scope."""
    short = scope.removeprefix(SCOPE_PREFIX)
    return SCOPE_PREFIX + short if short in ONEROSTER_SCOPES else None


#: What a service view key is derived for (the HKDF info's prefix).
SERVICE_VIEW_KEY_INFO = "digione/service-view/v1"

_EVENT_SELECTOR = re.compile(r"^[a-z]+(\.[a-z_]+){0,2}$")


def event_selectors(events: list[str], known_types: frozenset[str]) -> list[str]:
    """The subscription's selectors, checked: families (`assessment`), aggregates
    (`roster.user`) or event types (`assessment.result.recorded`) of the families a
    service may receive.

    `known_types` are the catalogue's type names (`fi.digione.assessment.result.recorded.v1`)."""
    known = {".".join(t.split(".")[2:n]) for t in known_types for n in (4, 5)}
    wrong = [
        e
        for e in events
        if not _EVENT_SELECTOR.match(e)
        or e.split(".")[0] not in EVENT_FAMILIES
        or ("." in e and e not in known)
    ]
    if wrong:
        raise InvalidValueError(
            f"events must be families among {sorted(EVENT_FAMILIES)} or their event types "
            f"(e.g. assessment.result.recorded); not known: {wrong}",
            field="events",
        )
    return sorted(set(events))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ClientCredentials:
    """What `make_agreement` hands back once: the client's id and its secret."""

    client_id: str
    client_secret: str


class AgreementCommands(TenantCore):
    """The service agreements of one tenant and the credentials of their OAuth clients."""

    def client_id_of(self, service: str) -> str:
        """The OAuth client id of a service of this tenant: `service@tenant`."""
        return f"{service}@{self.tenant}"

    def _agreement_id(self, client_id: str) -> UUID:
        return aggregate_id(self.tenant, "agreements", client_id)

    def make_agreement(
        self,
        actor: Actor,
        *,
        service: str,
        scopes: list[str],
        categories: list[str],
        basis: str,
        schools: list[str],
        events: list[str] | None = None,
        known_event_types: frozenset[str] = frozenset(),
        purpose: str | None = None,
        delivery: str = SEALED,
        description: ServiceDescription | None = None,
    ) -> ClientCredentials:
        """Records a service's agreement and returns its new client credentials.

        `events` subscribe it to event families or types (checked against
        `known_event_types`, the catalogue's type names); recorded as a Changed event
        beside Made, in one save, as is `description` (a Described event). A consent-based
        agreement names its `purpose`: only consents for that purpose are its basis."""
        if actor.role != "admin":
            raise NotPermittedError("agreements are made by an admin of the tenant")
        if not _SERVICE_NAME.match(service):
            raise InvalidValueError(
                "the name must be a service id: lowercase letters, digits and dashes, "
                "2–63 characters (it is the service's id in consents)",
                field="name",
            )
        selectors = event_selectors(events or [], known_event_types)
        uris = self._checked_scopes(scopes)
        self._check_categories(categories)
        if basis not in BASES:
            raise InvalidValueError(f"basis must be one of {sorted(BASES)}", field="basis")
        self._check_purpose(purpose)
        if basis == CONSENT and purpose is None:
            raise InvalidValueError(
                "a consent-based agreement names its purpose (e.g. learning-app): only the "
                "families' consents for that purpose let the service receive data",
                field="purpose",
            )
        self._check_delivery(delivery)
        self._check_schools(schools)
        described = None if description is None else description.checked()
        if described is not None:
            _check_described_purposes(basis, purpose, described.purposes)
        client_id = self.client_id_of(service)
        if self._find_by_id(Agreement, self._agreement_id(client_id)) is not None:
            raise ConflictError(
                f"a client named {service!r} exists already; choose another name",
                field="name",
            )
        secret = new_client_secret()
        if not self.tables.store_client_secret(client_id, _hash(secret)):
            raise ConflictError(f"client {client_id!r} has credentials already", field="name")
        agreement = Agreement._create(
            Agreement.Made,
            id=self._agreement_id(client_id),
            client_id=client_id,
            service=service,
            scopes=sorted({u for u in uris if u is not None}),
            categories=sorted(set(categories)),
            basis=basis,
            schools=sorted(set(schools)),
            made_at=self.clock(),
            made_by=actor.subject,
            purpose=purpose,
            delivery=delivery,
        )
        if selectors:
            agreement.change(
                scopes=agreement.scopes,
                categories=agreement.categories,
                schools=agreement.schools,
                events=selectors,
                changed_at=agreement.made_at,
                changed_by=actor.subject,
            )
        if described is not None:
            agreement.describe(
                title=described.title,
                descriptions=described.descriptions,
                purposes=described.purposes,
                described_at=agreement.made_at,
                described_by=actor.subject,
            )
        self._save(agreement)
        return ClientCredentials(client_id, secret)

    def _checked_scopes(self, scopes: list[str]) -> list[str]:
        uris = [scope_uri(s) for s in scopes]
        if not scopes or None in uris:
            unknown = [s for s, u in zip(scopes, uris, strict=True) if u is None]
            raise InvalidValueError(
                f"scopes must be OneRoster 1.2 scopes, e.g. roster-core.readonly or "
                f"{SCOPE_PREFIX}roster.readonly; not known: {unknown}",
                field="scope",
            )
        return sorted({u for u in uris if u is not None})

    def _check_categories(self, categories: list[str]) -> None:
        unknown_categories = sorted(set(categories) - AGREEMENT_CATEGORIES)
        if unknown_categories:
            raise InvalidValueError(
                f"categories must be among {sorted(AGREEMENT_CATEGORIES)}; "
                f"not known: {unknown_categories}",
                field="category",
            )

    def _check_purpose(self, purpose: str | None) -> None:
        if purpose is not None and not PURPOSE.match(purpose):
            raise InvalidValueError(
                "purpose must be a lowercase word such as 'learning-app', as consents name it",
                field="purpose",
            )

    def _check_delivery(self, delivery: str | None) -> None:
        if delivery is not None and delivery not in DELIVERIES:
            raise InvalidValueError(
                f"delivery must be one of {sorted(DELIVERIES)}: sealed (under a key of the "
                "service and subject, fetched from the keys endpoint) or clear",
                field="delivery",
            )

    def _check_schools(self, schools: list[str]) -> None:
        for school in schools:
            org = self._find(Org, "orgs", school, for_update=False)
            if org is None:
                raise InvalidValueError(f"no org {school!r} in this tenant", field="school")

    def update_agreement(
        self,
        actor: Actor,
        service: str,
        *,
        scopes: list[str] | None = None,
        categories: list[str] | None = None,
        schools: list[str] | None = None,
        events: list[str] | None = None,
        known_event_types: frozenset[str] = frozenset(),
        purpose: str | None = None,
        delivery: str | None = None,
    ) -> Agreement:
        """Changes the terms given (each replaced whole; None keeps it) of an agreement in
        force, as one Changed event; the same terms again record nothing."""
        if actor.role != "admin":
            raise NotPermittedError("agreements are changed by an admin of the tenant")
        agreement = self._agreement_in_force(service)
        new_scopes = agreement.scopes if scopes is None else self._checked_scopes(scopes)
        if categories is not None:
            self._check_categories(categories)
        if schools is not None:
            self._check_schools(schools)
        self._check_purpose(purpose)
        self._check_delivery(delivery)
        new_events = (
            agreement.events if events is None else event_selectors(events, known_event_types)
        )
        changed = agreement.change(
            scopes=new_scopes,
            categories=agreement.categories if categories is None else sorted(set(categories)),
            schools=agreement.schools if schools is None else sorted(set(schools)),
            events=new_events,
            changed_at=self.clock(),
            changed_by=actor.subject,
            purpose=purpose,
            delivery=delivery,
        )
        if changed:
            self._save(agreement)
        return agreement

    def describe_agreement(
        self, actor: Actor, service: str, description: ServiceDescription
    ) -> Agreement:
        """Sets how a service in force is presented to families (a Described event); the
        same description again records nothing."""
        if actor.role != "admin":
            raise NotPermittedError("agreements are described by an admin of the tenant")
        agreement = self._agreement_in_force(service)
        described = description.checked()
        _check_described_purposes(agreement.basis, agreement.purpose, described.purposes)
        if agreement.describe(
            title=described.title,
            descriptions=described.descriptions,
            purposes=described.purposes,
            described_at=self.clock(),
            described_by=actor.subject,
        ):
            self._save(agreement)
        return agreement

    def _agreement_in_force(self, service: str) -> Agreement:
        agreement = self._find_by_id(Agreement, self._agreement_id(self.client_id_of(service)))
        if agreement is None:
            raise NotFoundError(f"no client named {service!r} in this tenant", field="name")
        if agreement.ended:
            raise ConflictError(
                f"the agreement of {service!r} has ended; make a new client instead",
                field="name",
            )
        return agreement

    def consent_agreements(self, *, ended: bool = False) -> list[Agreement]:
        """The tenant's agreements that rest on the families' consents, by service: those in
        force (the services a family can be asked to consent to), and with `ended` the
        ended ones too."""
        found = [self.agreement(client_id) for client_id in self.tables.client_ids()]
        return sorted(
            (a for a in found if a is not None and a.basis == CONSENT and (ended or not a.ended)),
            key=lambda a: a.service,
        )

    def agreement(self, client_id: str) -> Agreement | None:
        """The agreement of an OAuth client of this tenant; None when there is none."""
        return self._find_by_id(Agreement, self._agreement_id(client_id), for_update=False)

    def authenticated_agreement(self, client_id: str, secret: str) -> Agreement | None:
        """The client's agreement when `secret` is its secret and the agreement is in force."""
        stored = self.tables.client_secret_hash(client_id)
        if stored is None or not hmac.compare_digest(stored, _hash(secret)):
            return None
        agreement = self.agreement(client_id)
        return None if agreement is None or agreement.ended else agreement

    def end_agreement(self, actor: Actor, service: str) -> bool:
        """Ends a service's agreement: its tokens stop working at once; True when it was
        in force. NotFoundError when the tenant has no client of that name."""
        if actor.role != "admin":
            raise NotPermittedError("agreements are ended by an admin of the tenant")
        agreement = self._find_by_id(Agreement, self._agreement_id(self.client_id_of(service)))
        if agreement is None:
            raise NotFoundError(f"no client named {service!r} in this tenant", field="name")
        if agreement.ended:
            return False
        agreement.end(ended_at=self.clock(), ended_by=actor.subject)
        self._save(agreement)
        # Crypto-shreds every copy the service received sealed: its view keys derive from
        # this one (service_view_key).
        self.tables.shred_subject_key(agreement.id, RetentionClass.WORKING)
        self.sealer.forget_cached_key(agreement.id, RetentionClass.WORKING)
        return True

    def service_view_key(self, service: str, subject: str, *, create: bool) -> bytes | None:
        """The key a service's copy of a subject's personal fields is sealed under (AES-256,
        the same for every event of that subject delivered to that service).

        Derived from the subject's working-data key and a key of the service's agreement,
        so an erasure of the subject or the end of the agreement destroys it; None once
        either is destroyed (or, without `create`, before either exists)."""
        return self.sealer.derived_key(
            self._id("users", subject),
            self._agreement_id(self.client_id_of(service)),
            info=f"{SERVICE_VIEW_KEY_INFO}:{self.tenant}/{service}/{subject}",
            create=create,
        )


def _check_described_purposes(basis: str, purpose: str | None, described: list[str]) -> None:
    """Families consent for the purposes a service is described with; the agreement's own
    purpose must be one of them, or no consent they give would ever let data flow."""
    if basis == CONSENT and purpose is not None and purpose not in described:
        raise InvalidValueError(
            f"the agreement's purpose {purpose!r} must be among the purposes described to "
            f"families (given: {described}); add it with --purpose {purpose}",
            field="purpose",
        )


def new_client_secret() -> str:
    """A new OAuth client secret: 32 random bytes, URL-safe, never beginning with "-". A
    command line takes a value beginning with "-" for an option, so a vendor's
    `--client-secret "$SECRET"` (the example subscriber's, most CLIs') failed with one
    secret in 64."""
    while True:
        secret = secrets.token_urlsafe(32)
        if not secret.startswith("-"):
            return secret
