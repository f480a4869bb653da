"""The suite: the selected measures (bench/measures.py), the server under test for those that
use it, fresh tenants dropped at the end, then one table, latest.json and the full report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from api.bootstrap import bootstrap
from api.heap import heap_settled_within
from api.settings import Settings, libpq_form
from bench.context import BenchContext, RunningServer
from bench.dashboard import seed_dashboard_class
from bench.database import bench_database_url, forget_tenants, redacted, server_facts
from bench.erasure import erasure_subject
from bench.measures import REGISTERED, Measure, measure_names
from bench.oneroster_users import oneroster_client
from bench.report import (
    build_report,
    core_speed,
    current_load_average,
    print_table,
    write_latest,
    write_report,
)
from bench.roster import seed_tenant, seed_users
from bench.rows import Row
from bench.server import running_server, wait_until_caught_up
from bench.sizes import CONCURRENCY, FULL, QUICK, Sizes
from streams.broker import EmbeddedBroker

__all__ = ["UnknownMeasureError", "run_benchmarks", "selected_measures"]


class UnknownMeasureError(ValueError):
    """Raised when `--only` names a measure that is not registered."""


def selected_measures(only: Sequence[str] | None) -> list[Measure]:
    """The measures `only` names (all when None), in the order they run. A name selects a
    measure by its own name or by the name of one of its rows (`dashboard_p99_ms`)."""
    if not only:
        return list(REGISTERED)
    unknown = [name for name in only if not any(_selects(name, m) for m in REGISTERED)]
    if unknown:
        raise UnknownMeasureError(
            f"no measure named {', '.join(unknown)}; choose from {', '.join(measure_names())}"
        )
    return [m for m in REGISTERED if any(_selects(name, m) for name in only)]


def _selects(name: str, measure: Measure) -> bool:
    return name in (measure.name, *measure.rows) or name.startswith(measure.name + "_")


def run_benchmarks(
    settings: Settings,
    *,
    quick: bool = False,
    sizes: Sizes | None = None,
    clients: int = CONCURRENCY,
    only: Sequence[str] | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Runs the selected measures, prints one table, writes `<data_dir>/bench/latest.json`
    (the rows) and `<data_dir>/bench/<timestamp>.json` (the full report); returns the latter.

    `sizes` defaults to QUICK or FULL. UnknownMeasureError, before anything runs, when
    `only` names a measure that is not registered.
    """
    measures = selected_measures(only)
    console = console or Console()
    sizes = sizes or (QUICK if quick else FULL)
    started = datetime.now(UTC)
    database_url = bench_database_url(settings)
    console.print(f"database: [bold]{redacted(database_url)}[/]")
    conninfo = libpq_form(database_url)
    # Other work on the machine changes every number; the report shows how busy it was.
    load_average = {"start": current_load_average()}
    speed = {"start": core_speed()}
    with ExitStack() as stack:
        kafka_bootstrap = settings.kafka_bootstrap or _embedded_broker(
            stack, settings.data_dir / "bench" / "broker"
        )
        console.print(f"broker: [bold]{kafka_bootstrap}[/]")
        bench_settings = settings.at_broker(kafka_bootstrap).model_copy(
            update={"database_url": database_url}
        )
        container = bootstrap(bench_settings)
        stack.callback(container.close)
        progress = stack.enter_context(_progress(console))
        bench = BenchContext(
            settings=bench_settings,
            container=container,
            sizes=sizes,
            clients=clients,
            conninfo=conninfo,
            kafka_bootstrap=kafka_bootstrap,
            progress=progress,
            started=started,
        )
        try:
            rows = _run(bench, measures)
        finally:
            forget_tenants(bench_settings, bench.tenants)
    load_average["end"] = current_load_average()
    speed["end"] = core_speed()
    report = build_report(
        started=started,
        quick=quick,
        sizes=sizes,
        clients=clients,
        http_workers=settings.http_workers,
        only=list(only) if only else None,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        embedded_broker=settings.kafka_bootstrap is None,
        server=server_facts(conninfo),
        load_average=load_average,
        core_speed=speed,
        rows=rows,
        details=bench.details,
        seconds=bench.seconds,
    )
    folder = settings.data_dir / "bench"
    report["file"] = str(write_report(report, folder, started))
    report["latest"] = str(write_latest(rows, folder))
    print_table(console, report)
    console.print(f"rows: {report['latest']} · report: {report['file']}")
    return report


def _run(bench: BenchContext, measures: list[Measure]) -> list[Row]:
    """The server's measures while it runs (seeded first, untimed), then the others."""
    rows: list[Row] = []
    served = [m for m in measures if m.server]
    if served:
        began = time.perf_counter()
        seeded = _seed_for_server(bench)
        with running_server(bench.settings, seeded.tenant, seeded.import_tenant) as base_url:
            bench.server = replace(seeded, base_url=base_url)
            bench.seconds["server_setup"] = round(time.perf_counter() - began, 3)
            for measure in served:
                # Each measure starts with the worker idle: the projection work another
                # measure's commands left behind is not charged to the next one.
                caught_up = wait_until_caught_up(base_url, seeded.admin_token, seeded.tenant)
                bench.seconds[f"catch_up_before_{measure.name}"] = round(caught_up.seconds, 3)
                rows += _timed(bench, measure)
        bench.server = None
    for measure in measures:
        if not measure.server:
            # The application's own measures (the store path, the relay, the rebuild) run
            # in this process, with the heap earlier measures left (their tenants'
            # aggregates and caches): as served, every full collection no longer walks it.
            # `commands_store` after the OneRoster import, three alternating pairs: 0.89-0.95
            # of raw commits so, 0.86-0.93 without (0.98-1.07 alone).
            with heap_settled_within():
                rows += _timed(bench, measure)
    return rows


def _timed(bench: BenchContext, measure: Measure) -> list[Row]:
    """The measure's rows; how long it took (seeding included) goes to the report."""
    began = time.perf_counter()
    rows = measure.run(bench)
    bench.seconds[measure.name] = round(time.perf_counter() - began, 3)
    return rows


def _seed_for_server(bench: BenchContext) -> RunningServer:
    """The server's tenant: classes to assess in, the dashboard's class, users to erase and a
    OneRoster client, all recorded before the server starts; its base URL is set later."""
    tenant = bench.tenant("http")
    classes, admin_token = seed_tenant(bench.container, tenant)
    dashboard_token = seed_dashboard_class(
        bench.container,
        tenant,
        line_items=bench.sizes.dashboard_line_items,
        attainment_rounds=bench.sizes.dashboard_attainment_rounds,
    )
    subjects = [erasure_subject(number) for number in range(bench.sizes.erasures)]
    seed_users(bench.container, tenant, subjects)
    return RunningServer(
        base_url="",
        tenant=tenant,
        admin_token=admin_token,
        classes=classes,
        dashboard_token=dashboard_token,
        oneroster_credentials=oneroster_client(bench.container, tenant),
        erasure_subjects=subjects,
        import_tenant=_import_tenant(bench),
    )


def _import_tenant(bench: BenchContext) -> str:
    """The empty tenant the OneRoster CSV import fills, served by the server too."""
    tenant = bench.tenant("csv")
    bench.container.tenants.create(tenant, name="OneRoster CSV import bench")
    return tenant


def _embedded_broker(stack: ExitStack, log_dir: Path) -> str:
    """Starts an embedded broker that `stack` stops; returns its bootstrap address."""
    broker = stack.enter_context(EmbeddedBroker(log_dir=log_dir))
    return broker.bootstrap


def _progress(console: Console) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
