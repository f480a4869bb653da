"""Fixtures of the relay tests: a shared broker, relays built like the real one, cleanup."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.bootstrap import Container
from api.bootstrap import bootstrap as bootstrap_system
from api.settings import Settings
from streams.broker import EmbeddedBroker
from streams.codec import EventCodec
from streams.kafka_transport import KafkaPythonTransport
from streams.positions import relay_partition_positions, relay_positions
from streams.relay import Relay
from streams.schemas import default_registry
from tests.relay.support import OnlyTenant

PARTITIONS = 3

#: A relay that notices trouble fast: the tests stop brokers and wait for the repair.
#: Its 2 s broker timeout is for a broker a test stops (`own_broker`): on the shared broker,
#: which stays up, a slow host's topic listing took longer, and the relay's pass published
#: nothing. A relay on a broker that stays up waits STEADY_BROKER_TIMEOUT_SECONDS instead;
#: the bound costs nothing while the broker answers.
FAST = {
    "idle_poll_seconds": 0.2,
    "epoch_check_seconds": 0.5,
    "broker_timeout_seconds": 2.0,
    "min_backoff_seconds": 0.1,
    "max_backoff_seconds": 1.0,
}
STEADY_BROKER_TIMEOUT_SECONDS = 15.0


@pytest.fixture(scope="session")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A broker for tests that neither stop nor restart it; each uses topics of its own."""
    broker = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test alone, which it may stop and start again on the same port."""
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """Topics of this test alone, the relay's control topic included."""
    return "rt" + uuid.uuid4().hex[:10]


def quick_transport(bootstrap: str) -> KafkaPythonTransport:
    return KafkaPythonTransport(
        bootstrap, delivery_timeout_seconds=5.0, request_timeout_seconds=2.0
    )


RelayFactory = Callable[..., Relay]
ServerFactory = Callable[..., Container]


@pytest.fixture
def serve(settings: Settings) -> Iterator[ServerFactory]:
    """Builds and starts the composition `digione serve` runs (relay, projection runner)
    on a given broker, serving only the given tenants, with topics of its own; stops them."""
    built: list[Container] = []

    def build(bootstrap: str, tenants: set[str], **values: object) -> Container:
        explicit = settings.model_dump()
        explicit.update(
            kafka_bootstrap=bootstrap,
            topic_prefix="st" + uuid.uuid4().hex[:10],
            only_tenants=frozenset(tenants),
            # The relay and the runner run in this process (runtime.start() below), as
            # `serve` without its worker process runs them: the connections are planned
            # so. Planned for a worker process elsewhere, their pool was the one kept for
            # the relay's status, and a CI run's status look found both connections held.
            worker_process=False,
            **values,
        )
        server = bootstrap_system(Settings.explicit(**explicit))
        built.append(server)
        server.runtime.start()
        return server

    yield build
    for server in built:
        server.close()


@pytest.fixture
def relay_for(
    request: pytest.FixtureRequest, container: Container, tenant: str, topic_prefix: str
) -> Iterator[RelayFactory]:
    """Builds relays of the test's tenant to a given bootstrap; stops them and forgets the
    tenant's relay positions afterwards. A test without a broker of its own (one it may
    stop) gets the steady broker timeout."""
    built: list[Relay] = []
    stops_brokers = "own_broker" in request.fixturenames

    def build(bootstrap: str, **options: object) -> Relay:
        settings: dict[str, object] = {
            "transport_factory": lambda: quick_transport(bootstrap),
            **FAST,
            **({} if stops_brokers else {"broker_timeout_seconds": STEADY_BROKER_TIMEOUT_SECONDS}),
            **options,
        }
        relay = Relay(
            tenants=settings.pop("tenants", OnlyTenant(container.tenants, tenant)),  # type: ignore[arg-type]
            engine=container.engine,
            codec=EventCodec(default_registry(), topic_prefix=topic_prefix, partitions=PARTITIONS),
            bootstrap=bootstrap,
            topic_prefix=topic_prefix,
            partitions=PARTITIONS,
            **settings,  # type: ignore[arg-type]
        )
        built.append(relay)
        return relay

    yield build
    for relay in built:
        relay.stop()
    with container.engine.begin() as connection:
        for table in (relay_positions, relay_partition_positions):
            connection.execute(sa.delete(table).where(table.c.tenant == tenant))
