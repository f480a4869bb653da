"""The benchmark suite `digione bench`: each rate beside a raw baseline measured in the same run.

Speeds depend on the machine and the server, so they are never asserted; they are reported
as ratios to what the same PostgreSQL does with plain single-row commits, measured a moment
apart. The first benchmark drives `POST /api/v1/assessments` through the real HTTP server
(uvicorn in a process of its own, so the clients do not share its interpreter) from
concurrent keep-alive clients, and compares the commands per second with raw
INSERT + COMMIT of rows shaped like stored events, from one connection and from as many
connections as there are clients.

Each run uses a fresh tenant (its own PostgreSQL schema), dropped with its registry row at
the end, so runs never see each other's data.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import version
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from api.bootstrap import bootstrap
from api.settings import Settings
from domain.application import TenantApplication
from domain.commands import (
    Actor,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutEnrollment,
    PutOrg,
    PutUser,
)
from domain.roster import ClassDetails, Role

__all__ = ["DEFAULT_DATABASE_URL", "run_benchmarks"]

#: Where the benchmark runs when the configured database is not PostgreSQL.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/digione_bench"
FULL_COUNT = 3_000
QUICK_COUNT = 500
CONCURRENCY = 16
CLASSES = 2
STUDENTS_PER_CLASS = 25
ASSESSMENTS_PATH = "/api/v1/assessments"
GRADES = ("4", "5", "6", "7", "8", "9", "10")

#: The size of a stored Result.Recorded event of a graded assessment (about 400 bytes).
_RAW_STATE = b"x" * 400
_RAW_TOPIC = "domain.assessment:Result.Recorded"
_SERVER_START_SECONDS = 60.0
_WORKER_SETUP_SECONDS = 60.0

#: One timed operation: how long it took and what came of it ("201", "409", "committed", …).
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
            "rate_per_s": round(len(self.samples) / self.seconds, 1),
            "unit": unit,
            "p50_ms": round(_percentile(latencies, 50) * 1000, 3),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 3),
            "failed": len(self.samples) - outcomes[success],
            "outcomes": dict(outcomes),
        }


def run_benchmarks(
    settings: Settings,
    *,
    quick: bool = False,
    count: int | None = None,
    concurrency: int = CONCURRENCY,
    console: Console | None = None,
) -> dict[str, Any]:
    """Runs the suite, prints a table, writes `<data_dir>/bench/<timestamp>.json`, returns it."""
    console = console or Console()
    count = count or (QUICK_COUNT if quick else FULL_COUNT)
    started = datetime.now(UTC)
    database_url = _bench_database_url(settings)
    console.print(f"database: [bold]{_redacted(database_url)}[/]")
    bench_settings = settings.model_copy(update={"database_url": database_url})
    conninfo = _libpq_url(database_url)
    tenant = f"bench{started:%Y%m%d%H%M%S}{secrets.token_hex(2)}"
    try:
        classes = _seed_tenant(bench_settings, tenant)
        with _progress(console) as progress:
            http = _measure_http_commands(
                bench_settings, classes, count=count, concurrency=concurrency, progress=progress
            )
            table = _create_raw_table(conninfo, schema=_schema(tenant))
            sequential = _measure_raw_commits(
                conninfo, table, count=count, concurrency=1, progress=progress
            )
            concurrent = _measure_raw_commits(
                conninfo, table, count=count, concurrency=concurrency, progress=progress
            )
    finally:
        _drop_tenant(conninfo, tenant)
    report = _report(
        started=started,
        quick=quick,
        count=count,
        concurrency=concurrency,
        database_url=database_url,
        server=_server_facts(conninfo),
        http=http.summary(unit="cmd/s", success="201"),
        sequential=sequential.summary(unit="rows/s", success="committed"),
        concurrent=concurrent.summary(unit="rows/s", success="committed"),
    )
    report["file"] = str(_write_report(report, settings.data_dir / "bench", started))
    _print_table(console, report)
    console.print(f"report: {report['file']}")
    return report


# -- the database ----------------------------------------------------------------------------


def _bench_database_url(settings: Settings) -> str:
    """The configured PostgreSQL, or the default bench database (created when missing)."""
    if settings.is_postgres and settings.database_url is not None:
        return settings.database_url
    _create_database_if_missing(DEFAULT_DATABASE_URL)
    return DEFAULT_DATABASE_URL


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


def _drop_tenant(conninfo: str, tenant: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(_schema(tenant)))
        )
        registered = connection.execute("SELECT to_regclass('digione_tenants')").fetchone()
        if registered is not None and registered[0] is not None:
            connection.execute("DELETE FROM digione_tenants WHERE id = %s", (tenant,))


def _server_facts(conninfo: str) -> dict[str, str]:
    """What makes commit rates on this server what they are."""
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return {
            name: str(connection.execute("SELECT current_setting(%s)", (name,)).fetchall()[0][0])
            for name in names
        }


# -- set-up (not timed) ----------------------------------------------------------------------


def _seed_tenant(settings: Settings, tenant: str) -> list[ClassLoad]:
    """Creates the tenant and its roster through the application; issues teacher tokens."""
    container = bootstrap(settings)
    try:
        app = container.tenants.create(tenant, name="Benchmark")
        today = container.clock().date()
        admin = Actor(tenant=tenant, role="admin", subject="bench-admin")
        _seed_school(app, admin, today)
        return [
            ClassLoad(
                sourced_id=f"cls-{number}",
                teacher_token=container.tokens.issue(
                    tenant=tenant, role="teacher", subject=f"tea-{number}"
                ),
                students=_seed_class(app, admin, number),
            )
            for number in range(CLASSES)
        ]
    finally:
        container.close()


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


# -- timed loads -----------------------------------------------------------------------------


def _measure_http_commands(
    settings: Settings,
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

    with _running_server(settings) as base_url:

        def client(index: int, ready: Callable[[], object]) -> list[Sample]:
            with httpx.Client(base_url=base_url, timeout=30.0) as http:
                # The first request opens the connection and warms the server; not timed.
                _require_created(http.post(ASSESSMENTS_PATH, **_assessment(classes, index, today)))
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


def _require_created(response: httpx.Response) -> None:
    if response.status_code != 201:
        raise BenchmarkSetupError(
            f"the warm-up assessment was answered {response.status_code}, not 201: "
            f"{response.text[:500]}"
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


# -- the server under test -------------------------------------------------------------------


@contextmanager
def _running_server(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn in a process of its own; yields its base URL."""
    context = multiprocessing.get_context("spawn")
    port_receiver, port_sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_serve, args=(settings, port_sender), name="digione-bench-server", daemon=True
    )
    process.start()
    try:
        base_url = f"http://127.0.0.1:{_port_of(process, port_receiver)}"
        _wait_until_healthy(base_url, process)
        yield base_url
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down and the container closes
        process.join(timeout=15)
        if process.is_alive():
            process.kill()
            process.join()


def _serve(settings: Settings, port_sender: Connection) -> None:
    """The server process: the app as `digione serve` builds it, without access logs.

    It binds a free loopback port itself and reports it, so no other process can take the
    port between choosing and binding it.
    """
    import uvicorn

    from api.app import create_app

    container = bootstrap(settings)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port_sender.send(listener.getsockname()[1])
    port_sender.close()
    config = uvicorn.Config(create_app(container), log_level="warning", access_log=False)
    try:
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
    count: int,
    concurrency: int,
    database_url: str,
    server: dict[str, str],
    http: dict[str, Any],
    sequential: dict[str, Any],
    concurrent: dict[str, Any],
) -> dict[str, Any]:
    return {
        "suite": "digione bench",
        "started_at": started.isoformat(),
        "quick": quick,
        "count": count,
        "concurrency": concurrency,
        "database": _redacted(database_url),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": server["server_version"],
            "postgresql_settings": {k: v for k, v in server.items() if k != "server_version"},
            "packages": {
                name: version(name)
                for name in ("eventsourcing", "fastapi", "uvicorn", "psycopg", "httpx")
            },
        },
        "benchmarks": {
            "http_assessments": http,
            "raw_commit_sequential": sequential,
            "raw_commit_concurrent": concurrent,
        },
        "ratios": {
            "http_to_raw_sequential": round(http["rate_per_s"] / sequential["rate_per_s"], 4),
            "http_to_raw_concurrent": round(http["rate_per_s"] / concurrent["rate_per_s"], 4),
        },
    }


def _write_report(report: dict[str, Any], folder: Path, started: datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def _print_table(console: Console, report: dict[str, Any]) -> None:
    results, ratios, n = report["benchmarks"], report["ratios"], report["concurrency"]
    http = results["http_assessments"]
    sequential, concurrent = results["raw_commit_sequential"], results["raw_commit_concurrent"]
    table = Table(title=f"digione bench: {report['count']:,} operations each")
    for column in ("name", "rate", "baseline", "ratio", "p50", "p99"):
        table.add_column(column, justify="left" if column == "name" else "right")
    table.add_row("raw commit, 1 conn.", _rate(sequential), "", "", *_latency(sequential))
    table.add_row(f"raw commit, {n} conns.", _rate(concurrent), "", "", *_latency(concurrent))
    table.add_row(
        f"HTTP assessment, {n} clients",
        _rate(http),
        _rate(sequential),
        f"{ratios['http_to_raw_sequential']:.3f}",
        *_latency(http),
    )
    table.add_row(
        f"  same, to {n} conns.",
        "",
        _rate(concurrent),
        f"{ratios['http_to_raw_concurrent']:.3f}",
        "",
        "",
    )
    console.print(table)
    if http["failed"]:
        console.print(f"[bold red]{http['failed']} commands failed:[/] {http['outcomes']}")


def _rate(result: dict[str, Any]) -> str:
    return f"{result['rate_per_s']:,.0f} {result['unit']}"


def _latency(result: dict[str, Any]) -> tuple[str, str]:
    return f"{result['p50_ms']:.1f} ms", f"{result['p99_ms']:.1f} ms"
