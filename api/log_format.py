"""The server's log: one JSON object a line, and never a value a request carried.

`digione serve` logs through `configure(level)`. A record is its time, level, logger and
message; an error's traceback is its frames (file, line, function, source line) and the
type of each error in its chain, without the errors' messages (but those about a connection
or a file): a message may quote a value that was being written (SQLAlchemy prints a
statement's parameters, a validator the value it refused), and values may be personal data. Messages of the code's own log calls name
ids and positions, never names, addresses or feedback.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from kafka.errors import Cancelled

__all__ = ["JsonLines", "configure", "safe_traceback"]


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


#: Errors whose message is about a connection, a file or a timeout, never a row's values:
#: their message is kept (it says which host refused, which file is full).
_TELLING = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    OSError,  # ConnectionError, TimeoutError, ENOSPC: errno and path
)


def safe_traceback(error: BaseException) -> str:
    """The frames and error types of `error`'s chain, oldest first; a message only of the
    errors about connections and files (see _TELLING)."""
    parts = []
    for e in reversed(list(_chain(error))):
        parts.append("".join(traceback.format_tb(e.__traceback__)))
        line = f"{type(e).__module__}.{type(e).__qualname__}"
        if isinstance(e, _TELLING):
            line += f": {str(e).strip()[:300]}"
        parts.append(line + "\n")
    return "".join(parts)


class JsonLines(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, and a safe traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            line["traceback"] = safe_traceback(record.exc_info[1])
        return orjson.dumps(line).decode()


class _CancelledRefreshes(logging.Filter):
    """kafka-python logs a metadata refresh its own client cancelled at close as an error
    (`Metadata refresh: failed Cancelled`), though nothing failed: a consumer or producer
    closed while a refresh was in flight, as any may be when `serve` stops. Such a record
    is a DEBUG one; every other refresh that failed stays an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            str(record.msg).startswith("Metadata refresh")
            and isinstance(record.args, tuple)
            and record.args
            and isinstance(record.args[0], Cancelled)
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


#: A step of the Kafka client's network loop this long or longer is logged as a warning.
BUSY_STEP_WARNING_SECONDS = 1.0


class _BusyLoopSteps(logging.Filter):
    """kafka-python's network thread warns when one step of its loop took over 0.1 s, as a
    sign of code blocking it ("a tight sync loop ... Other pollers will time out"). Its
    steps are its own (reading a fetch's records, metadata), and in a busy process a step
    takes that long with the GIL shared with the process's other threads (the relay, the
    projections): a full `digione bench` run on two cores logged four (0.11-0.19 s, as the
    projections took up the bench's CSV import), alarms with nothing to mend. Such a step
    under a second is a DEBUG record; one of a second or more stays a warning (a stall the
    projections' lag in /healthz will show too)."""

    _STEP = re.compile(r"^Task .* ran for (\d+(?:\.\d+)?)s \(>")

    def filter(self, record: logging.LogRecord) -> bool:
        step = self._STEP.match(str(record.msg))
        if step is not None and float(step.group(1)) < BUSY_STEP_WARNING_SECONDS:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure(level: str) -> None:
    """Sends every logger's records at `level` and above to stderr, as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The Kafka client reports every connection, bootstrap and metadata refresh at INFO:
    # nine lines in ten of a healthy server's log. Its warnings and errors come through;
    # DEBUG shows everything.
    if level != "DEBUG":
        logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name, kind in (
        ("kafka.cluster", _CancelledRefreshes),
        ("kafka.net.selector", _BusyLoopSteps),
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
