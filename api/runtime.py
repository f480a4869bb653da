"""The moving parts of `digione serve`: the broker, the relay, the projection runner and the
retention schedule, built by the composition root and started and stopped together.

With DIGIONE_KAFKA_BOOTSTRAP unset, the embedded broker (Tansu, in memory) runs as a child
process on a loopback port chosen when the system is built, and stops with the runtime;
with it set, that cluster is used and nothing else is started.
"""

from __future__ import annotations

import logging
import threading

from api.tenants import Tenants
from projections.runner import ProjectionRunner
from streams.broker import EmbeddedBroker
from streams.relay import Relay

__all__ = ["RetentionSchedule", "Runtime"]

log = logging.getLogger(__name__)


class RetentionSchedule:
    """Shreds kept personal data whose retention has ended: at start, then every interval.

    Each shredding is an event (Erasure.RetainedDataShredded), so the schedule is auditable.
    """

    def __init__(self, tenants: Tenants, *, interval_seconds: float = 3600.0) -> None:
        self._tenants = tenants
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[tuple[str, str, str]]:
        """Shreds what is due in every tenant; (tenant, subject, retention class) of each."""
        done = []
        for tenant in self._tenants.ids():
            for subject, retention_class in self._tenants.get(tenant).run_retention():
                log.info(
                    "retention ended: shredded %s data of %s in %s",
                    retention_class,
                    subject,
                    tenant,
                )
                done.append((tenant, subject, retention_class))
        return done

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="digione-retention", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("the retention run failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class Runtime:
    """Starts and stops the broker (when embedded), the relay, the runner and retention."""

    def __init__(
        self,
        *,
        tenants: Tenants,
        bootstrap: str,
        broker: EmbeddedBroker | None,
        relay: Relay,
        runner: ProjectionRunner,
        retention: RetentionSchedule,
    ) -> None:
        self._tenants = tenants
        #: The Kafka bootstrap address the relay publishes to and the runner reads from.
        self.bootstrap = bootstrap
        self.broker = broker
        self.relay = relay
        self.runner = runner
        self.retention = retention
        self._started = False
        self._listening = False

    @property
    def started(self) -> bool:
        """Whether start() ran and stop() has not: /healthz reports the relay only then."""
        return self._started

    def start(self) -> None:
        """Starts the broker if embedded, then the relay, the runner and retention."""
        if self._started:
            return
        if self.broker is not None:
            self.broker.start()
            log.info("embedded broker listening on %s", self.bootstrap)
        if not self._listening:
            # After a command is saved the relay is woken, so it publishes within milliseconds.
            self._tenants.add_save_listener(lambda _position: self.relay.wake())
            self._listening = True
        self.relay.start()
        self.runner.start()
        self.retention.start()
        self._started = True

    def stop(self) -> None:
        """Stops everything start() started, in the reverse order; harmless when stopped."""
        if not self._started:
            return
        self._started = False
        self.retention.stop()
        self.runner.stop()
        self.relay.stop()
        self.runner.close()
        if self.broker is not None:
            self.broker.stop()
