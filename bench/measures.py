"""The registered measures: each a function from the run's context to its report rows.

Adding a measure is registering one function. Write, in a module of its own,

    def fanout(bench: BenchContext) -> list[Row]:
        ...                                  # seed a fresh tenant: bench.tenant("fanout")
        return [Row.of("fanout_in", value=…, unit="events/s", baseline=…, goal=at_least(…))]

and add `Measure("fanout", fanout)` to REGISTERED below (`server=True` when it needs the
server under test, `bench.running_server()`). `digione bench --only fanout` then runs it
alone; its rows land in the table and in latest.json. Put anything worth keeping beyond the
rows in `bench.details[name]` (the timestamped report holds it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.commands import (
    create_raw_table,
    measure_http_commands,
    measure_raw_commits,
    measure_store_commands,
)
from bench.context import TRIVIAL_PATH, BenchContext
from bench.dashboard import DASHBOARD_PATH
from bench.database import tenant_schema
from bench.erasure import measure_erasures
from bench.fanout import measure_fanout
from bench.freshness import measure_freshness
from bench.http_load import Request, closed_loop, open_loop
from bench.ledger import measure_verify
from bench.oneroster_import import measure_oneroster_import
from bench.oneroster_users import ONEROSTER_USERS_PARAMS, ONEROSTER_USERS_PATH, oneroster_token
from bench.process_cpu import CpuWatch, cpu_summary
from bench.rebuild import measure_rebuild
from bench.relay import measure_relay
from bench.roster import seed_tenant
from bench.rows import Row, at_least, below, no_goal
from bench.timing import Load

__all__ = ["REGISTERED", "Measure", "measure_names"]


@dataclass(frozen=True)
class Measure:
    """A registered measure: the name `--only` selects it by, and the function that runs it."""

    name: str
    run: Callable[[BenchContext], list[Row]]
    #: Runs while the server under test is up (its HTTP measures), before the others.
    server: bool = False
    #: Names of its rows that do not start with its name (`--only` selects by these too).
    rows: tuple[str, ...] = ()


def _held(load: Load, success: str) -> bool:
    return bool(load.samples) and all(outcome == success for _, outcome in load.samples)


def _cpu_details(
    cores: dict[str, float] | None, *, during: str, per_second: float, of: str
) -> dict[str, Any]:
    """The details' `cores` and the line printed after the table (bench/process_cpu.py),
    when /proc could be read; nothing otherwise."""
    if cores is None:
        return {}
    return {
        "cores": _rounded(cores),
        "summary": f"during {during}, " + cpu_summary(cores, per_second=per_second, of=of),
    }


def _rounded(cores: dict[str, float]) -> dict[str, float]:
    return {part: round(used, 3) for part, used in cores.items()}


def trivial(bench: BenchContext) -> list[Row]:
    """The trivial endpoint: the baseline of every HTTP measure, reported on its own too."""
    closed = bench.trivial_closed
    bench.details["trivial"] = {
        "closed_loop": closed.summary(unit="req/s", success="200"),
        "fixed_rate": bench.trivial_fixed.summary(unit="req/s", success="200"),
    }
    return [
        Row.of(
            "trivial",
            value=closed.rate_per_s,
            unit="req/s",
            baseline=None,
            goal=no_goal(f"baseline: GET {TRIVIAL_PATH} at {bench.clients} clients"),
            held=_held(closed, "200"),
        )
    ]


def _reads(bench: BenchContext, name: str, request: Request, *, p99_goal_ms: float) -> list[Row]:
    """A read's throughput at `clients` closed-loop clients and its p99 at the fixed rate,
    each beside the trivial endpoint's in the same run."""
    server = bench.running_server()
    server.wait_until_caught_up()
    description = f"GET {request.path}"
    with CpuWatch() as watch:
        closed = closed_loop(
            server.base_url,
            lambda _: request,
            count=bench.sizes.reads,
            clients=bench.clients,
            progress=bench.progress,
            description=description,
        )
    fixed = open_loop(
        server.base_url,
        lambda _: request,
        rate=bench.sizes.fixed_rate,
        seconds=bench.sizes.fixed_rate_seconds,
        progress=bench.progress,
        description=description,
    )
    bench.details[name] = {
        "closed_loop": closed.summary(unit="req/s", success="200"),
        "fixed_rate": fixed.summary(unit="req/s", success="200"),
        **_cpu_details(
            watch.cores,
            during=f"the {bench.clients} clients' closed loop",
            per_second=closed.rate_per_s,
            of="a read",
        ),
    }
    rate = f"{bench.sizes.fixed_rate:g} req/s"
    return [
        Row.of(
            name,
            value=closed.rate_per_s,
            unit="req/s",
            baseline=bench.trivial_closed.rate_per_s,
            goal=at_least(0.5, f"trivial at {bench.clients} clients"),
            held=_held(closed, "200"),
        ),
        Row.of(
            f"{name}_p99_ms",
            value=fixed.percentile_ms(99),
            unit="ms",
            baseline=bench.trivial_fixed.percentile_ms(99),
            goal=below(p99_goal_ms, f"at a fixed {rate}"),
            held=_held(fixed, "200"),
        ),
    ]


def dashboard(bench: BenchContext) -> list[Row]:
    """The class dashboard a teacher opens (25 students, a year of results)."""
    server = bench.running_server()
    request = Request(
        "GET", DASHBOARD_PATH, headers={"Authorization": f"Bearer {server.dashboard_token}"}
    )
    return _reads(bench, "dashboard", request, p99_goal_ms=30)


def oneroster_users(bench: BenchContext) -> list[Row]:
    """`GET …/users?limit=100&filter=…` with a service client's OAuth token."""
    server = bench.running_server()
    token = oneroster_token(server.base_url, server.oneroster_credentials)
    request = Request(
        "GET",
        ONEROSTER_USERS_PATH,
        headers={"Authorization": f"Bearer {token}"},
        params=ONEROSTER_USERS_PARAMS,
    )
    return _reads(bench, "oneroster_users", request, p99_goal_ms=50)


def commands_http(bench: BenchContext) -> list[Row]:
    """`POST /api/v1/assessments` at `clients` closed-loop clients, beside trivial."""
    server = bench.running_server()
    server.wait_until_caught_up()
    with CpuWatch() as watch:
        load = measure_http_commands(
            server.base_url,
            server.classes,
            count=bench.sizes.commands,
            concurrency=bench.clients,
            progress=bench.progress,
        )
    bench.details["commands_http"] = load.summary(unit="cmd/s", success="201") | _cpu_details(
        watch.cores,
        during=f"the {bench.clients} clients' closed loop",
        per_second=load.rate_per_s,
        of="a command",
    )
    return [
        Row.of(
            "commands_http",
            value=load.rate_per_s,
            unit="cmd/s",
            baseline=bench.trivial_closed.rate_per_s,
            goal=at_least(0.5, f"trivial at {bench.clients} clients"),
            held=_held(load, "201"),
        )
    ]


def commands_store(bench: BenchContext) -> list[Row]:
    """Assessments through the application by `clients` concurrent committers (no HTTP),
    beside raw single-row INSERT + COMMIT at as many connections."""
    tenant = bench.tenant("store")
    classes, _ = seed_tenant(bench.container, tenant)
    app = bench.container.tenants.get(tenant)
    groups, saves = app.group_commit.groups, app.group_commit.saves
    load = measure_store_commands(
        app,
        classes,
        count=bench.sizes.store_commands,
        concurrency=bench.clients,
        progress=bench.progress,
    )
    insert = create_raw_table(bench.conninfo, schema=tenant_schema(tenant))
    raw = measure_raw_commits(
        bench.conninfo,
        insert,
        count=bench.sizes.store_commands,
        concurrency=bench.clients,
        progress=bench.progress,
    )
    bench.details["commands_store"] = {
        "application": load.summary(unit="cmd/s", success="committed"),
        "raw_commits": raw.summary(unit="rows/s", success="committed"),
        # How many commands one store transaction recorded (domain/group_commit.py).
        "commands_per_transaction": round(
            (app.group_commit.saves - saves) / max(1, app.group_commit.groups - groups), 2
        ),
    }
    return [
        Row.of(
            "commands_store",
            value=load.rate_per_s,
            unit="cmd/s",
            baseline=raw.rate_per_s,
            goal=at_least(1.0, f"raw INSERT+COMMIT at {bench.clients} connections"),
            held=_held(load, "committed"),
        )
    ]


def relay(bench: BenchContext) -> list[Row]:
    """The relay over realistic events, beside the bare confluent-kafka producer."""
    measured = measure_relay(
        bench.container,
        bench.tenant("relay"),
        bootstrap=bench.kafka_bootstrap,
        count=bench.sizes.relay_events,
        progress=bench.progress,
    )
    bench.details["relay"] = {"events": measured.events}
    if measured.relay_cores is not None and measured.producer_cores is not None:
        bench.details["relay"] |= {
            "relay_cores": _rounded(measured.relay_cores),
            "producer_cores": _rounded(measured.producer_cores),
            "summary": "during the relay's pass, "
            + cpu_summary(
                measured.relay_cores,
                per_second=measured.relay_events_per_s,
                of="an event",
                bench_process="the relay (the bench's process)",
            )
            + "; during the bare producer's, "
            + cpu_summary(
                measured.producer_cores,
                per_second=measured.producer_messages_per_s,
                of="a message",
                bench_process="the producer (the bench's process)",
            ),
        }
    return [
        Row.of(
            "relay",
            value=measured.relay_events_per_s,
            unit="events/s",
            baseline=measured.producer_messages_per_s,
            goal=at_least(0.5, "bare confluent-kafka producer"),
        )
    ]


def rebuild(bench: BenchContext) -> list[Row]:
    """A roster read model rebuilt from the event store (the default path), beside a raw
    batched insert; the same rebuild from the topics for information."""
    measured = measure_rebuild(
        bench.container,
        bench.tenant("rebuild"),
        bootstrap=bench.kafka_bootstrap,
        students=bench.sizes.rebuild_students,
        progress=bench.progress,
    )
    bench.details["rebuild"] = measured.as_dict()
    return [
        Row.of(
            "rebuild",
            value=measured.rebuild_events_per_s,
            unit="events/s",
            baseline=measured.insert_rows_per_s,
            goal=at_least(0.3, f"raw batched insert ({measured.events:,} events)"),
        ),
        *(
            []
            if measured.topics_events_per_s is None
            else [
                Row.of(
                    "rebuild_from_topics",
                    value=measured.topics_events_per_s,
                    unit="events/s",
                    baseline=measured.insert_rows_per_s,
                    goal=no_goal("for information: `projections rebuild --from-topics`"),
                )
            ]
        ),
    ]


def freshness(bench: BenchContext) -> list[Row]:
    """Command → visible under roster PUTs offered open-loop, beside the bare read."""
    server = bench.running_server()
    load = measure_freshness(
        server.base_url,
        server.admin_token,
        server.tenant,
        rate=bench.sizes.freshness_rate,
        seconds=bench.sizes.freshness_seconds,
        progress=bench.progress,
    )
    bench.details["freshness"] = {
        "offered": load.offered,
        "target_rate_per_s": load.target_rate,
        "commands": load.commands.summary(unit="cmd/s", success="written"),
        "freshness": load.freshness.summary(unit="cmd/s", success="fresh"),
        "bare_reads": load.bare_reads.summary(unit="reads/s", success="200"),
        "max_send_lag_ms": round(load.max_send_lag_seconds * 1000, 3),
        "catch_up_before_load_seconds": round(load.catch_up.seconds, 3),
        "behind_at_load_start": load.catch_up.behind,
    }
    bench.details["freshness"] |= _cpu_details(
        load.cores, during="the load", per_second=load.commands.rate_per_s, of="a command"
    )
    rate = f"{bench.sizes.freshness_rate:g}"
    return [
        Row.of(
            "freshness_p99_ms",
            value=load.freshness.percentile_ms(99),
            unit="ms",
            baseline=load.bare_reads.percentile_ms(99),
            goal=below(250, f"at {rate} cmd/s offered, all held"),
            held=load.held,
        )
    ]


def erasure(bench: BenchContext) -> list[Row]:
    """Erasure → every projection confirmed (receipt timestamps), beside the 202 answer."""
    server = bench.running_server()
    server.wait_until_caught_up()
    load = measure_erasures(
        server.base_url,
        server.admin_token,
        subjects=server.erasure_subjects,
        rate=bench.sizes.erasure_rate,
        progress=bench.progress,
    )
    bench.details["erasure"] = {
        "accepted": load.accepted.summary(unit="requests/s", success="202"),
        "confirmed": load.confirmed.summary(unit="erasures/s", success="confirmed"),
    }
    return [
        Row.of(
            "erasure_p99_ms",
            value=load.confirmed.percentile_ms(99),
            unit="ms",
            baseline=load.accepted.percentile_ms(99),
            goal=below(1000, f"over {len(server.erasure_subjects)} erasures"),
            held=load.held,
        )
    ]


def ledger_verify(bench: BenchContext) -> list[Row]:
    """`audit verify` over stored events, beside a bare SHA-256 chain over the same bytes."""
    measured = measure_verify(
        bench.container,
        bench.tenant("ledger"),
        events=bench.sizes.ledger_events,
        progress=bench.progress,
    )
    bench.details["ledger_verify"] = measured
    verify, bare = measured["ledger_verify"], measured["bare_sha256_chain"]
    return [
        Row.of(
            "ledger_verify",
            value=verify["rate_per_s"],
            unit="events/s",
            baseline=bare["rate_per_s"],
            goal=no_goal("for information: bare SHA-256 chain in memory"),
        )
    ]


def fanout(bench: BenchContext) -> list[Row]:
    """The service fan-out to ten services beside the relay on the same events, and
    consent revocation → fan-out stopped beside the revoke command (bench/fanout.py)."""
    measured = measure_fanout(
        bench.container,
        bench.tenant("fanout"),
        bootstrap=bench.kafka_bootstrap,
        events=bench.sizes.fanout_events,
        revocations=bench.sizes.revocations,
        progress=bench.progress,
    )
    bench.details["fanout"] = measured
    relay_rate = measured["fanout_relay"]["rate_per_s"]
    stop, recorded = measured["revocation_to_stop"], measured["revocation_recorded"]
    return [
        Row.of(
            "fanout_in",
            value=measured["fanout_in"]["rate_per_s"],
            unit="events/s",
            baseline=relay_rate,
            goal=no_goal("for information: the relay on the same events"),
        ),
        Row.of(
            "fanout_out",
            value=measured["fanout_out"]["rate_per_s"],
            unit="deliveries/s",
            baseline=relay_rate,
            goal=no_goal("for information: the relay on the same events"),
        ),
        Row.of(
            "revocation_p99_ms",
            value=stop["p99_ms"],
            unit="ms",
            baseline=recorded["p99_ms"],
            goal=no_goal("for information: the revoke command's own p99"),
        ),
    ]


def oneroster_import(bench: BenchContext) -> list[Row]:
    """A generated city imported as a OneRoster CSV bundle until it reads over REST, beside
    a raw batched insert of the same rows (bench/oneroster_import.py)."""
    server = bench.running_server()
    measured = measure_oneroster_import(
        bench.container,
        server.import_tenant,
        server.base_url,
        students=bench.sizes.oneroster_students,
        conninfo=bench.conninfo,
    )
    bench.details["oneroster_import"] = measured
    return [
        Row.of(
            "oneroster_import",
            value=measured["oneroster_import"]["rate_per_s"],
            unit="records/s",
            baseline=measured["oneroster_raw_insert"]["rate_per_s"],
            goal=no_goal("for information: raw batched insert of the same rows"),
        )
    ]


#: Every measure, in the order they run: the server's first (its reads on a server that
#: caught up after the commands), then those that work on the store and the broker alone.
REGISTERED: tuple[Measure, ...] = (
    Measure("trivial", trivial, server=True),
    Measure("commands_http", commands_http, server=True),
    Measure("dashboard", dashboard, server=True),
    Measure("oneroster_users", oneroster_users, server=True),
    Measure("freshness", freshness, server=True),
    Measure("erasure", erasure, server=True),
    Measure("oneroster_import", oneroster_import, server=True),
    Measure("commands_store", commands_store),
    Measure("relay", relay),
    Measure("rebuild", rebuild),
    Measure("ledger_verify", ledger_verify),
    Measure("fanout", fanout, rows=("revocation_p99_ms",)),
)


def measure_names() -> list[str]:
    """The names `--only` accepts."""
    return [measure.name for measure in REGISTERED]
