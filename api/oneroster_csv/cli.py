"""`digione import oneroster` and `digione export oneroster`: the SIS's CSV bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.bootstrap import Container, bootstrap
from api.oneroster_csv.bundle import DEFAULT_MAX_DELETION_SHARE, BundleError, read_bundle
from api.oneroster_csv.export import export_roster, write_bundle
from api.settings import Settings
from domain.commands import Actor
from domain.errors import DomainError

if TYPE_CHECKING:
    from api.oneroster_csv.importer import ImportReport

import_app = typer.Typer(help="Import data: OneRoster CSV bundles.", no_args_is_help=True)
export_app = typer.Typer(help="Export data: OneRoster CSV bundles.", no_args_is_help=True)
err = Console(stderr=True)


def _container() -> Container:
    return bootstrap(Settings())


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _summary(report: ImportReport) -> None:
    for name, counts in report.files.items():
        err.print(
            f"{name}.csv ({counts.mode}): {counts.rows} rows, {counts.created} created, "
            f"{counts.updated} updated, {counts.unchanged} unchanged, {counts.deleted} marked "
            f"tobedeleted, {counts.rejected} rejected"
        )
    for note in report.quirks:
        where = ", ".join(p for p in (note.file, note.row and f"row {note.row}", note.column) if p)
        err.print(f"[yellow]tolerated[/] ({where}): {note.reason}")
    for note in report.rejected:
        # Row 0: a user other rows changed (a role row, an agent link), no row of its own.
        row = f"row {note.row}" if note.row else "(asked for by other rows)"
        err.print(
            f"[red]rejected[/] {note.file}.csv {row}"
            f"{f' column {note.column}' if note.column else ''}: {note.reason}"
        )


@import_app.command("oneroster")
def import_oneroster(
    path: Annotated[Path, typer.Argument(help="The bundle: a zip file or a folder.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    allow_mass_deletion: Annotated[
        bool, typer.Option(help="Let a bulk import mark more than the share tobedeleted.")
    ] = False,
    max_deletion_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="The share of a collection a bulk file may delete."),
    ] = DEFAULT_MAX_DELETION_SHARE,
) -> None:
    """Import a OneRoster 1.2 CSV bundle (bulk and delta; 1.1 tolerated); prints the report
    as JSON on stdout, a summary on stderr."""
    # Loaded here, not with the command line: the importer validates rows with the HTTP
    # layer's models, which every other command would load for nothing.
    from api.oneroster_csv.importer import MassDeletionError, import_bundle

    try:
        bundle = read_bundle(path)
    except BundleError as error:
        raise _fail(str(error)) from None
    container = _container()
    try:
        app = container.tenants.get(tenant)
        with Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("rows", total=None)
            report = import_bundle(
                app,
                Actor(tenant, "admin", "cli"),
                bundle,
                allow_mass_deletion=allow_mass_deletion,
                max_deletion_share=max_deletion_share,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except MassDeletionError as error:
        print(json.dumps(error.report.as_json(), indent=2, ensure_ascii=False))
        raise _fail(f"{error} (--allow-mass-deletion)") from None
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()
    _summary(report)
    print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))


@export_app.command("oneroster")
def export_oneroster(
    out: Annotated[Path, typer.Argument(help="Where to write: NAME.zip, or a folder.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    recipient: Annotated[
        str, typer.Option(help="Who receives the bundle: recorded as a disclosure to them.")
    ],
) -> None:
    """Export the tenant's roster as a OneRoster 1.2 CSV bundle (from the roster read model)."""
    container = _container()
    try:
        app = container.tenants.get(tenant)
        # Read models are made by the runtime; one never served yet is empty, not missing.
        container.projections.roster.metadata.create_all(container.engine)
        lag = next(
            (
                state.lag
                for state in container.admin.states()
                if state.projection == "roster" and state.tenant == tenant
            ),
            app.head_position(),
        )
        if lag > 0:
            err.print(
                f"[yellow]warning:[/] the roster read model is {lag} events behind the "
                "store: the export leaves those changes out (let `digione serve` catch up, "
                "then export again)"
            )
        files, report = export_roster(
            engine=container.engine,
            tables=container.projections.roster.tables,
            sealer=app.sealer,
            disclosures=container.disclosures,
            actor=Actor(tenant, "admin", "cli"),
            recipient=recipient,
        )
        write_bundle(files, out)
    except DomainError as error:
        raise _fail(error.message) from None
    finally:
        container.close()
    print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
