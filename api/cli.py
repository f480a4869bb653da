"""The `digione` command line: serve, issue tokens, manage tenants, benchmark."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from domain.commands import ROLES
from domain.errors import DomainError

app = typer.Typer(
    help="DigiOne learning-data backbone. Settings come from DIGIONE_* environment variables "
    "(DATABASE_URL, KAFKA_BOOTSTRAP, DATA_DIR, MASTER_KEY_FILE, TOPIC_PREFIX).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="Bearer tokens for people and services.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants: the municipalities this installation serves.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(tenant_app, name="tenant")

err = Console(stderr=True)


def _container() -> Container:
    return bootstrap(Settings())


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


@app.command()
def serve(
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo tenant (once) and serve it.")] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (commands, reads, OpenAPI at /openapi.json)."""
    import uvicorn

    from api.app import create_app

    container = _container()
    if demo:
        from api.demo import DEMO_TENANT, seed_demo

        seed_demo(container)
        token = container.tokens.issue(tenant=DEMO_TENANT, role="admin", subject="demo-admin")
        err.print(f"demo tenant [bold]{DEMO_TENANT}[/] ready; an admin token:\n{token}")
    try:
        uvicorn.run(create_app(container), host=host, port=port, log_level="info")
    finally:
        container.close()


@token_app.command("issue")
def token_issue(
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(sorted(ROLES))}.")],
    subject: Annotated[str, typer.Option(help="The user's sourcedId, or a service id.")],
    scope: Annotated[list[str], typer.Option(help="A scope; repeat for more.")] = [],
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds.")] = None,
) -> None:
    """Print a bearer token for a person or service of a tenant."""
    container = _container()
    try:
        if role not in ROLES:
            raise _fail(f"role {role!r} is not one of {', '.join(sorted(ROLES))}")
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}; create it with `digione tenant create {tenant}`")
        print(container.tokens.issue(tenant=tenant, role=role, subject=subject, scopes=scope, ttl_seconds=ttl))
    finally:
        container.close()


@tenant_app.command("create")
def tenant_create(
    tenant: Annotated[str, typer.Argument(help="Tenant id: lowercase, e.g. vantaa.")],
    name: Annotated[str | None, typer.Option(help="Display name, e.g. 'Vantaan kaupunki'.")] = None,
) -> None:
    """Create a tenant (idempotent) with its own event store and key-encryption key."""
    container = _container()
    try:
        container.tenants.create(tenant, name=name or tenant)
        err.print(f"tenant [bold]{tenant}[/] is ready")
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()


@tenant_app.command("list")
def tenant_list() -> None:
    """List the tenants of this installation."""
    container = _container()
    try:
        for tenant in container.tenants.ids():
            print(tenant)
    finally:
        container.close()


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Fewer iterations, for a smoke run.")] = False,
) -> None:
    """Run the benchmark suite; each rate is reported beside a raw baseline of the same run."""
    from api.bench import run_benchmarks

    run_benchmarks(Settings(), quick=quick)


def main() -> None:
    app()
