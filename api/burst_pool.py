"""A connection pool whose burst connections stay open while the burst lasts.

SQLAlchemy's QueuePool keeps `pool_size` connections and opens up to `max_overflow` more
when more are wanted at once; but it closes such an overflow connection the moment it is
returned while the kept ones are all idle. Under a steady load of more concurrent reads
than `pool_size` (32 clients of one HTTP process, 40 request threads) that is a new
PostgreSQL connection for a good share of the requests: a server process forked, a
login, cold caches. In a freshness run of the benchmark (27 s of roster writes and reads)
the server opened 538–600 connections, against 63–70 with this pool.

`BurstPool` keeps a returned overflow connection aside instead, with the time it came back,
hands it out again before opening a new one, and closes it once it has stayed unused for
`idle_seconds` (looked at whenever the pool is used). So the number of connections still
goes back to `pool_size` after a burst, and never exceeds `pool_size + max_overflow`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.util import queue as sqla_queue

__all__ = ["BurstPool"]

# SQLAlchemy names a pool's logger after the pool's class, and keeps its own ("sqlalchemy.*")
# at WARNING unless `echo_pool` is set: a pool's dispose and re-creation are INFO lines. This
# class's logger is kept the same, or every engine's disposal would be in a server's log.
logging.getLogger(f"{__name__}.BurstPool").setLevel(logging.WARNING)


class BurstPool(QueuePool):
    """QueuePool whose overflow connections are closed once idle for `idle_seconds`
    (0: as soon as they are returned, as QueuePool does). Make one with `idle_for`."""

    idle_seconds: ClassVar[float] = 60.0
    clock: ClassVar[Callable[[], float]] = time.monotonic

    @classmethod
    def idle_for(
        cls, seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> type[BurstPool]:
        """The pool class (for create_engine's `poolclass`) that closes an overflow
        connection after `seconds` unused, measured on `clock`."""
        if seconds < 0:
            raise ValueError(f"idle_seconds must be 0 or more, not {seconds}")
        return type(cls.__name__, (cls,), {"idle_seconds": seconds, "clock": staticmethod(clock)})

    def __init__(self, creator: Any, **kw: Any) -> None:
        super().__init__(creator, **kw)
        #: Returned overflow connections, each with when it came back, oldest first.
        self._resting: list[tuple[float, ConnectionPoolEntry]] = []
        self._resting_lock = threading.Lock()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            self._pool.put(record, False)
        except sqla_queue.Full:
            with self._resting_lock:
                self._resting.append((type(self).clock(), record))
        self._close_idle()

    def _do_get(self) -> ConnectionPoolEntry:
        # The kept connections first, so that resting ones go idle once the burst is over.
        try:
            return self._pool.get(False)
        except sqla_queue.Empty:
            pass
        with self._resting_lock:
            rested = self._resting.pop()[1] if self._resting else None
        if rested is not None:
            self._close_idle()
            return rested
        return super()._do_get()

    def _close_idle(self) -> None:
        """Closes the resting connections unused for `idle_seconds`."""
        cutoff = type(self).clock() - self.idle_seconds
        with self._resting_lock:
            idle = 0
            while idle < len(self._resting) and self._resting[idle][0] <= cutoff:
                idle += 1
            closing = [record for _, record in self._resting[:idle]]
            del self._resting[:idle]
        for record in closing:
            self._close(record)

    def _close(self, record: ConnectionPoolEntry) -> None:
        try:
            record.close()
        finally:
            self._dec_overflow()

    def resting(self) -> int:
        """How many overflow connections are open and unused."""
        with self._resting_lock:
            return len(self._resting)

    def checkedout(self) -> int:
        return super().checkedout() - self.resting()

    def status(self) -> str:
        return f"{super().status()} Resting overflow: {self.resting()}"

    def dispose(self) -> None:
        with self._resting_lock:
            closing = [record for _, record in self._resting]
            self._resting = []
        for record in closing:
            record.close()
        super().dispose()
