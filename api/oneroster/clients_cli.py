"""`digione clients …`: OAuth clients of services, each with its recorded agreement."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.bootstrap import Container
from api.shared_epochs import SERVICE_AGREEMENTS
from domain.agreement_commands import ServiceDescription
from domain.agreements import SEALED
from domain.commands import Actor
from domain.errors import DomainError
from streams.event_types import by_type_name

__all__ = ["clients_app", "create_client", "describe_client", "end_client", "update_client"]

clients_app = typer.Typer(
    help="OAuth clients of services (OneRoster), each with its data-sharing agreement.",
    no_args_is_help=True,
)


def create_client(
    container: Container,
    *,
    tenant: str,
    name: str,
    scopes: list[str],
    categories: list[str],
    basis: str,
    schools: list[str],
    events: list[str] | None = None,
    purpose: str | None = None,
    delivery: str = SEALED,
) -> dict[str, str]:
    """Records the agreement and returns {"client_id", "client_secret"} (the secret once)."""
    app = container.tenants.get(tenant)
    made = app.make_agreement(
        Actor(tenant, "admin", "cli"),
        service=name,
        scopes=scopes,
        categories=categories,
        basis=basis,
        schools=schools,
        events=events or [],
        known_event_types=frozenset(by_type_name()),
        purpose=purpose,
        delivery=delivery,
    )
    return {"client_id": made.client_id, "client_secret": made.client_secret}


def end_client(container: Container, *, tenant: str, name: str) -> bool:
    """Ends the service's agreement (its tokens stop at the next request); True when it
    was in force."""
    ended = container.tenants.get(tenant).end_agreement(Actor(tenant, "admin", "cli"), name)
    _announce(container)
    return ended


def _announce(container: Container) -> None:
    """Tells every process that an agreement changed, before the command answers: each
    forgets the agreements it held (api/oneroster/agreements.py) before its next request."""
    container.epochs.bump(SERVICE_AGREEMENTS)


def update_client(
    container: Container,
    *,
    tenant: str,
    name: str,
    scopes: list[str] | None = None,
    categories: list[str] | None = None,
    schools: list[str] | None = None,
    events: list[str] | None = None,
    purpose: str | None = None,
    delivery: str | None = None,
) -> dict[str, object]:
    """Changes the terms given (None keeps one); returns the agreement's terms now."""
    agreement = container.tenants.get(tenant).update_agreement(
        Actor(tenant, "admin", "cli"),
        name,
        scopes=scopes,
        categories=categories,
        schools=schools,
        events=events,
        known_event_types=frozenset(by_type_name()),
        purpose=purpose,
        delivery=delivery,
    )
    _announce(container)
    return {
        "client_id": agreement.client_id,
        "scopes": agreement.scopes,
        "categories": agreement.categories,
        "schools": agreement.schools,
        "events": agreement.events,
        "basis": agreement.basis,
        "purpose": agreement.purpose,
        "delivery": agreement.delivery,
    }


@clients_app.command("create")
def clients_create(
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    name: Annotated[str, typer.Option(help="The service's id (in consents): e.g. learnapp.")],
    scope: Annotated[
        list[str],
        typer.Option(help="A OneRoster 1.2 scope (URI or short name, e.g. roster.readonly)."),
    ],
    category: Annotated[
        list[str] | None,
        typer.Option(help="Personal data it may see: identity, contact, demographics."),
    ] = None,
    basis: Annotated[str, typer.Option(help="statutory or consent.")] = "statutory",
    school: Annotated[
        list[str] | None, typer.Option(help="Limit it to this school (sourcedId); repeat.")
    ] = None,
    events: Annotated[
        list[str] | None,
        typer.Option(
            help="Subscribe it to an event family or type: assessment, "
            "assessment.result.recorded …; repeat."
        ),
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option(
            help="The purpose a family's consent must name (consent basis), e.g. learning-app."
        ),
    ] = None,
    delivery: Annotated[
        str,
        typer.Option(
            help="sealed (personal fields under a key of the service and subject, which "
            "erasure or the agreement's end destroys) or clear."
        ),
    ] = SEALED,
) -> None:
    """Create an OAuth client for a service; prints {"client_id", "client_secret"} once."""
    from api.cli import _container, _fail

    container = _container()
    try:
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}; create it with `digione tenant create {tenant}`")
        created = create_client(
            container,
            tenant=tenant,
            name=name,
            scopes=scope,
            categories=category or [],
            basis=basis,
            schools=school or [],
            events=events or [],
            purpose=purpose,
            delivery=delivery,
        )
        print(json.dumps(created))
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()


@clients_app.command("update")
def clients_update(
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    name: Annotated[str, typer.Option(help="The service's id, as created.")],
    scope: Annotated[
        list[str] | None, typer.Option(help="The scopes from now on (all of them); repeat.")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="The categories from now on; repeat.")
    ] = None,
    school: Annotated[list[str] | None, typer.Option(help="The schools from now on.")] = None,
    events: Annotated[
        list[str] | None, typer.Option(help="The event families or types from now on.")
    ] = None,
    no_categories: Annotated[bool, typer.Option(help="Remove every category.")] = False,
    no_schools: Annotated[bool, typer.Option(help="Lift the limit to schools.")] = False,
    no_events: Annotated[bool, typer.Option(help="Subscribe it to no events.")] = False,
    purpose: Annotated[
        str | None,
        typer.Option(help="The purpose from now on (consent basis), e.g. learning-app."),
    ] = None,
    delivery: Annotated[str | None, typer.Option(help="sealed or clear from now on.")] = None,
) -> None:
    """Change a service's agreement: each option given replaces that term whole (recorded
    as one event); prints the agreement's terms."""
    from api.cli import _container, _fail

    container = _container()
    try:
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}")
        terms = update_client(
            container,
            tenant=tenant,
            name=name,
            scopes=scope,
            categories=[] if no_categories else category,
            schools=[] if no_schools else school,
            events=[] if no_events else events,
            purpose=purpose,
            delivery=delivery,
        )
        print(json.dumps(terms))
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()


def describe_client(
    container: Container,
    *,
    tenant: str,
    name: str,
    title: str,
    descriptions: dict[str, str],
    purposes: list[str],
) -> dict[str, object]:
    """Sets how families are told about a service; returns what they are told."""
    agreement = container.tenants.get(tenant).describe_agreement(
        Actor(tenant, "admin", "cli"),
        name,
        ServiceDescription(title=title, descriptions=descriptions, purposes=purposes),
    )
    _announce(container)
    return {
        "client_id": agreement.client_id,
        "title": agreement.title,
        "descriptions": agreement.descriptions,
        "purposes": agreement.purposes,
        "receives": agreement.received_categories(),
        "basis": agreement.basis,
    }


@clients_app.command("describe")
def clients_describe(
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    name: Annotated[str, typer.Option(help="The service's id, as created.")],
    title: Annotated[str, typer.Option(help="Its name as families know it.")],
    description_fi: Annotated[str, typer.Option(help="What it does, in Finnish.")],
    purpose: Annotated[
        list[str],
        typer.Option(help="A purpose a consent to it is given for: learning-app …; repeat."),
    ],
    description_sv: Annotated[str, typer.Option(help="What it does, in Swedish.")] = "",
    description_en: Annotated[str, typer.Option(help="What it does, in English.")] = "",
) -> None:
    """Describe a service to the families asked to consent to it (a consent-based service
    is offered on the guardian's page only once described); prints what they are told."""
    from api.cli import _container, _fail

    container = _container()
    try:
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}")
        told = describe_client(
            container,
            tenant=tenant,
            name=name,
            title=title,
            descriptions={"fi": description_fi, "sv": description_sv, "en": description_en},
            purposes=purpose,
        )
        print(json.dumps(told, ensure_ascii=False))
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()


@clients_app.command("end")
def clients_end(
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    name: Annotated[str, typer.Option(help="The service's id, as created.")],
) -> None:
    """End a service's agreement: its client gets no more tokens, and its tokens stop."""
    from api.cli import _container, _fail

    container = _container()
    try:
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}")
        ended = end_client(container, tenant=tenant, name=name)
        print(json.dumps({"client_id": f"{name}@{tenant}", "ended": ended}))
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()
