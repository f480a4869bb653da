"""The moving parts of `digione serve`: the broker, the relay and the projection runner.

With DIGIONE_KAFKA_BOOTSTRAP unset, the embedded broker (Tansu, in memory) is started as a
child process on a free loopback port and stopped on exit; with it set, that cluster is
used and nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from api.bootstrap import Container
from projections.catalogue import all_projections
from projections.runner import ProjectionRunner
from streams.broker import EmbeddedBroker
from streams.codec import EventCodec
from streams.kafka_transport import ConfluentKafkaTransport, EventTransport, KafkaPythonTransport
from streams.relay import Relay
from streams.schemas import default_registry

log = logging.getLogger(__name__)


class RetentionScheduler:
    """Shreds kept personal data whose retention has ended: at start, then every interval.

    Each shredding is an event (Erasure.RetainedDataShredded), so the schedule is auditable.
    """

    def __init__(self, container: Container, *, interval_seconds: float = 3600.0) -> None:
        self._container = container
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[tuple[str, str, str]]:
        done = []
        for tenant in self._container.tenants.ids():
            for subject, retention_class in self._container.tenants.get(tenant).run_retention():
                log.info("retention ended: shredded %s data of %s in %s", retention_class,
                         subject, tenant)
                done.append((tenant, subject, retention_class))
        return done

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="digione-retention", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the next round tries again; the error is in the log
                log.exception("the retention run failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class StreamsRuntime:
    """Starts and stops the broker (when embedded), the relay and the projection runner."""

    def __init__(self, container: Container) -> None:
        settings = container.settings
        self._container = container
        self._broker: EmbeddedBroker | None = None
        if settings.kafka_bootstrap:
            self.bootstrap = settings.kafka_bootstrap
        else:
            self._broker = EmbeddedBroker(log_dir=settings.data_dir / "broker")
            self._broker.start()
            self.bootstrap = self._broker.bootstrap
            log.info("embedded broker listening on %s", self.bootstrap)
        codec = EventCodec(
            default_registry(), topic_prefix=settings.topic_prefix, partitions=settings.partitions
        )
        self.relay = Relay(
            tenants=container.tenants,
            engine=container.engine,
            codec=codec,
            transport_factory=self._transport_factory(),
            bootstrap=self.bootstrap,
            topic_prefix=settings.topic_prefix,
            partitions=settings.partitions,
        )
        self.retention = RetentionScheduler(container)
        self.runner = ProjectionRunner(
            engine=container.engine,
            projections=all_projections(),
            codec=codec,
            bootstrap=self.bootstrap,
            topic_prefix=settings.topic_prefix,
            tenant_ids=container.tenants.ids,
            # New tenants' topics are found on refresh: often enough that a new
            # municipality's first events show within a couple of seconds.
            refresh_seconds=1.0,
        )

    def _transport_factory(self) -> Callable[[], EventTransport]:
        settings = self._container.settings
        # A publish into a dead broker must give up well before the default two minutes,
        # so the relay's back-off, not a blocked call, decides when to try again.
        timeouts: dict[str, Any] = {"delivery_timeout_seconds": 30.0, "request_timeout_seconds": 10.0}
        if settings.kafka_client == "confluent-kafka":
            return lambda: ConfluentKafkaTransport(self.bootstrap, **timeouts)
        return lambda: KafkaPythonTransport(self.bootstrap, **timeouts)

    def start(self) -> None:
        # After a command is saved the relay is woken, so it publishes within milliseconds.
        self._container.tenants.add_save_listener(lambda _position: self.relay.wake())
        self.relay.start()
        self.runner.start()
        self.retention.start()

    def stop(self) -> None:
        self.retention.stop()
        self.runner.stop()
        self.relay.stop()
        self.runner.close()
        if self._broker is not None:
            self._broker.stop()
