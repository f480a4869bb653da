"""Errors of the storage underneath a request, and the problems that answer them.

A database that is away (PostgreSQL restarting, a pool that cannot get a connection, a
SQLite file locked for too long) is an outage the caller can wait out: 503 with
`Retry-After`. A full disk is not: 507, saying so and what the operator must do. Any other
error is a defect: 500 without internals. Each is logged without the request's values
(they may be personal data): the error's type, and for an outage the driver's message
about the connection, never a statement's parameters.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Iterator

import eventsourcing.persistence as es
import psycopg
import psycopg.errors
import sqlalchemy as sa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.log_format import safe_traceback
from api.problems import ProblemError, refusal

__all__ = [
    "RETRY_AFTER_SECONDS",
    "AnswerEveryError",
    "is_database_unavailable",
    "is_disk_full",
    "storage_problem",
]

log = logging.getLogger(__name__)

#: What a caller is told to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 5

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,  # the pool had no connection to give within its timeout
    psycopg.OperationalError,
    psycopg.InterfaceError,
    es.OperationalError,
    es.InterfaceError,
    sqlite3.OperationalError,  # "database is locked" beyond the busy timeout
    ConnectionError,
)
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# SQLite says SQLITE_FULL this way; PostgreSQL's SQLSTATE 53100 is psycopg.errors.DiskFull.
_DISK_FULL_TEXTS = ("database or disk is full", "no space left on device")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what caused it (explicitly or while handling), once each."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, sa.exc.StatementError) and current.orig is not None:
            yield current.orig
        current = current.__cause__ or current.__context__


def _message(error: BaseException) -> str:
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        error = error.orig
    return str(error).lower()


def is_disk_full(error: BaseException) -> bool:
    """Whether the error (or its cause) says the disk under a store is full."""
    for e in _chain(error):
        if isinstance(e, psycopg.errors.DiskFull):
            return True
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            return True
        storage = (*_UNAVAILABLE, es.PersistenceError, sqlite3.Error, sa.exc.DBAPIError)
        if isinstance(e, storage) and any(text in _message(e) for text in _DISK_FULL_TEXTS):
            return True
    return False


def is_database_unavailable(error: BaseException) -> bool:
    """Whether the error (or its cause) is the database being away or out of connections."""
    return any(isinstance(e, _UNAVAILABLE) for e in _chain(error))


def _outage_text(error: BaseException) -> str:
    """The type and the driver's message of the connection error in the chain: a
    connection's message names the host and the reason, never a row's values."""
    for e in _chain(error):
        if isinstance(
            e, (psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError)
        ):
            return f"{type(e).__name__}: {str(e).strip()[:300]}"
    return " <- ".join(type(e).__name__ for e in _chain(error))


def storage_problem(error: BaseException) -> ProblemError | None:
    """The problem answering a storage error (disk full, database away); None otherwise."""
    if is_disk_full(error):
        return ProblemError(
            507,
            "storage-full",
            "Storage full",
            "The server's disk is full, so this request could not be recorded. Try again "
            "once an operator has freed space on the disk that holds the data directory "
            "(DIGIONE_DATA_DIR) or the database.",
        )
    if is_database_unavailable(error):
        return ProblemError(
            503,
            "database-unavailable",
            "Database unavailable",
            "The database cannot be reached right now (it may be restarting). Try again in "
            f"{RETRY_AFTER_SECONDS} seconds, with the same Idempotency-Key, so that a command "
            "that did reach the store is not recorded twice.",
        )
    return None


class AnswerEveryError:
    """ASGI middleware, outermost: whatever error escapes the app is answered as a problem
    (on OneRoster's /ims paths in its status-info format, as every error there is).

    Storage outages get 503 (with `Retry-After`) or 507; anything else 500 "internal
    error" without internals, its traceback logged without messages. An error after the
    answer started cannot be answered: it is logged and the connection closed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as error:  # noqa: BLE001 - this is the one place that answers all
            route = f"{scope.get('method', '?')} {scope.get('path', '?')}"
            found = storage_problem(error)
            if found is not None and found.status == 507:
                log.error(
                    "%s refused: the disk is full (%s); free space on the disk of the data "
                    "directory or the database",
                    route,
                    _outage_text(error),
                )
            elif found is not None:
                log.warning("%s: %s (%s)", route, found.title.lower(), _outage_text(error))
            else:
                log.error("%s failed with an internal error:\n%s", route, safe_traceback(error))
            if started:
                return
            headers = None
            if found is not None and found.status == 503:
                headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            if found is None:
                found = ProblemError(
                    500,
                    "internal-error",
                    "Internal error",
                    "The server failed to handle this request. The failure is logged; try "
                    "again with the same Idempotency-Key, and tell the operators if it persists.",
                )
            response = refusal(
                scope, found.status, found.code, found.title, found.detail, headers=headers
            )
            await response(scope, receive, send)
