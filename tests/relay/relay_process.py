"""A relay in a process of its own, built as the system builds it, for tests that kill it.

    python -m tests.relay.relay_process --data-dir DIR --bootstrap HOST:PORT \
        --topic-prefix P --partitions N --batch-size B [--database-url URL] [--tenant T]…
        [--produce-delay-seconds S]

Runs until killed; prints "relay running" once its thread is started. A produce delay
slows the relay down enough for a test to kill it mid-stream (it streams hundreds of
events within the test's polling interval otherwise).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from api.bootstrap import bootstrap
from api.settings import Settings
from domain.application import TenantApplication
from streams.codec import EventCodec
from streams.kafka_transport import DeliveryCallback, KafkaPythonTransport, OutgoingMessage
from streams.relay import Relay
from streams.schemas import default_registry


class _Listed:
    """The registry narrowed to the tenants named on the command line."""

    def __init__(self, tenants: object, names: list[str]) -> None:
        self._tenants = tenants
        self._names = names

    def ids(self) -> list[str]:
        return list(self._names)

    def get(self, tenant: str) -> TenantApplication:
        return self._tenants.get(tenant)  # type: ignore[attr-defined, no-any-return]


class _Slowed(KafkaPythonTransport):
    """A transport that waits before queueing each message."""

    delay_seconds = 0.0

    def produce(self, message: OutgoingMessage, token: int, on_delivery: DeliveryCallback) -> None:
        time.sleep(self.delay_seconds)
        super().produce(message, token, on_delivery)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--tenant", action="append", default=[])
    parser.add_argument("--produce-delay-seconds", type=float, default=0.0)
    arguments = parser.parse_args(argv)
    _Slowed.delay_seconds = arguments.produce_delay_seconds

    settings = Settings.explicit(
        database_url=arguments.database_url,
        data_dir=arguments.data_dir,
        kafka_bootstrap=arguments.bootstrap,
        topic_prefix=arguments.topic_prefix,
    )
    container = bootstrap(settings)
    broker = settings.kafka_bootstrap
    assert broker is not None
    relay = Relay(
        tenants=_Listed(container.tenants, arguments.tenant)
        if arguments.tenant
        else container.tenants,
        engine=container.engine,
        codec=EventCodec(
            default_registry(), topic_prefix=settings.topic_prefix, partitions=arguments.partitions
        ),
        transport_factory=lambda: _Slowed(
            broker, delivery_timeout_seconds=5.0, request_timeout_seconds=2.0
        ),
        bootstrap=broker,
        topic_prefix=settings.topic_prefix,
        partitions=arguments.partitions,
        batch_size=arguments.batch_size,
        idle_poll_seconds=0.1,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    relay.start()
    print("relay running", flush=True)
    stopped.wait()
    relay.stop()
    container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
