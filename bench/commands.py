"""Section 1, commands: assessments through the HTTP server beside raw INSERT + COMMITs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from functools import partial
from typing import Any
from uuid import uuid4

import httpx
import psycopg
from psycopg import sql
from rich.progress import Progress

from bench.roster import ClassLoad
from bench.server import require_status
from bench.timing import Load, Sample, timed_request, timed_workers

__all__ = ["create_raw_table", "measure_http_commands", "measure_raw_commits"]

ASSESSMENTS_PATH = "/api/v1/assessments"
GRADES = ("4", "5", "6", "7", "8", "9", "10")
#: The size of a stored Result.Recorded event of a graded assessment (about 400 bytes).
_RAW_STATE = b"x" * 400
_RAW_TOPIC = "domain.assessment:Result.Recorded"


def measure_http_commands(
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
            require_status(
                http.post(ASSESSMENTS_PATH, **_assessment(classes, index, today)),
                201,
                what="the warm-up assessment",
            )
            ready()
            samples = []
            for request in plan[index::concurrency]:
                samples.append(timed_request(partial(http.post, ASSESSMENTS_PATH, **request)))
                progress.advance(task)
            return samples

    return timed_workers(concurrency, client)


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


def create_raw_table(conninfo: str, *, schema: str) -> sql.Composed:
    """A scratch table shaped like the event store's (same columns, keys and index); returns
    the INSERT of one row into it."""
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


def measure_raw_commits(
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

    return timed_workers(concurrency, committer)


def _shares(count: int, workers: int) -> list[int]:
    """`count` split as evenly as possible between `workers`."""
    return [count // workers + (1 if index < count % workers else 0) for index in range(workers)]
