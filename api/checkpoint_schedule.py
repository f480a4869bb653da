"""Signs each tenant's ledger head periodically and publishes the checkpoints on Kafka.

The checkpoints go to `{prefix}.{tenant}.ledger.v1` (JSON, one message per checkpoint,
keyed by the tenant), so copies exist outside the database: someone who rewrites the
database cannot rewrite what the brokers and their consumers already hold.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from api.tenants import Tenants
from domain.ledger_checkpoints import Checkpoint
from streams.kafka_transport import EventTransport, OutgoingMessage, ensure_topics

log = logging.getLogger(__name__)

__all__ = ["CheckpointSchedule", "ledger_topic"]


def ledger_topic(prefix: str, tenant: str) -> str:
    """The topic of a tenant's signed ledger checkpoints."""
    return f"{prefix}.{tenant}.ledger.v1"


class CheckpointSchedule:
    """Every interval (and at start): each tenant's new checkpoint, then every checkpoint
    not yet published, published and marked so (a failed publication is retried on the
    next run)."""

    def __init__(
        self,
        tenants: Tenants,
        *,
        bootstrap: str,
        topic_prefix: str,
        transport_factory: Callable[[], EventTransport],
        interval_seconds: float = 60.0,
    ) -> None:
        self._tenants = tenants
        self._bootstrap = bootstrap
        self._prefix = topic_prefix
        self._transport_factory = transport_factory
        self._interval = interval_seconds
        self._topics: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> list[Checkpoint]:
        """Signs and publishes what is due in every tenant; the checkpoints published."""
        published: list[Checkpoint] = []
        transport: EventTransport | None = None
        try:
            for tenant in self._tenants.ids():
                app = self._tenants.get(tenant)
                app.checkpoint()
                due = app.tables.checkpoints(tenant, unpublished=True)
                if not due:
                    continue
                topic = ledger_topic(self._prefix, tenant)
                if topic not in self._topics:
                    ensure_topics(self._bootstrap, [topic], partitions=1)
                    self._topics.add(topic)
                if transport is None:
                    transport = self._transport_factory()
                transport.publish(
                    [
                        OutgoingMessage(
                            topic=topic,
                            key=tenant.encode(),
                            value=json.dumps(c.as_dict(), sort_keys=True).encode(),
                            headers=(("content-type", b"application/json"),),
                        )
                        for c in due
                    ]
                )
                app.tables.mark_checkpoints_published(c.position for c in due)
                published.extend(due)
        finally:
            if transport is not None:
                transport.close()
        return published

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="digione-ledger-checkpoints", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("signing or publishing the ledger checkpoints failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
