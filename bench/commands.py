"""Commands: assessments through the HTTP server and through the application (no HTTP),
beside raw single-row INSERT + COMMITs on the same database."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql
from rich.progress import Progress, TaskID

from bench.http_load import Request, closed_loop
from bench.roster import ClassLoad
from bench.timing import Load, Sample, timed_workers
from domain.application import TenantApplication
from domain.commands import Actor, RecordAssessment

__all__ = [
    "create_raw_table",
    "measure_http_commands",
    "measure_raw_commits",
    "measure_store_commands",
]

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

    def request(index: int) -> Request:
        school_class, body = _assessment(classes, index, today)
        return Request(
            "POST",
            ASSESSMENTS_PATH,
            headers={"Authorization": f"Bearer {school_class.teacher_token}"},
            json=body,
        )

    return closed_loop(
        base_url,
        request,
        count=count,
        clients=concurrency,
        progress=progress,
        description=f"POST {ASSESSMENTS_PATH}",
        warm_status=201,
    )


#: Commits a committer makes between showing its progress.
PROGRESS_STEP = 25


def measure_store_commands(
    app: TenantApplication,
    classes: Sequence[ClassLoad],
    *,
    count: int,
    concurrency: int,
    progress: Progress,
) -> Load:
    """`count` assessments recorded through the application (validation, sealing, the
    store) by `concurrency` concurrent committers, with no HTTP in between."""
    today = datetime.now(UTC).date()
    shares = _shares(count, concurrency)
    task = progress.add_task(f"record_assessment, {concurrency} committers", total=count)

    def record(index: int) -> None:
        school_class, body = _assessment(classes, index, today)
        teacher = Actor(tenant=app.tenant, role="teacher", subject=school_class.teacher)
        app.record_assessment(
            teacher,
            RecordAssessment(
                None, body["student"], body["class"], None, None, body["grade"], None, [], today
            ),
        )

    def committer(worker: int, ready: Callable[[], object]) -> list[Sample]:
        record(count + worker)  # warms this thread's connection and the caches, untimed
        shown = _ShownProgress(progress, task)
        ready()
        samples = []
        for index in range(worker, worker + shares[worker] * concurrency, concurrency):
            began = time.perf_counter()
            try:
                record(index)
                outcome = "committed"
            except Exception as error:  # noqa: BLE001 - a failed command is a result here
                outcome = f"error:{type(error).__name__}"
            samples.append((time.perf_counter() - began, outcome))
            shown.advance()
        shown.flush()
        return samples

    return timed_workers(concurrency, committer)


def _assessment(
    classes: Sequence[ClassLoad], index: int, today: date
) -> tuple[ClassLoad, dict[str, Any]]:
    """The `index`-th assessment's class and body: classes and students in turn."""
    school_class = classes[index % len(classes)]
    student = school_class.students[(index // len(classes)) % len(school_class.students)]
    return school_class, {
        "student": student,
        "class": school_class.sourced_id,
        "grade": GRADES[index % len(GRADES)],
        "assessedAt": today.isoformat(),
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
            shown = _ShownProgress(progress, task)
            ready()
            samples = []
            for _ in range(shares[index]):
                began = time.perf_counter()
                connection.execute(insert, (uuid4(), _RAW_TOPIC, _RAW_STATE))
                connection.commit()
                samples.append((time.perf_counter() - began, "committed"))
                shown.advance()
            shown.flush()
            return samples

    return timed_workers(concurrency, committer)


class _ShownProgress:
    """One committer thread's progress, shown every PROGRESS_STEP commits: rich's `advance`
    takes the bar's lock, and 32 threads taking it after each command on Python's one
    running thread (the GIL) made it part of what the store path's measure timed."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task
        self._pending = 0

    def advance(self) -> None:
        self._pending += 1
        if self._pending == PROGRESS_STEP:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._progress.advance(self._task, self._pending)
            self._pending = 0


def _shares(count: int, workers: int) -> list[int]:
    """`count` split as evenly as possible between `workers`."""
    return [count // workers + (1 if index < count % workers else 0) for index in range(workers)]
