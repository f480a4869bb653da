"""What the runner tests check with: offsets, positions, parked rows, a runner in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from api.settings import Settings
from projections import positions
from projections.base import Projection
from projections.runner import ProjectionRunner
from streams.broker import EmbeddedBroker
from tests.projections.publishing import StorePublisher

ROOT = Path(__file__).resolve().parents[2]


def next_offsets(engine: Engine, projection: str, tenant: str) -> dict[tuple[str, int], int]:
    t = positions.projection_positions
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(t.c.topic, t.c.partition, t.c.next_offset).where(
                t.c.projection == projection, t.c.tenant == tenant
            )
        )
        return {(topic, partition): offset for topic, partition, offset in rows if offset}


def read_to_the_end(
    runner: ProjectionRunner,
    engine: Engine,
    publisher: StorePublisher,
    projection: str,
    timeout_seconds: float = 20.0,
) -> None:
    """Runs until the projection's stored offsets reach every message published (duplicates
    included: positions alone would call it caught up before it read them)."""
    wanted = publisher.end_offsets("roster")
    runner.prepare()
    deadline = time.monotonic() + timeout_seconds
    while next_offsets(engine, projection, publisher.tenant) != wanted:
        assert time.monotonic() < deadline, (
            next_offsets(engine, projection, publisher.tenant),
            wanted,
        )
        runner.run_once(timeout_seconds=1.0, silence_seconds=0.2)


def wait_until(condition: Callable[[], bool], timeout_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def parked_rows(connection: Connection, projection: str, tenant: str) -> list[dict[str, Any]]:
    p = positions.projection_parked
    rows = connection.execute(
        sa.select(p).where(p.c.projection == projection, p.c.tenant == tenant).order_by(p.c.id)
    )
    return [dict(r._mapping) for r in rows]


def start_runner_process(
    settings: Settings,
    broker: EmbeddedBroker,
    tenant: str,
    projection: str,
    *,
    max_batch: int,
    kind: str = "roster",
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.projections.runner_process",
            settings.database_url or "-",
            str(settings.data_dir),
            broker.bootstrap,
            tenant,
            kind,
            projection,
            str(max_batch),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def filled_and_analysed(engine: Engine, projection: Projection) -> tuple[set[str], set[str]]:
    """The projection's tables holding rows, and those of its tables PostgreSQL holds
    planner statistics of (pg_stats: gathered by ANALYZE, not by creating or filling)."""
    with engine.connect() as connection:
        filled = {
            table.name
            for table in projection.metadata.sorted_tables
            if connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        }
        analysed = set(
            connection.execute(
                sa.text("SELECT DISTINCT tablename FROM pg_stats WHERE tablename = ANY(:names)"),
                {"names": [table.name for table in projection.metadata.sorted_tables]},
            ).scalars()
        )
    return filled, analysed
