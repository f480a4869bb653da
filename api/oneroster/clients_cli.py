"""`digione clients …`: OAuth clients of services, each with its recorded agreement."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.bootstrap import Container
from domain.commands import Actor
from domain.errors import DomainError

__all__ = ["clients_app", "create_client"]

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
    )
    return {"client_id": made.client_id, "client_secret": made.client_secret}


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
        )
        print(json.dumps(created))
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
        ended = container.tenants.get(tenant).end_agreement(Actor(tenant, "admin", "cli"), name)
        print(json.dumps({"client_id": f"{name}@{tenant}", "ended": ended}))
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()
