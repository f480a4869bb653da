"""Erased subject keys dropped from every process's key cache at once.

Each process (the HTTP server, the background worker, an admin command) caches unwrapped
subject keys for `key_cache_seconds`. When an erasure shreds a key in one process, that
process announces it; every other process drops the key from its cache as soon as the
announcement arrives, instead of serving it until its cache entry expires:

- PostgreSQL: `NOTIFY digione_key_forgotten, 'tenant subject retention'` in its own
  transaction after the shredding committed; each process LISTENs on one connection of its
  own in a thread. When that connection is lost (a notification may have been missed), the
  process drops every cached key before it listens again.
- SQLite (one machine, no notifications): the tenant's epoch (api/shared_epochs.py) is
  bumped; each process looks at the epochs every `poll_seconds` and drops a changed
  tenant's keys (the HTTP process also looks before it verifies each request's token).

The same thread takes the other announced changes (a rotated master key, a shredded
tenant) every `poll_seconds` on both databases: the worker process verifies no tokens, so
it would otherwise never look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.shared_epochs import SharedEpochs, tenant_epoch
from api.tenants import Tenants
from domain.sealing import RetentionClass

__all__ = ["CHANNEL", "KeyForgetting"]

log = logging.getLogger(__name__)

#: The PostgreSQL notification channel of dropped subject keys.
CHANNEL = "digione_key_forgotten"


class KeyForgetting:
    """Announces the subject keys erased here; drops those erased elsewhere (a thread)."""

    def __init__(
        self,
        *,
        engine: Engine,
        tenants: Tenants,
        epochs: SharedEpochs,
        postgres_url: str | None,
        catch_up: Callable[[], None],
        poll_seconds: float = 0.5,
    ) -> None:
        self._engine = engine
        self._tenants = tenants
        self._epochs = epochs
        #: The libpq URL when the database is PostgreSQL (Settings.libpq_url); None on SQLite.
        self._postgres_url = postgres_url
        self._catch_up = catch_up
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()
        tenants.add_key_forgotten_listener(self.announce)

    def announce(self, tenant: str, subject: UUID, retention: RetentionClass) -> None:
        """Tells every process that `subject`'s key of `retention` is gone (called after the
        shredding committed)."""
        try:
            if self._postgres_url is None:
                self._epochs.bump(tenant_epoch(tenant))
                return
            with self._engine.begin() as connection:
                connection.execute(
                    sa.text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": CHANNEL, "payload": f"{tenant} {subject} {retention.value}"},
                )
        except Exception:
            # The key is shredded in the store; other processes drop their copies when
            # their cache time ends, as before announcements.
            log.exception("could not announce an erased key to the other processes")

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Starts dropping the keys other processes announce (a daemon thread)."""
        if self.is_running:
            return
        self._stop.clear()
        target = self._listen if self._postgres_url is not None else self._poll
        self._thread = threading.Thread(target=target, name="digione-key-events", daemon=True)
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """Whether the listener is listening (PostgreSQL) within `timeout` seconds."""
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            self._catch_up_quietly()

    def _catch_up_quietly(self) -> None:
        try:
            self._catch_up()
        except Exception:  # the database is away: look again at the next tick
            log.debug("could not read the shared epochs", exc_info=True)

    def _listen(self) -> None:
        assert self._postgres_url is not None
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._postgres_url, autocommit=True, connect_timeout=5
                ) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    # Announcements made while not listening were missed: drop every key.
                    self._tenants.forget_every_key()
                    self._listening.set()
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=self._poll_seconds):
                            self._take(notice.payload)
                        self._catch_up_quietly()
            except Exception as error:  # noqa: BLE001 - listened again after a pause
                self._listening.clear()
                log.warning("lost the key announcements (%s); listening again", error)
                self._stop.wait(1.0)
        self._listening.clear()

    def _take(self, payload: str) -> None:
        try:
            tenant, subject, retention = payload.split(" ")
            self._tenants.drop_cached_key(tenant, UUID(subject), RetentionClass(retention))
        except ValueError:
            log.warning("ignored a malformed key announcement")
