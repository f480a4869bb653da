"""How far each projection is, per tenant: its position, its lag behind the store, parked messages.

A projection's position for a tenant is the highest store position P such that every
event up to P that the relay has published is applied. Partitions are compared with what
the relay recorded as published to each (streams/positions.py), never with the broker's
end offsets, which Tansu can report short (DESIGN.md): a partition that applied everything
published to it does not hold the position back; one that lags holds it at its own
applied position. Lag is the tenant's store head minus the position.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from projections import positions
from projections.base import Projection
from projections.position_announcements import PositionAnnouncements
from streams import positions as relay_positions
from streams.codec import family_topic

__all__ = ["ProjectionState", "ProjectionStatus", "UnknownProjectionError"]

#: How often wait_for looks again without an announcement; short, as a read waits on it.
POLL_SECONDS = 0.02

logger = logging.getLogger(__name__)


class UnknownProjectionError(LookupError):
    """Raised when a projection name is not one of those the status knows."""


@dataclass(frozen=True)
class ProjectionState:
    """One projection's progress for one tenant."""

    projection: str
    tenant: str
    position: int
    head: int
    parked: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


@dataclass(eq=False)
class _AsyncWaiter:
    """An async read waiting for a position: the watcher thread wakes it on its loop."""

    loop: asyncio.AbstractEventLoop
    reached: asyncio.Future[bool]
    min_position: int
    #: The number of the latest look begun when it came; only later looks count.
    since: int
    woken: bool = field(default=False)


def _settle(reached: asyncio.Future[bool]) -> None:
    # Runs on the waiter's loop; the wait may have timed out (and cancelled it) meanwhile.
    if not reached.done():
        reached.set_result(True)


class ProjectionStatus:
    """Reads positions from the main database; shared by /healthz, reads and the CLI."""

    def __init__(
        self,
        *,
        engine: Engine,
        projections: Sequence[Projection],
        topic_prefix: str,
        tenant_ids: Callable[[], Iterable[str]],
        head_position: Callable[[str], int],
        watch_engine: Engine | None = None,
        listen_url: str | None = None,
    ) -> None:
        self._engine = engine
        #: libpq's URL of the main database when it is PostgreSQL: the watcher waits for
        #: the runner's announcements there between looks (projections/position_announcements.py).
        self._listen_url = listen_url
        #: The engine of the shared watcher's looks (default `engine`): the read engine,
        #: which neither pings nor begins a transaction, makes a look one round trip. A
        #: look that meets a dropped connection fails, and the next one reconnects.
        self._watch_engine = engine if watch_engine is None else watch_engine
        self._families = {p.name: tuple(p.families) for p in projections}
        self._topic_prefix = topic_prefix
        self._tenant_ids = tenant_ids
        self._head_position = head_position
        #: wait_for's shared watcher: waiters per (tenant, projection), the latest look
        #: (its number, the position) for each, and the number of the latest look begun.
        self._watch = threading.Condition()
        self._waiting: Counter[tuple[str, str]] = Counter()
        self._seen: dict[tuple[str, str], tuple[int, int]] = {}
        #: The async waiters among them, woken on their event loops.
        self._async_waiters: dict[tuple[str, str], list[_AsyncWaiter]] = {}
        self._look = 0
        self._watcher: threading.Thread | None = None
        self._closed = False
        positions.create_tables(engine)
        relay_positions.create_tables(engine)

    @property
    def projection_names(self) -> list[str]:
        return list(self._families)

    def position(self, tenant: str, projection: str) -> int:
        """The store position up to which the tenant's read model of `projection` is current."""
        families = self._families_of(projection)
        with self._engine.connect() as connection:
            return self._position(connection, tenant, projection, families)

    def state(self, tenant: str, projection: str) -> ProjectionState:
        families = self._families_of(projection)
        with self._engine.connect() as connection:
            position = self._position(connection, tenant, projection, families)
            parked = positions.parked_count(connection, projection=projection, tenant=tenant)
        return ProjectionState(
            projection=projection,
            tenant=tenant,
            position=position,
            head=self._head_position(tenant),
            parked=parked,
        )

    def states(self) -> list[ProjectionState]:
        """Every projection for every tenant, ordered by projection then tenant."""
        tenants = list(self._tenant_ids())
        return [self.state(tenant, name) for name in self._families for tenant in tenants]

    def wait_for(
        self, tenant: str, projection: str, min_position: int, timeout_seconds: float
    ) -> bool:
        """Waits until the position reaches `min_position`; False when the timeout came first.

        Waiters share the looks: one watcher thread reads the positions for each (tenant,
        projection) someone waits on, however many wait, and wakes them. It looks again as
        soon as the runner announces a batch of one of them (PostgreSQL; with `listen_url`)
        and at the latest after POLL_SECONDS: thirty-two reads waiting cost one look per
        announcement or per 20 ms, not thirty-two.
        """
        families = self._families_of(projection)
        with self._engine.connect() as connection:
            if self._position(connection, tenant, projection, families) >= min_position:
                return True
        key = (tenant, projection)
        deadline = time.monotonic() + timeout_seconds
        with self._watch:
            # Only a look that began after this waiter came counts: an older one may predate
            # a reset of the read model (a rebuild starts its positions at 0 again).
            since = self._look
            self._waiting[key] += 1
            self._start_watcher()
            self._watch.notify_all()
            try:
                while True:
                    seen = self._seen.get(key)
                    if seen is not None and seen[0] > since and seen[1] >= min_position:
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._watch.wait(remaining)
            finally:
                self._stop_waiting(key)

    async def wait_for_async(
        self, tenant: str, projection: str, min_position: int, timeout_seconds: float
    ) -> bool:
        """As wait_for, for async callers: waits without holding a thread.

        The read waits on a future that the shared watcher resolves (`call_soon_threadsafe`)
        once a look begun after it came sees the position, so async and threaded waiters
        share the same looks, even the first: a read asking for a position just written
        (read-your-writes) rarely finds it on its first look, and a look of its own in the
        loop's executor, a thread hop and a query per read, was a third of such a read's
        CPU under load. The watcher looks at once when it was idle, else within
        POLL_SECONDS.
        """
        self._families_of(projection)
        loop = asyncio.get_running_loop()
        key = (tenant, projection)
        with self._watch:
            waiter = _AsyncWaiter(loop, loop.create_future(), min_position, since=self._look)
            self._async_waiters.setdefault(key, []).append(waiter)
            self._waiting[key] += 1
            self._start_watcher()
            self._watch.notify_all()
        try:
            return await asyncio.wait_for(waiter.reached, timeout_seconds)
        except TimeoutError:
            return False
        finally:
            with self._watch:
                self._async_waiters[key].remove(waiter)
                if not self._async_waiters[key]:
                    del self._async_waiters[key]
                self._stop_waiting(key)

    def _stop_waiting(self, key: tuple[str, str]) -> None:
        """One waiter less on `key` (called holding the lock)."""
        self._waiting[key] -= 1
        if not self._waiting[key]:
            del self._waiting[key]
            self._seen.pop(key, None)

    def _wake_async_waiters(self, seen: dict[tuple[str, str], tuple[int, int]]) -> None:
        """Resolves the async waiters that a look saw reach their position (holding the lock)."""
        for key, (look, position) in seen.items():
            for waiter in self._async_waiters.get(key, ()):
                if waiter.woken or look <= waiter.since or position < waiter.min_position:
                    continue
                waiter.woken = True
                try:
                    waiter.loop.call_soon_threadsafe(_settle, waiter.reached)
                except RuntimeError:  # its loop has closed: nobody is waiting any more
                    pass

    def close(self) -> None:
        """Stops the watcher thread (waiters still waiting time out)."""
        with self._watch:
            self._closed = True
            self._watch.notify_all()
            watcher = self._watcher
        if watcher is not None:
            watcher.join()

    def _start_watcher(self) -> None:
        if self._watcher is None and not self._closed:
            self._watcher = threading.Thread(
                target=self._watch_positions, name="projection-positions", daemon=True
            )
            self._watcher.start()

    def _watch_positions(self) -> None:
        announcements = PositionAnnouncements(self._listen_url)
        try:
            self._watch_with(announcements)
        finally:
            announcements.close()

    def _watch_with(self, announcements: PositionAnnouncements) -> None:
        while True:
            with self._watch:
                idle = not self._waiting and not self._closed
            if idle:
                announcements.pause()
            with self._watch:
                while not self._waiting and not self._closed:
                    self._watch.wait()
                if self._closed:
                    return
                self._look += 1
                look, keys = self._look, list(self._waiting)
            # Before the look: a batch committing after its snapshot is announced.
            announcements.listen()
            seen: dict[tuple[str, str], tuple[int, int]] = {}
            try:
                with self._watch_engine.connect() as connection:
                    for tenant, projection in keys:
                        families = self._families[projection]
                        position = self._position(connection, tenant, projection, families)
                        seen[(tenant, projection)] = (look, position)
            except Exception:  # the database is away: waiters time out, the watcher goes on
                logger.warning("could not read projection positions", exc_info=True)
            with self._watch:
                self._seen.update(
                    (key, value) for key, value in seen.items() if key in self._waiting
                )
                self._wake_async_waiters(seen)
                self._watch.notify_all()
            # The next look once a batch of a waited-on position commits, at the latest
            # after POLL_SECONDS (the runner announces only on PostgreSQL; the relay's own
            # progress, which a position also waits on, is never announced).
            announcements.wait(
                {f"{tenant} {projection}" for tenant, projection in keys},
                POLL_SECONDS,
                stop=lambda: self._closed,
            )

    def _families_of(self, projection: str) -> tuple[str, ...]:
        try:
            return self._families[projection]
        except KeyError:
            raise UnknownProjectionError(
                f"no projection {projection!r}; known: {', '.join(self._families)}"
            ) from None

    def _position(
        self, connection: Connection, tenant: str, projection: str, families: tuple[str, ...]
    ) -> int:
        topics = {family_topic(self._topic_prefix, tenant, family) for family in families}
        # One statement (one round trip, one snapshot): the tenant's published position,
        # what was published to each partition, and what the projection applied of each.
        rows = connection.execute(_POSITIONS, {"tenant": tenant, "projection": projection})
        position = 0
        published: dict[tuple[str, int], int] = {}
        applied: dict[tuple[str, int], int] = {}
        for kind, topic, partition, at in rows:
            if kind == _PUBLISHED:
                position = int(at)
            elif kind == _PUBLISHED_TO_PARTITION:
                published[(topic, partition)] = int(at)
            else:
                applied[(topic, partition)] = int(at)
        for key, last in published.items():
            if key[0] not in topics:
                continue
            done = applied.get(key, 0)
            if done < last:
                position = min(position, done)
        return position


_PUBLISHED, _PUBLISHED_TO_PARTITION, _APPLIED = 0, 1, 2


def _positions_statement() -> sa.CompoundSelect[int, str, int, int]:
    """A tenant's published position (one row, if any), its position in each partition,
    and a projection's applied position in each, tagged by kind."""
    relay = relay_positions.relay_positions
    relay_partitions = relay_positions.relay_partition_positions
    applied = positions.projection_positions
    tenant = sa.bindparam("tenant", type_=sa.String)
    projection = sa.bindparam("projection", type_=sa.String)
    return sa.union_all(
        sa.select(
            sa.literal(_PUBLISHED),
            sa.literal("").label("topic"),
            sa.literal(0).label("partition"),
            relay.c.position,
        ).where(relay.c.tenant == tenant),
        sa.select(
            sa.literal(_PUBLISHED_TO_PARTITION),
            relay_partitions.c.topic,
            relay_partitions.c.partition,
            relay_partitions.c.position,
        ).where(relay_partitions.c.tenant == tenant),
        sa.select(
            sa.literal(_APPLIED), applied.c.topic, applied.c.partition, applied.c.position
        ).where(applied.c.projection == projection, applied.c.tenant == tenant),
    )


_POSITIONS = _positions_statement()
