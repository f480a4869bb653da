"""Getting at a read: who may read, a connection to the read models, and the errors when
either fails (the API maps each to its HTTP problem in api/problems.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from domain.commands import Actor

__all__ = [
    "ReadModelUnavailableError",
    "ReadNotPermittedError",
    "RosterRecordNotFoundError",
    "read_connection",
    "read_retried",
    "require_role",
    "retried_once",
    "row_dicts",
]

T = TypeVar("T")
P = ParamSpec("P")
#: What a read that cannot reach its read model answers (ReadModelUnavailableError).
UNAVAILABLE = "the read model is not available yet; try again shortly"


class ReadNotPermittedError(Exception):
    """Raised when the caller may not have what they asked to read.

    The one refusal of every read: the same whether or not the record exists, so it tells
    nothing about others.
    """


class ReadModelUnavailableError(Exception):
    """Raised when a read model cannot be read: never built yet, or its database is away.
    `dropped`: the read met a pooled connection the server had ended (a restart), which
    the pool has now discarded: the same read may well succeed on a new one."""

    def __init__(self, message: str, *, dropped: bool = False) -> None:
        super().__init__(message)
        self.dropped = dropped


class RosterRecordNotFoundError(LookupError):
    """Raised when the roster read model holds no record of the sourcedId asked for."""


def row_dicts(result: sa.Result[Any]) -> list[dict[str, Any]]:
    """A result's rows as plain dicts: each zipped with the result's keys, read once (a
    third of what dict() of each row's mapping costs, which asks for the keys every time;
    a OneRoster page turns a hundred rows into records). The rows are fetched together:
    iterating the result fetched them one at a time from the driver, 13% of a OneRoster
    page's time in its request thread."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]


def require_role(actor: Actor, roles: tuple[str, ...], refusal: str) -> None:
    """Refuses (ReadNotPermittedError with `refusal`) a caller whose role is not in `roles`."""
    if actor.role not in roles:
        raise ReadNotPermittedError(refusal)


@contextmanager
def _connected(engine: Engine, unavailable: str) -> Iterator[Connection]:
    """A connection of `engine`; ReadModelUnavailableError (with `unavailable`, and whether
    the connection was found dropped) when the database cannot be read."""
    try:
        with engine.connect() as connection:
            yield connection
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as error:
        raise ReadModelUnavailableError(unavailable, dropped=error.connection_invalidated) from None


@contextmanager
def read_connection(engine: Engine, unavailable: str = UNAVAILABLE) -> Iterator[Connection]:
    """A connection to the read models; ReadModelUnavailableError (with `unavailable`) while
    they are not there, so the caller retries instead of seeing a server error.

    Reads only, in autocommit: under READ COMMITTED each statement has a snapshot of its
    own inside a transaction too, so a read's BEGIN and ROLLBACK were two round trips that
    bought nothing.
    """
    with _connected(engine, unavailable) as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def retried_once(read: Callable[P, T]) -> Callable[P, T]:
    """`read` (made of `read_connection`s), run once more when it met a dropped connection:
    for reads through an engine that does not ping its connections before use (api/
    bootstrap.py `_read_engine`). `read` must change nothing before its last connection
    is back, so that running it twice records nothing twice."""

    @functools.wraps(read)
    def reading(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return read(*args, **kwargs)
        except ReadModelUnavailableError as error:
            if not error.dropped:
                raise
        return read(*args, **kwargs)

    return reading


def read_retried(
    engine: Engine, read: Callable[[Connection], T], unavailable: str = UNAVAILABLE
) -> T:
    """`read` on a connection of `engine`, once more on a new connection when the first
    was found dropped (a PostgreSQL restart ends every pooled connection): for an engine
    that does not ping its connections before use (api/bootstrap.py `_read_engine`).
    `read` must only read, so running it twice changes nothing. ReadModelUnavailableError
    (with `unavailable`) as `read_connection` when the read models cannot be read.

    The engine is used as it is configured: the read engine is in autocommit already.
    """

    @retried_once
    def once() -> T:
        # SQLAlchemy discards a dropped connection, and the pool every one older than it,
        # so the second attempt connects anew.
        with _connected(engine, unavailable) as connection:
            return read(connection)

    return once()
