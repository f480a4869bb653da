"""Changes that every running process must take at once, announced through the database.

An admin command run beside a live server (`digione keys rotate`, `digione tenant shred`,
`digione token revoke`) changes state that a server holds in memory: the master key (and
the token signing key derived from it), a tenant's unwrapped key-encryption key, the revoked
tokens. The command bumps a counter (an epoch) in the main database with or after its
change; each process compares the counters with the ones it last saw before it verifies a
request's token (one small query), and takes the change before it answers: it loads the new
master key, forgets a shredded tenant's keys, or reloads the revoked tokens.

HTTP requests share that query (`CatchUpRounds`): each waits for one that began after the
request arrived, so it still sees every change committed before it, however many requests
arrive together.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from api.request_threads import in_request_thread

__all__ = [
    "MASTER_KEY",
    "SERVICE_AGREEMENTS",
    "TOKEN_REVOCATIONS",
    "CatchUpRounds",
    "EpochWatcher",
    "SharedEpochs",
    "bump_epoch",
    "tenant_epoch",
]

log = logging.getLogger(__name__)

#: Bumped by `digione keys rotate` once the new master key is current.
MASTER_KEY = "master-key"
#: Bumped by `digione token revoke` in the transaction that records the revocation.
TOKEN_REVOCATIONS = "token-revocations"
#: Bumped by `digione clients update|describe|end` once the changed agreement is stored.
SERVICE_AGREEMENTS = "service-agreements"


def tenant_epoch(tenant: str) -> str:
    """Bumped by `digione tenant shred` once the tenant's key-encryption key is destroyed."""
    return f"tenant:{tenant}"


metadata = sa.MetaData()
epochs_table = sa.Table(
    "digione_epochs",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


class SharedEpochs:
    """The counters in the main database."""

    def __init__(
        self, engine: Engine, *, postgres_url: str | None = None, connect_timeout: int = 5
    ) -> None:
        self._engine = engine
        metadata.create_all(engine)
        #: The libpq URL when the database is PostgreSQL: `read_async` reads on the event
        #: loop through a connection of its own (per loop: a connection serves one loop).
        self._postgres_url = postgres_url
        self._connect_timeout = connect_timeout
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, psycopg.AsyncConnection[tuple[Any, ...]]
        ] = weakref.WeakKeyDictionary()

    def bump(self, name: str) -> None:
        with self._engine.begin() as connection:
            bump_epoch(connection, name)

    def read(self) -> dict[str, int]:
        # Read before every request: in autocommit, so one round trip, not three.
        with self._engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            return {n: int(v) for n, v in connection.execute(sa.select(epochs_table))}

    async def read_async(self) -> dict[str, int]:
        """`read` for async callers: on PostgreSQL on the event loop itself (no thread),
        else on the thread pool."""
        if self._postgres_url is None:
            return await in_request_thread(self.read)
        loop = asyncio.get_running_loop()
        connection = self._async.get(loop)
        if connection is not None and not connection.closed:
            try:
                return await _read_epochs(connection)
            except psycopg.OperationalError:
                # Lost (PostgreSQL restarted, say): a new connection reads once more.
                _finish(connection)
        connection = await psycopg.AsyncConnection.connect(
            self._postgres_url, autocommit=True, connect_timeout=self._connect_timeout
        )
        self._async[loop] = connection
        return await _read_epochs(connection)

    def close(self) -> None:
        """Closes the connections `read_async` opened."""
        for connection in list(self._async.values()):
            _finish(connection)
        self._async.clear()


async def _read_epochs(connection: psycopg.AsyncConnection[tuple[Any, ...]]) -> dict[str, int]:
    cursor = await connection.execute("SELECT name, value FROM digione_epochs")
    return {str(name): int(value) for name, value in await cursor.fetchall()}


def _finish(connection: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
    """Closes an async connection from any thread or loop (closing sends nothing back)."""
    if not connection.closed:
        connection.pgconn.finish()


def bump_epoch(connection: Connection, name: str) -> None:
    """Bumps the counter `name` in the transaction of `connection` (so the change it
    announces and the announcement commit together)."""
    t = epochs_table.c
    updated = connection.execute(
        sa.update(epochs_table).where(t.name == name).values(value=t.value + 1)
    )
    if updated.rowcount == 0:
        connection.execute(epochs_table.insert().values(name=name, value=1))


class EpochWatcher:
    """Calls a process's handler for each counter that changed since it last looked."""

    def __init__(self, epochs: SharedEpochs, handle: Callable[[str], None]) -> None:
        self._epochs = epochs
        self._handle = handle
        self._seen = epochs.read()
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        """Takes every change announced since the last look (before a request is served)."""
        self.take(self._epochs.read())

    def is_current(self, current: dict[str, int]) -> bool:
        """Whether `current` (epochs just read) announces nothing this process has not taken."""
        return current == self._seen

    def take(self, current: dict[str, int]) -> None:
        """Takes the changes that `current`, epochs just read, announces."""
        if current == self._seen:
            return
        with self._lock:
            for name, value in sorted(current.items()):
                if self._seen.get(name) != value:
                    log.info("taking the change announced as %s (epoch %d)", name, value)
                    self._handle(name)
                    self._seen[name] = value


class CatchUpRounds:
    """`look` (an async look at the epochs that takes what changed) shared between the
    async callers that wait at the same time.

    A caller waits for a round that begins after it called, never for one already under way
    (that one may have read the epochs before a change the caller must see). Callers that
    arrive during a round are served together by the next one: one query per round
    instead of per request, and a round costs no more when requests arrive alone. A failed
    round fails every caller of it (the database away: 503), and the next caller starts a
    new round.
    """

    def __init__(self, look: Callable[[], Awaitable[None]]) -> None:
        self._look = look
        # Each event loop its own rounds (a round's future belongs to one loop).
        self._rounds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Rounds] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        rounds = self._rounds.get(loop)
        if rounds is None:
            rounds = self._rounds.setdefault(loop, _Rounds(self._look))
        await rounds.join()


class _Rounds:
    """The rounds of one event loop: the one under way and the next, which callers join."""

    def __init__(self, look: Callable[[], Awaitable[None]]) -> None:
        self._look = look
        #: The round that callers join; it begins once the round under way has ended.
        self._next: asyncio.Future[None] | None = None
        self._running: asyncio.Task[None] | None = None

    async def join(self) -> None:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # Retrieved even when every caller of a failed round was cancelled meanwhile.
            self._next.add_done_callback(_retrieve)
        joined = self._next
        if self._running is None:
            self._running = asyncio.create_task(self._run())
        # Shielded: a caller that goes away (a dropped connection) leaves the round to
        # the others.
        await asyncio.shield(joined)

    async def _run(self) -> None:
        try:
            while self._next is not None:
                current, self._next = self._next, None
                try:
                    await self._look()
                except asyncio.CancelledError:
                    current.cancel()
                    raise
                except Exception as error:  # noqa: BLE001 - given to each caller of the round
                    current.set_exception(error)
                else:
                    current.set_result(None)
        finally:
            # Cancelled (the loop shutting down): nobody is left waiting for a round.
            if self._next is not None:
                self._next.cancel()
                self._next = None
            self._running = None


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
