"""The `digione` command line: serve, issue tokens, manage tenants, benchmark."""

from __future__ import annotations

import inspect
import logging
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from api.bootstrap import Container, bootstrap, connection_plan
from api.connection_budget import serve_process_role
from api.settings import Settings, describe_invalid
from api.shared_epochs import MASTER_KEY, tenant_epoch
from api.stop_signals import StopSignals
from api.tokens import token_id
from domain.commands import ROLES
from domain.errors import DomainError

app = typer.Typer(
    help="DigiOne learning-data backbone. Settings come from DIGIONE_* environment variables "
    "(DATABASE_URL, KAFKA_BOOTSTRAP, DATA_DIR, MASTER_KEY_FILE, TOPIC_PREFIX).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="Bearer tokens for people and services.", no_args_is_help=True)
tenant_app = typer.Typer(
    help="Tenants: the municipalities this installation serves.", no_args_is_help=True
)
projections_app = typer.Typer(
    help="Read models: rebuild them (from the event stores or the topics), see how current they are.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")
app.add_typer(tenant_app, name="tenant")
relay_app = typer.Typer(
    help="The relay: events it could not publish (parked), and publishing them again.",
    no_args_is_help=True,
)
app.add_typer(projections_app, name="projections")
app.add_typer(relay_app, name="relay")

from api.oneroster.clients_cli import clients_app
from api.services_cli import fanout_app, subscribe

app.add_typer(clients_app, name="clients")
app.command("subscribe")(subscribe)
app.add_typer(fanout_app, name="fanout")

from api.audit_cli import audit_app, replay_command
from api.oneroster_csv.cli import export_app, import_app

app.add_typer(audit_app, name="audit")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.command("replay")(replay_command)

err = Console(stderr=True)
out = Console()
log = logging.getLogger("api.serve")

#: On SIGTERM, how long `serve` lets the requests in flight finish before closing them.
SHUTDOWN_GRACE_SECONDS = 30


def _container() -> Container:
    return bootstrap(Settings())


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def show_token(token: str, *, console: Console) -> None:
    """A bearer token alone on its line, exactly as issued: never wrapped at the terminal's
    width (rich wraps at 80 columns where it sees no terminal) nor highlighted, so that it
    pastes whole into the sign-in page or an Authorization header."""
    console.out(token, highlight=False)


def show_demo_admin_token(container: Container, *, console: Console) -> str:
    """Issues an admin token of the demo tenant and shows it, as `serve --demo` does."""
    from api.demo import DEMO_ADMIN, DEMO_TENANT

    token = container.tokens.issue(tenant=DEMO_TENANT, role="admin", subject=DEMO_ADMIN.subject)
    console.print(f"demo tenant [bold]{DEMO_TENANT}[/] ready; an admin token:", soft_wrap=True)
    show_token(token, console=console)
    return token


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed the demo tenant (once) and serve it.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API, with the relay, the projections and (unless DIGIONE_KAFKA_BOOTSTRAP
    is set) the embedded broker running beside it: the relay, the projections, the fan-out
    and retention in a worker process of their own (DIGIONE_WORKER_PROCESS, default on)."""
    import uvicorn

    from api.app import create_app
    from api.asgi import http_workers
    from api.heap import settle_heap
    from api.log_format import configure

    settings = Settings()
    configure(settings.log_level)
    # Quiet before uvicorn runs; after, the runtime below stops cleanly and `serve` exits 0.
    stop_signals = StopSignals()
    _require_worker_process_for_http_workers(settings)
    _require_connection_budget(settings)
    container = bootstrap(settings, role=serve_process_role(settings.http_workers))
    try:
        container.runtime.start(worker_process=settings.worker_process)
        err.print(f"events flow to Kafka at [bold]{container.runtime.bootstrap}[/]")
        if demo:
            from api.demo import seed_demo

            # With the runtime running, the relay and the projections take the demo's
            # events as they are seeded: its read models are current soon after the seed
            # ends, not some seconds after the server starts.
            seed_demo(container)
            show_demo_admin_token(container, console=err)
        if settings.http_workers > 1:
            # Several HTTP processes (uvicorn's workers, each building its own app from
            # the settings handed over); this process keeps the broker and the worker.
            stop_signals.serving = True  # from here uvicorn takes the signals
            uvicorn.run(
                **http_workers(container),
                host=host,
                port=port,
                log_config=None,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            )
            return
        app = create_app(container)
        settle_heap()
        stop_signals.serving = True
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,  # the JSON lines configured above
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
    finally:
        stop_signals.serving = True
        container.close()
        log.info("stopped: requests drained, the relay, projections and retention stopped")


def _require_worker_process_for_http_workers(settings: Settings) -> None:
    """Several HTTP processes leave the background loops to the worker process: without
    one, nothing would relay or project."""
    if settings.http_workers > 1 and not settings.worker_process:
        raise _fail("DIGIONE_HTTP_WORKERS above 1 needs DIGIONE_WORKER_PROCESS=true")


def _require_connection_budget(settings: Settings) -> None:
    """serve's processes must fit the connections PostgreSQL allows (api/connection_budget.py):
    past them, requests would fail 503 under load with "too many clients". Settings that
    cannot fit even one tenant are refused; tenants that leave the request pools fewer than
    their fewest connections are warned of (serve goes on, its pools at their fewest)."""
    plan = connection_plan(settings, role="http")
    if plan is None:
        return
    if plan.refused is not None:
        raise _fail(plan.refused)
    if plan.shortfall is not None:
        log.warning("%s; meanwhile each request pool has its fewest connections", plan.shortfall)
        return
    log.info(
        "PostgreSQL connections: serve's processes may open %d (DIGIONE_DATABASE_CONNECTIONS "
        "or the server's limit less a tenth); each HTTP process's two request pools keep %d "
        "and open up to %d more in a burst",
        plan.budget,
        plan.pool_size,
        plan.max_overflow,
    )


@app.command(hidden=True)
def worker() -> None:
    """Internal: the background worker `serve` starts (relay, projections, fan-out,
    retention); it takes its settings from serve and stops when serve does."""
    from api.worker import main as worker_main

    worker_main()


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port to listen on (loopback).")] = 9092,
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, in memory) in the foreground."""
    from streams.broker import run_foreground

    raise typer.Exit(code=run_foreground(port))


@token_app.command("issue")
def token_issue(
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(sorted(ROLES))}.")],
    subject: Annotated[str, typer.Option(help="The user's sourcedId, or a service id.")],
    scope: Annotated[list[str] | None, typer.Option(help="A scope; repeat for more.")] = None,
    ttl: Annotated[
        int | None,
        typer.Option(help="Lifetime in seconds, more than 0; default DIGIONE_TOKEN_TTL_SECONDS."),
    ] = None,
) -> None:
    """Print a bearer token for a person or service of a tenant, alone on one line of standard
    output; warn (standard error) when the roster does not know the person in that role."""
    from api.token_subjects import roster_warning

    if role not in ROLES:
        raise _fail(f"role {role!r} is not one of {', '.join(sorted(ROLES))}")
    container = _container()
    try:
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}; create it with `digione tenant create {tenant}`")
        try:
            token = container.tokens.issue(
                tenant=tenant, role=role, subject=subject, scopes=scope or [], ttl_seconds=ttl
            )
        except ValueError as error:
            raise _fail(f"--ttl: {error}") from None
        warning = roster_warning(container.tenants.get(tenant), role=role, subject=subject)
        if warning is not None:
            err.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        err.print(f"token id (for `digione token revoke --jti`): {token_id(token)}", soft_wrap=True)
        show_token(token, console=out)
    finally:
        container.close()


@token_app.command("revoke")
def token_revoke(
    tenant: Annotated[str, typer.Option(help="Tenant id, e.g. vantaa.")],
    jti: Annotated[
        str | None, typer.Option(help="The id of one token (printed by `token issue`).")
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(help="A user's sourcedId or a service id: every token it holds now."),
    ] = None,
) -> None:
    """Revoke a bearer token, or all of a subject's tokens: every running server refuses
    them (401) from its next request on. Tokens issued afterwards are valid."""
    if (jti is None) == (subject is None):
        raise _fail("give exactly one of --jti ID (one token) or --subject ID (all of theirs)")
    container = _container()
    try:
        if not container.tenants.exists(tenant):
            raise _fail(f"no tenant {tenant!r}; `digione tenant list` shows the tenants here")
        now = container.clock()
        if jti is not None:
            container.revocations.revoke_token(tenant=tenant, jti=jti, at=now)
            err.print(f"token [bold]{jti}[/] of {tenant} revoked")
        elif subject is not None:
            container.revocations.revoke_subject(tenant=tenant, subject=subject, at=now)
            err.print(f"every token of [bold]{subject}[/] in {tenant} issued until now revoked")
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


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[
        str | None, typer.Argument(help="The projection to rebuild, e.g. roster; all when omitted.")
    ] = None,
    from_topics: Annotated[
        bool,
        typer.Option(
            "--from-topics",
            help="Read the Kafka topics from their beginning instead of the event stores.",
        ),
    ] = False,
) -> None:
    """Drop a read model and rebuild it from the tenants' event stores (or, with
    --from-topics, from the beginning of the topics), with progress."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from projections.admin import BrokerNotConfiguredError, RebuildProgress, RebuildStalledError
    from projections.status import UnknownProjectionError

    class RateColumn(ProgressColumn):
        """Store positions applied per second: events per second."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-- events/s" if speed is None else f"{speed:,.0f} events/s")

    container = _container()
    try:
        admin = container.admin
        selected = admin.select(name)
        if from_topics:
            admin.require_broker()
        for projection in selected:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeElapsedColumn(),
                TextColumn("elapsed,"),
                TimeRemainingColumn(),
                TextColumn("left"),
                console=err,
            ) as progress:
                task = progress.add_task(projection.name, total=None)

                def show(step: RebuildProgress, task: TaskID = task) -> None:
                    progress.update(task, completed=step.done, total=step.total or None)

                report = admin.rebuild(projection, on_progress=show, from_topics=from_topics)
            if report.source == "store":
                err.print(
                    f"[bold]{report.projection}[/] rebuilt from the event store: "
                    f"{report.messages:,} events in {report.seconds:.1f} s "
                    f"({report.rate:,.0f}/s); {report.parked} parked"
                )
            else:
                err.print(
                    f"[bold]{report.projection}[/] rebuilt: {report.messages:,} messages in "
                    f"{report.seconds:.1f} s ({report.rate:,.0f}/s); {report.parked} parked"
                )
            for tenant, missing in report.behind_relay.items():
                err.print(
                    f"  {tenant}: {missing:,} stored events are not published yet; the relay "
                    "publishes them and the running projections apply them"
                )
    except (BrokerNotConfiguredError, RebuildStalledError, UnknownProjectionError) as error:
        raise _fail(str(error)) from None
    finally:
        container.close()


@projections_app.command("status")
def projections_status() -> None:
    """Show each projection's position, the store head, the lag and parked messages per tenant."""
    from rich.table import Table

    container = _container()
    try:
        table = Table("projection", "tenant", "position", "head", "lag", "parked")
        for state in container.admin.states():
            parked = f"[bold red]{state.parked}[/]" if state.parked else "0"
            table.add_row(
                state.projection,
                state.tenant,
                str(state.position),
                str(state.head),
                str(state.lag),
                parked,
            )
        Console().print(table)
        _show_worker(container)
    finally:
        container.close()


def _show_worker(container: Container) -> None:
    """The line on `serve`'s worker process under `projections status` (standard error)."""
    from api.runtime_report import read_report
    from api.worker_process import WORKER_REPORT

    report = read_report(container.engine, WORKER_REPORT)
    if report is None:
        err.print("worker process: no recent report (serve is not running, or its worker is down)")
        return
    stopped = [name for name, loop in report["loops"].items() if not loop["running"]]
    err.print(
        f"worker process: pid {report['pid']}, restarted {report['restarts']} times; "
        + (f"[bold red]not running: {', '.join(stopped)}[/]" if stopped else "every loop running")
        + (f"; runner failure: {escape(report['failure'])}" if report["failure"] else ""),
        soft_wrap=True,
    )


@relay_app.command("parked")
def relay_parked(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's events.")] = None,
) -> None:
    """List the events the relay could not publish and moved past, with why."""
    from rich.table import Table

    container = _container()
    try:
        events = container.runtime.relay.parked(tenant)
        if not events:
            err.print("no parked events" + (f" in {tenant}" if tenant else ""))
            return
        table = Table("tenant", "position", "event type", "aggregate", "version", "parked at")
        for event in events:
            table.add_row(
                event.tenant,
                str(event.position),
                event.event_type,
                event.originator_id or "",
                "" if event.originator_version is None else str(event.originator_version),
                event.parked_at.isoformat(timespec="seconds"),
            )
        Console().print(table)
        for event in events:
            err.print(
                f"{event.tenant} {event.position} ({event.attempts} attempts): {event.reason}"
            )
        err.print(
            "fix the cause, then `digione relay retry --tenant T [--position N]` publishes "
            "them again"
        )
    finally:
        container.close()


@relay_app.command("retry")
def relay_retry(
    tenant: Annotated[str, typer.Option(help="The tenant whose parked events to publish.")],
    position: Annotated[
        int | None, typer.Option(help="Only the event at this store position.")
    ] = None,
) -> None:
    """Publish parked events again, in store order; the published ones leave the list."""
    from streams.relay import BrokerUnavailableError

    container = _container()
    try:
        if not container.settings.kafka_bootstrap:
            raise _fail(
                "DIGIONE_KAFKA_BOOTSTRAP is not set: the embedded broker lives inside "
                "`digione serve`; set it to the broker the server publishes to"
            )
        if tenant not in container.tenants.ids():
            raise _fail(f"no tenant {tenant!r}; `digione tenant list` shows them")
        relay = container.runtime.relay
        if not relay.parked(tenant) or (
            position is not None and position not in {e.position for e in relay.parked(tenant)}
        ):
            raise _fail(
                f"nothing parked in {tenant}"
                + (f" at position {position}" if position is not None else "")
                + "; `digione relay parked` lists what is"
            )
        try:
            outcome = relay.retry_parked(tenant, position)
        except BrokerUnavailableError as error:
            raise _fail(str(error)) from None
        err.print(f"{outcome.published} published, {outcome.still_parked} still parked")
        if outcome.still_parked:
            raise typer.Exit(code=1)
    finally:
        container.close()


@app.command()
def bench(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME]...",
            help="With --only: the measures to run (dashboard, relay, …); all without.",
            show_default=False,
        ),
    ] = None,
    only: Annotated[
        bool, typer.Option("--only", help="Run only the measures named after it.")
    ] = False,
    clients: Annotated[
        int, typer.Option("--clients", min=1, help="Concurrent clients of the closed loops.")
    ] = 32,
    quick: Annotated[
        bool, typer.Option("--quick", help="Fewer iterations, for a smoke run.")
    ] = False,
    city: Annotated[
        bool,
        typer.Option(
            "--city",
            help="oneroster_import over a city of 50,000 students instead of a town of "
            "2,000 (long: its import alone takes minutes).",
        ),
    ] = False,
) -> None:
    """Run the benchmark suite: one table of each measure beside its raw baseline of the same
    run and its goal; the rows go to $DIGIONE_DATA_DIR/bench/latest.json."""
    from dataclasses import replace

    from bench import FULL, QUICK, UnknownMeasureError, run_benchmarks, selected_measures
    from bench.sizes import CITY_STUDENTS

    if names and not only:
        raise _fail(f"name the measures after --only: digione bench --only {' '.join(names)}")
    if only and not names:
        raise _fail("--only needs the names of the measures to run, e.g. --only dashboard relay")
    try:
        selected_measures(names)
    except UnknownMeasureError as error:
        raise _fail(str(error)) from None
    settings = Settings()
    # The server under test is built as `serve` builds it, and refused as serve refuses.
    _require_worker_process_for_http_workers(settings)
    _require_connection_budget(settings)
    sizes = QUICK if quick else FULL
    if city:
        sizes = replace(sizes, oneroster_students=CITY_STUDENTS)
    run_benchmarks(settings, sizes=sizes, clients=clients, only=names)


schemas_app = typer.Typer(help="Avro schemas of the event types.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of kept personal data.", no_args_is_help=True)
keys_app = typer.Typer(help="The master key.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(retention_app, name="retention")
app.add_typer(keys_app, name="keys")


@app.command()
def erase(
    subject_id: Annotated[str, typer.Argument(help="The sourcedId of the data subject.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    reason: Annotated[str, typer.Option(help="Why (sealed; shown in the receipt).")],
    basis: Annotated[
        str | None, typer.Option(help='Legal basis, e.g. "GDPR art. 17(1)(a)".')
    ] = None,
) -> None:
    """Erase a data subject's personal data by destroying their keys; print the receipt."""
    import json

    from domain.commands import Actor
    from projections.reads.erasure_receipt import receipt

    container = _container()
    try:
        app_ = container.tenants.get(tenant)
        outcome = app_.erase(
            Actor(tenant, "admin", "cli"), subject=subject_id, reason=reason, basis=basis
        )
        print(json.dumps(receipt(app_, app_.erasure(outcome.id)), indent=2, ensure_ascii=False))
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()


@retention_app.command("run")
def retention_run() -> None:
    """Shred kept personal data whose retention period has ended (serve does this hourly)."""
    container = _container()
    try:
        done = container.runtime.retention.run_once()
        for tenant, subject, retention_class in done:
            print(f"{tenant}\t{subject}\t{retention_class}")
        err.print(f"{len(done)} retention class(es) shredded")
    finally:
        container.close()


@tenant_app.command("shred")
def tenant_shred(
    tenant: Annotated[str, typer.Argument(help="The tenant to offboard.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Offboard a tenant: destroy its key-encryption key, so all its personal data becomes
    unreadable at once; pseudonymous facts remain."""
    if not yes:
        raise _fail(f"destroying {tenant}'s key-encryption key cannot be undone: add --yes")
    container = _container()
    try:
        container.tenants.get(tenant).shred_tenant(requested_by="cli")
        # Every running server forgets the tenant's keys before its next request.
        container.epochs.bump(tenant_epoch(tenant))
        err.print(f"tenant [bold]{tenant}[/]: key-encryption key destroyed")
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Rotate the master key: every tenant key-encryption key is re-wrapped; no event changes.
    Bearer tokens issued before are no longer valid (they are signed with a derived key),
    in running servers too, from their next request on."""
    from api import master_key

    container = _container()
    try:
        rotated = master_key.rotate(
            container.settings.resolved_master_key_file, container.tenants.rotate_master_key
        )
        # Every running server loads the new key before its next request: tokens issued
        # from now on are valid there, the ones issued before are refused.
        container.epochs.bump(MASTER_KEY)
        err.print(f"master key rotated; {len(rotated)} tenant key(s) re-wrapped")
    finally:
        container.close()


@keys_app.command("reindex")
def keys_reindex(
    tenant: Annotated[
        str | None, typer.Option(help="The tenant whose index to rebuild; all when omitted.")
    ] = None,
) -> None:
    """Rebuild the blind index of sealed user fields (OneRoster `email='…'` filters) from
    every user's sealed details: for users recorded before the index existed. `keys rotate`
    needs none (the index key derives from the tenant key, which rotation keeps)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    container = _container()
    try:
        for tenant_id in [tenant] if tenant else container.tenants.ids():
            app = container.tenants.get(tenant_id)
            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                console=err,
            ) as progress:  # fmt: skip
                task = progress.add_task(f"{tenant_id} users", total=None)

                def show(done: int, total: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total)

                indexed = app.reindex_users(show)
            err.print(f"tenant [bold]{tenant_id}[/]: blind index of {indexed} user(s) rebuilt")
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()


@schemas_app.command("generate")
def schemas_generate() -> None:
    """Write schemas for new event types; refuses to overwrite a released schema."""
    from streams.schemas import SchemaReleasedError, generate

    try:
        written = generate()
    except SchemaReleasedError as error:
        raise _fail(str(error)) from None
    for name in written:
        print(name)
    err.print(f"{len(written)} schema(s) written")


@schemas_app.command("release")
def schemas_release() -> None:
    """Add the current schemas to the released history (do this when shipping a version)."""
    from streams.schemas import release

    for name in release():
        print(name)


def _summaries_on_one_line(typer_app: typer.Typer) -> None:
    """Each command of `typer_app` and of its groups listed with its summary (its help's
    first paragraph) as one paragraph: in the command lists Typer's rich help keeps the
    line breaks of a docstring wrapped in the source (a command's own help does not), so
    `digione --help` broke its summaries mid-sentence."""
    for command in typer_app.registered_commands:
        if command.short_help is None:
            text = command.help or inspect.getdoc(command.callback) or ""
            command.short_help = " ".join(text.split("\n\n", 1)[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _summaries_on_one_line(group.typer_instance)


_summaries_on_one_line(app)


def main() -> None:
    try:
        app()
    except ValidationError as error:
        if error.title != Settings.__name__:
            raise
        # A DIGIONE_ variable the settings refuse: say which and why, not a traceback.
        err.print(describe_invalid(error), markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
