"""Hearing that a projection's positions moved: PostgreSQL LISTEN on a connection of its own.

The projection runner announces each batch as it commits (projections/positions.py
`lock_partition_for_batch`, payload "<tenant> <projection>"). The read-your-writes watcher
(projections/status.py) waits for an announcement of a position someone waits on rather
than sleeping its poll interval, so a read asking for its own write looks again as soon as
the batch that applied it committed, not up to 20 ms later.

It only shortens the wait: without PostgreSQL (SQLite), or while the connection is lost,
`wait` sleeps the interval and the watcher polls as before. While nobody waits it does not
listen, so announcements do not pile up unread in the server's queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

import psycopg

from projections.positions import POSITIONS_CHANNEL

__all__ = ["PositionAnnouncements"]

log = logging.getLogger(__name__)

#: How often a long wait looks whether it should stop.
_STOP_LOOK_SECONDS = 0.1

#: How long after a failed connection the next one is tried (the watcher polls meanwhile).
RETRY_SECONDS = 5.0


class PositionAnnouncements:
    """Announcements of moved positions, for one thread (the watcher's)."""

    def __init__(self, url: str | None, *, connect_timeout: int = 5) -> None:
        #: libpq's URL of the main database; None when it is not PostgreSQL.
        self._url = url
        self._connect_timeout = connect_timeout
        self._connection: psycopg.Connection | None = None
        self._listening = False
        self._retry_at = 0.0

    def listen(self) -> None:
        """Listens from now on (connecting first when need be): call it before looking at the
        positions, so what commits after the look is announced. A failure is logged and
        leaves the watcher polling until a later try."""
        if self._listening or self._url is None or time.monotonic() < self._retry_at:
            return
        try:
            if self._connection is None:
                self._connection = psycopg.connect(
                    self._url, autocommit=True, connect_timeout=self._connect_timeout
                )
            self._connection.execute(f"LISTEN {POSITIONS_CHANNEL}")
            self._listening = True
        except psycopg.Error as error:
            self._lost(error)

    def pause(self) -> None:
        """Stops listening while nobody waits (the connection stays open)."""
        if not self._listening or self._connection is None:
            return
        try:
            self._connection.execute(f"UNLISTEN {POSITIONS_CHANNEL}")
            self._listening = False
        except psycopg.Error as error:
            self._lost(error)

    def wait(self, awaited: Collection[str], seconds: float, *, stop: Callable[[], bool]) -> None:
        """Returns once an announcement whose payload is in `awaited` came (one already
        received counts), after `seconds`, or soon after `stop()` turned true; sleeps when
        not listening."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0 and not stop():
            step = min(remaining, _STOP_LOOK_SECONDS)
            if not self._listening or self._connection is None:
                time.sleep(step)
                continue
            try:
                for notice in self._connection.notifies(timeout=step):
                    if notice.payload in awaited:
                        return
            except psycopg.Error as error:
                self._lost(error)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        self._listening = False
        if connection is not None:
            connection.close()

    def _lost(self, error: psycopg.Error) -> None:
        log.warning(
            "not listening for projection positions (%s); reads waiting for one poll until "
            "it is back",
            type(error).__name__,
        )
        self.close()
        self._retry_at = time.monotonic() + RETRY_SECONDS
