"""Changes that every running process must take at once, announced through the database.

An admin command run beside a live server (`digione keys rotate`, `digione tenant shred`)
changes state that a server holds in memory: the master key (and the token signing key
derived from it), a tenant's unwrapped key-encryption key. The command bumps a counter (an
epoch) in the main database after its change; each process compares the counters with the
ones it last saw before it verifies a request's token (one small query), and takes the
change before it answers: it loads the new master key, or forgets a shredded tenant's keys.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["MASTER_KEY", "EpochWatcher", "SharedEpochs", "tenant_epoch"]

log = logging.getLogger(__name__)

#: Bumped by `digione keys rotate` once the new master key is current.
MASTER_KEY = "master-key"


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

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)

    def bump(self, name: str) -> None:
        t = epochs_table.c
        with self._engine.begin() as connection:
            updated = connection.execute(
                sa.update(epochs_table).where(t.name == name).values(value=t.value + 1)
            )
            if updated.rowcount == 0:
                connection.execute(epochs_table.insert().values(name=name, value=1))

    def read(self) -> dict[str, int]:
        # Read before every request: in autocommit, so one round trip, not three.
        with self._engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            return {n: int(v) for n, v in connection.execute(sa.select(epochs_table))}


class EpochWatcher:
    """Calls a process's handler for each counter that changed since it last looked."""

    def __init__(self, epochs: SharedEpochs, handle: Callable[[str], None]) -> None:
        self._epochs = epochs
        self._handle = handle
        self._seen = epochs.read()
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        """Takes every change announced since the last look (before a request is served)."""
        current = self._epochs.read()
        if current == self._seen:
            return
        with self._lock:
            for name, value in sorted(current.items()):
                if self._seen.get(name) != value:
                    log.info("taking the change announced as %s (epoch %d)", name, value)
                    self._handle(name)
                    self._seen[name] = value
