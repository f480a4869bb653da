"""The background worker's report, kept in the main database for the HTTP processes.

The worker process (api/worker.py) runs the relay, the projection runner, the fan-out and
retention; the HTTP processes answer /healthz. Every `BEAT_SECONDS` the worker writes what
only it knows (its loops, the runner's failure, the relay's per-tenant state and error)
into one row; a report older than `STALE_SECONDS` means the worker is not running.
Positions and lags are not in it: /healthz reads them from the database as they are now.
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = [
    "BEAT_SECONDS",
    "STALE_SECONDS",
    "clear_report",
    "create_table",
    "read_report",
    "write_report",
]

#: How often the worker writes its report.
BEAT_SECONDS: Final = 1.0
#: A report older than this says the worker stopped (or hangs).
STALE_SECONDS: Final = 10.0

metadata = sa.MetaData()
reports_table = sa.Table(
    "digione_runtime_reports",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    #: Seconds since the epoch (wall clock: the readers are other processes).
    sa.Column("written_at", sa.Float, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
)


def create_table(engine: Engine) -> None:
    metadata.create_all(engine)


def write_report(engine: Engine, name: str, report: dict[str, Any]) -> None:
    t = reports_table.c
    values = {"written_at": time.time(), "report": orjson.dumps(report).decode()}
    with engine.begin() as connection:
        updated = connection.execute(
            sa.update(reports_table).where(t.name == name).values(**values)
        )
        if updated.rowcount == 0:
            connection.execute(reports_table.insert().values(name=name, **values))


def read_report(engine: Engine, name: str) -> dict[str, Any] | None:
    """The worker's last report when it is fresh (written within STALE_SECONDS); else None."""
    t = reports_table.c
    with engine.connect() as connection:
        row = connection.execute(sa.select(t.written_at, t.report).where(t.name == name)).first()
    if row is None or time.time() - row.written_at > STALE_SECONDS:
        return None
    report: dict[str, Any] = orjson.loads(row.report)
    return report


def clear_report(engine: Engine, name: str) -> None:
    """Forgets the report (the worker stopped cleanly)."""
    with engine.begin() as connection:
        connection.execute(sa.delete(reports_table).where(reports_table.c.name == name))
