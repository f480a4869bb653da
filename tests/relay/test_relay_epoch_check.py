"""The relay's periodic broker-epoch check runs beside publishing: a slow check holds up no
batch, and what it finds is taken up by the next batch."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import Engine

from api.bootstrap import Container
from domain.application import TenantApplication
from streams.broker import EmbeddedBroker
from streams.broker_epoch import BrokerEpochMarker, control_topic
from streams.kafka_transport import (
    DeliveryCallback,
    KafkaPythonTransport,
    OutgoingMessage,
    ensure_topics,
)
from streams.positions import published_state
from streams.relay import Relay
from tests.relay.conftest import FAST, RelayFactory, quick_transport
from tests.relay.support import some_orgs, wait_until

pytestmark = [
    pytest.mark.broker,
    pytest.mark.postgres,
    pytest.mark.parametrize("backend", ["postgres"], indirect=True),
]


class SlowMarker:
    """The broker's real marker, whose reads off the publishing thread (the background
    checks) wait until `released` (a check that takes long); every read answers `lost_epoch`
    instead once that is set (a broker that lost its data and has a new marker)."""

    def __init__(self, marker: BrokerEpochMarker) -> None:
        self._marker = marker
        self.background_reads = 0
        self.released = threading.Event()
        self.lost_epoch: str | None = None

    def read(self) -> str | None:
        if threading.current_thread() is not threading.main_thread():
            self.background_reads += 1
            self.released.wait(timeout=60)
        return self.lost_epoch or self._marker.read()

    def write(self) -> None:
        self._marker.write()


class EpochAtProduce(KafkaPythonTransport):
    """The real producer, noting the tenant's recorded broker epoch as each message goes:
    what a consumer reading that message at once finds it was published under."""

    def __init__(
        self, bootstrap: str, engine: Engine, tenant: str, epochs: list[str | None]
    ) -> None:
        super().__init__(bootstrap, delivery_timeout_seconds=5.0, request_timeout_seconds=2.0)
        self._engine = engine
        self._tenant = tenant
        self.epochs = epochs

    def produce(self, message: OutgoingMessage, token: int, on_delivery: DeliveryCallback) -> None:
        with self._engine.connect() as connection:
            self.epochs.append(published_state(connection, self._tenant).broker_epoch)
        super().produce(message, token, on_delivery)


@pytest.fixture
def slow_marker(shared_broker: EmbeddedBroker, topic_prefix: str) -> SlowMarker:
    return SlowMarker(
        BrokerEpochMarker(
            bootstrap=shared_broker.bootstrap,
            topic_prefix=topic_prefix,
            transport_factory=lambda: quick_transport(shared_broker.bootstrap),
            timeout_seconds=5.0,
        )
    )


@pytest.fixture
def relay(shared_broker: EmbeddedBroker, relay_for: RelayFactory, slow_marker: SlowMarker) -> Relay:
    """A relay that finds a broker check due before every batch, with the slow marker."""
    return relay_for(
        shared_broker.bootstrap, epoch_marker=slow_marker, epoch_check_seconds=0.0, batch_size=2
    )


def test_a_slow_periodic_epoch_check_holds_up_no_batch(
    app: TenantApplication, tenant: str, relay: Relay, slow_marker: SlowMarker
) -> None:
    first = some_orgs(app, 2)
    relay.run_once()  # verifies the epoch first, then publishes
    head = some_orgs(app, 8)

    published = relay.run_once()  # every batch finds a check due; one runs, held

    assert published == head - first
    assert relay.status()[tenant]["lag"] == 0
    assert not slow_marker.released.is_set()
    wait_until(
        lambda: slow_marker.background_reads == 1, timeout=10, what="the one background check"
    )
    slow_marker.released.set()


def test_an_epoch_change_found_in_the_background_has_everything_published_again(
    app: TenantApplication,
    tenant: str,
    container: Container,
    relay: Relay,
    slow_marker: SlowMarker,
) -> None:
    slow_marker.released.set()
    head = some_orgs(app, 4)
    relay.run_once()
    republished: list[int] = []

    slow_marker.lost_epoch = "a-broker-that-lost-its-data"

    def epoch_taken_up() -> bool:
        some_orgs(app, 4, renamed=True)  # something to publish, so a batch takes it up
        republished.append(relay.run_once())
        with container.engine.connect() as connection:
            return published_state(connection, tenant).broker_epoch == slow_marker.lost_epoch

    wait_until(epoch_taken_up, timeout=30, what="the relay to take up the new epoch")
    assert sum(republished) >= head
    assert relay.status()[tenant]["lag"] == 0


def test_a_tenants_first_events_go_out_under_the_epoch_already_recorded_for_them(
    container: Container,
    app: TenantApplication,
    tenant: str,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
) -> None:
    """A consumer may read a tenant's first message before the relay records its
    acknowledgement; the epoch it checks the message against is there already, so it never
    sees one appear later and read the partition again from its beginning (a service would
    receive those events twice)."""
    head = some_orgs(app, 3)
    epochs: list[str | None] = []
    relay = relay_for(
        shared_broker.bootstrap,
        transport_factory=lambda: EpochAtProduce(
            shared_broker.bootstrap, container.engine, tenant, epochs
        ),
    )

    relay.run_once()

    with container.engine.connect() as connection:
        published = published_state(connection, tenant)
    assert published.position == head
    assert published.broker_epoch is not None
    assert epochs == [published.broker_epoch] * head


def test_a_relay_finding_its_control_topic_without_a_marker_writes_one_and_publishes(
    app: TenantApplication,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
) -> None:
    """A relay stopped between creating the control topic and writing its marker leaves the
    topic empty; the next one writes the marker and publishes."""
    ensure_topics(shared_broker.bootstrap, [control_topic(topic_prefix)], 1, timeout_seconds=5.0)
    head = some_orgs(app, 2)

    # The relay waits its broker timeout for the empty topic's marker: the short one.
    relay = relay_for(
        shared_broker.bootstrap, broker_timeout_seconds=FAST["broker_timeout_seconds"]
    )
    assert relay.run_once() == head
