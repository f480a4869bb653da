"""`digione audit …`: the auditors' command line (verify the tenants' ledgers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console

from api.bootstrap import Container
from domain.ledger import LedgerReport
from domain.ledger_checkpoints import Checkpoint

if TYPE_CHECKING:
    from domain.application import TenantApplication

__all__ = ["audit_app", "replay_command"]

audit_app = typer.Typer(
    help="Auditors: verify that the event log was never altered; grant auditors subjects.",
    no_args_is_help=True,
)

err = Console(stderr=True)
#: The exit status when a verified log was altered (2 is a usage error).
ALTERED = 1


def _container() -> Container:
    from api.bootstrap import bootstrap
    from api.settings import Settings

    return bootstrap(Settings())


def verify_tenants(
    container: Container,
    tenants: list[str],
    *,
    from_kafka: str | None = None,
    progress: Callable[[str], Callable[[int, int], None]] | None = None,
) -> dict[str, LedgerReport]:
    """Each tenant's verification, in order; `progress(tenant)` gives its page callback.
    With `from_kafka` (a bootstrap address) the checkpoints on each tenant's ledger topic
    are checked too."""
    return {
        tenant: container.tenants.get(tenant).verify_ledger(
            copies=[]
            if from_kafka is None
            else published_checkpoints(container, from_kafka, tenant),
            progress=None if progress is None else progress(tenant),
        )
        for tenant in tenants
    }


def published_checkpoints(container: Container, bootstrap: str, tenant: str) -> list[Checkpoint]:
    """The checkpoints on the tenant's ledger topic (none when the topic does not exist)."""
    import json

    from api.checkpoint_schedule import ledger_topic
    from streams.kafka_transport import TopicNotFoundError, read_topic

    topic = ledger_topic(container.settings.topic_prefix, tenant)
    try:
        messages = read_topic(bootstrap, topic, silence_seconds=1.0)
    except TopicNotFoundError:
        return []
    return [Checkpoint.from_dict(json.loads(m.value)) for m in messages if m.value]


def replay_command(
    tenant: Annotated[
        str | None,
        typer.Option(help="The tenant whose events to replay; needed when there are several."),
    ] = None,
    after: Annotated[int, typer.Option(min=0, help="Show events after this position.")] = 0,
    subject: Annotated[
        str | None,
        typer.Option(help="Only the events of aggregates concerning this user (sourcedId)."),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="Only events of this type: a full type name, or a prefix such as "
            "roster.user or assessment.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only events that occurred at or before this ISO 8601 time."),
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="jsonl (one JSON event per line) or csv.")
    ] = "jsonl",
    from_kafka: Annotated[
        bool,
        typer.Option(
            "--from-kafka",
            help="Read the tenant's topics on DIGIONE_KAFKA_BOOTSTRAP instead of the store "
            "(the same events, in the same order, as far as the relay has published).",
        ),
    ] = False,
    auditor: Annotated[
        str | None,
        typer.Option(
            help="The auditor replaying: the subjects granted them (audit grant) are shown "
            "opened, and recorded as disclosed to them."
        ),
    ] = None,
    as_of: Annotated[
        int | None,
        typer.Option(
            "--as-of",
            min=1,
            help="Rebuild the read model --projection as it stood at this store position "
            "into the new SQLite file --out, instead of printing events.",
        ),
    ] = None,
    projection: Annotated[
        str | None,
        typer.Option(help="With --as-of: the read model to rebuild (see projections status)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="With --as-of: the new SQLite file to build it in.")
    ] = None,
) -> None:
    """Print a tenant's events in store order, decoded; personal data stays sealed but for
    the subjects granted to --auditor. With --as-of, rebuild a read model as it stood."""
    import sys

    if as_of is not None or projection is not None or out is not None:
        if as_of is None or projection is None or out is None:
            err.print(
                "[bold red]error:[/] a point-in-time rebuild takes all three of --as-of "
                "POSITION, --projection NAME and --out PATH"
            )
            raise typer.Exit(code=2)
        _rebuild_as_of(tenant, as_of, projection, out)
        return

    from api.audit_replay import (
        AuditorView,
        EventSource,
        KafkaSource,
        ReplayFilter,
        StoreSource,
        replay,
        to_csv_rows,
        to_jsonl,
    )
    from domain.errors import DomainError

    if format_ not in ("jsonl", "csv"):
        err.print(f"[bold red]error:[/] --format {format_!r}: use jsonl or csv")
        raise typer.Exit(code=2)
    until_time = None if until is None else _iso_time("--until", until)
    container = _container()
    try:
        try:
            app_ = container.tenants.get(_one_tenant(container, tenant))
        except DomainError as error:
            err.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(code=2) from None
        source: EventSource = StoreSource(app_, container.codec)
        if from_kafka:
            bootstrap = container.settings.kafka_bootstrap
            if not bootstrap:
                err.print(
                    "[bold red]error:[/] --from-kafka reads the topics of the cluster named "
                    "by DIGIONE_KAFKA_BOOTSTRAP; set it"
                )
                raise typer.Exit(code=2)
            source = KafkaSource(app_.tenant, container.codec, bootstrap=bootstrap)
        view = AuditorView(app_, auditor=auditor, disclosures=container.disclosures)
        events = replay(
            source, ReplayFilter(after=after, subject=subject, type=type_, until=until_time), view
        )
        lines = to_csv_rows(events) if format_ == "csv" else (to_jsonl(e) for e in events)
        for line in lines:
            sys.stdout.write(line)
    finally:
        container.close()


def _rebuild_as_of(tenant: str | None, position: int, projection: str, out: Path) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from api.audit_as_of import rebuild_as_of
    from domain.errors import DomainError

    container = _container()
    try:
        try:
            app_ = container.tenants.get(_one_tenant(container, tenant))
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task(f"{projection} as of {position}", total=position)
                _, engine = rebuild_as_of(
                    app_,
                    container.codec,
                    projection,
                    position=position,
                    out=out,
                    progress=lambda done, _total: bar.update(task, completed=done),
                )
                engine.dispose()
        except DomainError as error:
            err.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(code=2) from None
        print(f"{app_.tenant}: {projection} as it stood at position {position} is in {out}")
    finally:
        container.close()


show_app = typer.Typer(
    help="What a view showed at a store position: a class dashboard, a guardian's view or "
    "a OneRoster collection, rebuilt from the log.",
    no_args_is_help=True,
)
audit_app.add_typer(show_app, name="show")


@dataclass(frozen=True)
class _ShowAsOf:
    tenant: str | None
    position: int
    auditor: str
    at: str | None


@show_app.callback()
def show_as_of(
    ctx: typer.Context,
    as_of: Annotated[
        int, typer.Option("--as-of", min=1, help="The store position to read the view as of.")
    ],
    auditor: Annotated[
        str,
        typer.Option(
            help="The auditor reading: personal data shows only for the subjects granted to "
            "them, and is recorded as disclosed to them."
        ),
    ],
    tenant: Annotated[
        str | None, typer.Option(help="The tenant; needed when there are several.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="The ISO 8601 time the view is read as of (what 'today' was); default the "
            "time of the event at --as-of."
        ),
    ] = None,
) -> None:
    ctx.obj = _ShowAsOf(tenant, as_of, auditor, at)


def _show(ctx: typer.Context, projection: str, read: Callable[..., dict[str, Any]]) -> None:
    """Rebuilds `projection` as of the position into a temporary file, reads it with
    `read(reads, projection, engine)` and prints the answer as JSON."""
    import json
    import tempfile

    from api.audit_as_of import AuditorReads, rebuild_as_of
    from domain.errors import DomainError
    from projections.reads.access import ReadNotPermittedError

    asked: _ShowAsOf = ctx.obj
    container = _container()
    try:
        with tempfile.TemporaryDirectory(prefix="digione-as-of-") as scratch:
            try:
                app_ = container.tenants.get(_one_tenant(container, asked.tenant))
                when = _as_of_time(app_, asked)
                built, engine = rebuild_as_of(
                    app_,
                    container.codec,
                    projection,
                    position=asked.position,
                    out=Path(scratch) / f"{projection}.sqlite",
                )
                try:
                    reads = AuditorReads(
                        app_, auditor=asked.auditor, disclosures=container.disclosures, at=when
                    )
                    answer = read(reads, built, engine)
                finally:
                    engine.dispose()
            except ReadNotPermittedError as error:
                err.print(
                    f"[bold red]error:[/] at position {asked.position} the view was refused: "
                    f"{error}"
                )
                raise typer.Exit(code=1) from None
            except (DomainError, LookupError) as error:
                err.print(f"[bold red]error:[/] {error}")
                raise typer.Exit(code=2) from None
        print(json.dumps(answer, indent=2, ensure_ascii=False, sort_keys=True))
    finally:
        container.close()


def _as_of_time(app_: TenantApplication, asked: _ShowAsOf) -> datetime:
    if asked.at is not None:
        return _iso_time("--at", asked.at)
    found = app_.recorder.select_notifications(asked.position, 1, stop=asked.position)
    if not found:
        from api.audit_as_of import AsOfError

        raise AsOfError(f"position {asked.position} is not in the tenant's log")
    event: Any = app_.mapper.to_domain_event(found[0])
    return cast(datetime, event.timestamp)


@show_app.command("class-dashboard")
def show_class_dashboard(
    ctx: typer.Context,
    class_id: Annotated[str, typer.Option("--class", help="The class's sourcedId.")],
    teacher: Annotated[str, typer.Option(help="The teacher whose dashboard it was.")],
) -> None:
    """The class dashboard the teacher saw (its first page)."""
    _show(
        ctx,
        "class_dashboard",
        lambda reads, p, e: reads.class_dashboard(p, e, teacher=teacher, class_id=class_id),
    )


@show_app.command("guardian-view")
def show_guardian_view(
    ctx: typer.Context,
    guardian: Annotated[str, typer.Option(help="The guardian whose view it was.")],
    student: Annotated[str, typer.Option(help="The child's sourcedId.")],
) -> None:
    """The view of a child their guardian saw."""
    _show(
        ctx,
        "guardian_view",
        lambda reads, p, e: reads.guardian_view(p, e, guardian=guardian, student=student),
    )


@show_app.command("oneroster")
def show_oneroster(
    ctx: typer.Context,
    path: Annotated[
        str, typer.Argument(help="A rostering path: /classes, /users/ID, /classes/ID/students…")
    ],
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many records.")] = 100,
) -> None:
    """A OneRoster rostering collection or record as a service read it (personal fields
    left out)."""
    _show(ctx, "roster", lambda reads, p, e: reads.oneroster(p, e, path=path, limit=limit))


@audit_app.command("grant")
def audit_grant(
    auditor: Annotated[str, typer.Option(help="The auditor (their token's subject).")],
    subject: Annotated[str, typer.Option(help="The data subject's sourcedId.")],
    reason: Annotated[str, typer.Option(help="Why the auditor may see it (sealed).")],
    tenant: Annotated[
        str | None, typer.Option(help="The tenant; needed when there are several.")
    ] = None,
) -> None:
    """Let an auditor see one data subject's personal data in replays; recorded as an
    event, so the grant itself is audited."""
    from domain.commands import Actor
    from domain.errors import DomainError

    container = _container()
    try:
        try:
            app_ = container.tenants.get(_one_tenant(container, tenant))
            outcome = app_.grant_auditor(
                Actor(app_.tenant, "admin", "cli"), auditor=auditor, subject=subject, reason=reason
            )
        except DomainError as error:
            err.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(code=2) from None
        print(
            f"{app_.tenant}: auditor {auditor!r} may see {subject!r}'s personal data in "
            f"replays (grant {outcome.id}, recorded at position {outcome.position})"
        )
    finally:
        container.close()


def _iso_time(option: str, text: str) -> datetime:
    """The time an option gives (UTC when it names no zone); exit 2 when it is none."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        err.print(
            f"[bold red]error:[/] {option} {text!r} is not an ISO 8601 time; write e.g. "
            "2026-03-02T09:30:00+00:00"
        )
        raise typer.Exit(code=2) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _one_tenant(container: Container, tenant: str | None) -> str:
    """The tenant named, or the only one; refuses (exit 2) when it is ambiguous."""
    if tenant is not None:
        return tenant
    known = container.tenants.ids()
    if len(known) != 1:
        err.print(
            "[bold red]error:[/] name the tenant with --tenant (there are "
            f"{len(known)}: {', '.join(known) or 'none'})"
        )
        raise typer.Exit(code=2)
    return known[0]


@audit_app.command("verify")
def audit_verify(
    tenant: Annotated[
        str | None, typer.Option(help="The tenant to verify; every tenant when omitted.")
    ] = None,
    from_kafka: Annotated[
        bool,
        typer.Option(
            "--from-kafka",
            help="Check the checkpoints on the ledger topics (DIGIONE_KAFKA_BOOTSTRAP) too.",
        ),
    ] = False,
) -> None:
    """Recompute each tenant's ledger from its stored events; exit 1 with the first altered
    position when any log was altered."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from domain.errors import DomainError

    container = _container()
    try:
        bootstrap = container.settings.kafka_bootstrap
        if from_kafka and not bootstrap:
            err.print(
                "[bold red]error:[/] --from-kafka reads the ledger topics of the cluster "
                "named by DIGIONE_KAFKA_BOOTSTRAP; set it"
            )
            raise typer.Exit(code=2)
        try:
            tenants = [container.tenants.get(tenant).tenant] if tenant else container.tenants.ids()
        except DomainError as error:
            err.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(code=2) from None
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("position {task.completed:,.0f} of {task.fields[head]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:

            def progress(name: str) -> Callable[[int, int], None]:
                task: TaskID = bar.add_task(name, total=None, head="?")

                def show(position: int, head: int) -> None:
                    bar.update(task, completed=position, total=head, head=f"{head:,}")

                return show

            reports = verify_tenants(
                container,
                tenants,
                from_kafka=bootstrap if from_kafka else None,
                progress=progress,
            )
        altered = False
        for name, report in reports.items():
            if report.ok:
                print(
                    f"{name}: ok, {report.checked:,} events verified up to position "
                    f"{report.head_position}, {report.checkpoints} signed checkpoints hold "
                    f"(head hash {report.head_hash})"
                )
            else:
                altered = True
                print(
                    f"{name}: ALTERED at position {report.first_bad_position}: {report.problem}"
                    f" ({report.checked:,} events before it verified)"
                )
        if altered:
            raise typer.Exit(code=ALTERED)
    finally:
        container.close()
