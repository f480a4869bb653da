"""The suite: fresh tenants, the server under test, each section in turn, then the report."""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from bench.commands import create_raw_table, measure_http_commands, measure_raw_commits
from bench.dashboard import DASHBOARD_PATH, measure_reads, seed_dashboard_class
from bench.database import (
    bench_database_url,
    forget_tenants,
    libpq_url,
    redacted,
    server_facts,
    tenant_schema,
)
from bench.erasure import ERASURES, measure_erasure_latency
from bench.fanout import measure_fanout
from bench.freshness import fresh_user, freshness_pool, freshness_results, measure_freshness
from bench.ledger import measure_verify
from bench.oneroster_import import measure_oneroster_import
from bench.rebuild import measure_rebuild
from bench.relay import measure_relay
from bench.report import build_report, current_load_average, print_table, write_report
from bench.roster import seed_tenant
from bench.server import running_server, wait_until_caught_up
from bench.sizes import CONCURRENCY, FULL, QUICK, Sizes
from streams.broker import EmbeddedBroker

__all__ = ["BenchTenants", "run_benchmarks"]


@dataclass(frozen=True)
class BenchTenants:
    """The run's fresh tenants: one per section that writes to a store."""

    http: str
    relay: str
    rebuild: str
    ledger: str
    fanout: str
    oneroster: str

    @classmethod
    def fresh(cls, started: datetime) -> BenchTenants:
        """Tenant ids no other run has: the start time and a random suffix."""
        base = f"bench{started:%y%m%d%H%M%S}{secrets.token_hex(2)}"
        return cls(
            http=base,
            relay=f"{base}relay",
            rebuild=f"{base}rebuild",
            ledger=f"{base}ledger",
            fanout=f"{base}fanout",
            oneroster=f"{base}csv",
        )

    def all(self) -> tuple[str, ...]:
        """Every tenant of the run."""
        return (self.http, self.relay, self.rebuild, self.ledger, self.fanout, self.oneroster)


def run_benchmarks(
    settings: Settings,
    *,
    quick: bool = False,
    count: int | None = None,
    sizes: Sizes | None = None,
    concurrency: int = CONCURRENCY,
    console: Console | None = None,
) -> dict[str, Any]:
    """Runs the suite, prints a table, writes `<data_dir>/bench/<timestamp>.json`, returns it.

    `sizes` defaults to QUICK or FULL; `count`, when given, sets its number of commands.
    """
    console = console or Console()
    sizes = sizes or (QUICK if quick else FULL)
    if count:
        sizes = replace(sizes, commands=count)
    started = datetime.now(UTC)
    database_url = bench_database_url(settings)
    console.print(f"database: [bold]{redacted(database_url)}[/]")
    conninfo = libpq_url(database_url)
    tenants = BenchTenants.fresh(started)
    # Other work on the machine changes every number; the report shows how busy it was.
    load_average = {"start": current_load_average()}
    with ExitStack() as stack:
        kafka_bootstrap = settings.kafka_bootstrap or _embedded_broker(
            stack, settings.data_dir / "bench" / "broker"
        )
        console.print(f"broker: [bold]{kafka_bootstrap}[/]")
        bench_settings = settings.model_copy(
            update={"database_url": database_url, "kafka_bootstrap": kafka_bootstrap}
        )
        try:
            results = _run_sections(
                bench_settings,
                tenants,
                sizes=sizes,
                concurrency=concurrency,
                conninfo=conninfo,
                kafka_bootstrap=kafka_bootstrap,
                console=console,
            )
        finally:
            forget_tenants(bench_settings, tenants.all())
    load_average["end"] = current_load_average()
    report = build_report(
        started=started,
        quick=quick,
        sizes=sizes,
        concurrency=concurrency,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        embedded_broker=settings.kafka_bootstrap is None,
        server=server_facts(conninfo),
        load_average=load_average,
        results=results,
    )
    report["file"] = str(write_report(report, settings.data_dir / "bench", started))
    print_table(console, report)
    console.print(f"report: {report['file']}")
    return report


def _run_sections(
    settings: Settings,
    tenants: BenchTenants,
    *,
    sizes: Sizes,
    concurrency: int,
    conninfo: str,
    kafka_bootstrap: str,
    console: Console,
) -> dict[str, dict[str, Any]]:
    """Every measurement, in an order where none disturbs another: the server and its
    runtime run for the commands and freshness sections only, and see only their tenant."""
    container = bootstrap(settings)
    try:
        classes, admin_token = seed_tenant(container, tenants.http)
        dashboard_token = seed_dashboard_class(container, tenants.http)
        container.tenants.create(tenants.oneroster, name="OneRoster CSV import bench")
        with _progress(console) as progress:
            with running_server(settings, tenants.http, tenants.oneroster) as base_url:
                # The seeded roster is projected before anything is timed.
                wait_until_caught_up(base_url, admin_token, tenants.http)
                http = measure_http_commands(
                    base_url,
                    classes,
                    count=sizes.commands,
                    concurrency=concurrency,
                    progress=progress,
                )
                freshness = measure_freshness(
                    base_url,
                    admin_token,
                    tenants.http,
                    rate=sizes.freshness_rate,
                    seconds=sizes.freshness_seconds,
                    progress=progress,
                )
                # The freshness load can leave the projections behind; reads are measured
                # on a server that has caught up, not one still projecting that backlog.
                wait_until_caught_up(base_url, admin_token, tenants.http)
                dashboard = measure_reads(
                    base_url,
                    DASHBOARD_PATH,
                    dashboard_token,
                    count=sizes.dashboard_reads,
                    progress=progress,
                )
                trivial = measure_reads(
                    base_url, "/livez", None, count=sizes.dashboard_reads, progress=progress
                )
                # Users the freshness load wrote (its pool: about two seconds' worth).
                written = freshness_pool(rate=sizes.freshness_rate, seconds=sizes.freshness_seconds)
                erasures = measure_erasure_latency(
                    base_url,
                    admin_token,
                    subjects=[fresh_user(number) for number in range(min(ERASURES, written))],
                    progress=progress,
                )
                oneroster = _oneroster_section(container, tenants, base_url, sizes, conninfo)
            insert = create_raw_table(conninfo, schema=tenant_schema(tenants.http))
            sequential = measure_raw_commits(
                conninfo, insert, count=sizes.commands, concurrency=1, progress=progress
            )
            concurrent = measure_raw_commits(
                conninfo,
                insert,
                count=sizes.commands,
                concurrency=concurrency,
                progress=progress,
            )
            relay = measure_relay(
                container,
                tenants.relay,
                bootstrap=kafka_bootstrap,
                count=sizes.relay_events,
                progress=progress,
            )
            rebuild = measure_rebuild(
                container,
                tenants.rebuild,
                bootstrap=kafka_bootstrap,
                students=sizes.rebuild_students,
                progress=progress,
            )
            ledger = measure_verify(
                container, tenants.ledger, events=sizes.ledger_events, progress=progress
            )
            fanout = measure_fanout(
                container,
                tenants.fanout,
                bootstrap=kafka_bootstrap,
                events=sizes.fanout_events,
                revocations=sizes.revocations,
                progress=progress,
            )
    finally:
        container.close()
    return {
        "http_assessments": http.summary(unit="cmd/s", success="201"),
        "raw_commit_sequential": sequential.summary(unit="rows/s", success="committed"),
        "raw_commit_concurrent": concurrent.summary(unit="rows/s", success="committed"),
        **relay,
        **rebuild,
        **ledger,
        **fanout,
        **freshness_results(freshness),
        "dashboard_reads": dashboard.summary(unit="req/s", success="200"),
        "trivial_reads": trivial.summary(unit="req/s", success="200"),
        "erasure_confirmed": erasures.confirmed.summary(unit="erasures/s", success="confirmed"),
        "erasure_accepted": erasures.accepted.summary(unit="requests/s", success="202"),
        **oneroster,
    }


def _oneroster_section(
    container: Container, tenants: BenchTenants, base_url: str, sizes: Sizes, conninfo: str
) -> dict[str, dict[str, Any]]:
    """The OneRoster CSV import of a city until queryable, beside a raw batched insert."""
    return measure_oneroster_import(
        container,
        tenants.oneroster,
        base_url,
        students=sizes.oneroster_students,
        conninfo=conninfo,
    )


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
