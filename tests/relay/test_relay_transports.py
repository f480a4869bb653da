"""The relay works the same through confluent-kafka, and the relay benchmark reports a rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.bootstrap import Container
from bench.relay import measure_relay_rate
from domain.application import TenantApplication
from streams.broker import EmbeddedBroker
from streams.kafka_transport import ConfluentKafkaTransport, OutgoingMessage, PublishFailedError
from tests.relay.conftest import RelayFactory
from tests.relay.support import positions_of, read_until, some_orgs, tenant_topics

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


def test_the_relay_publishes_through_confluent_kafka_as_well(
    app: TenantApplication,
    tenant: str,
    shared_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
) -> None:
    head = some_orgs(app, 4, renamed=True)
    bootstrap = shared_broker.bootstrap
    relay = relay_for(
        bootstrap,
        transport_factory=lambda: ConfluentKafkaTransport(
            bootstrap, delivery_timeout_seconds=5.0, request_timeout_seconds=2.0
        ),
    )

    published = relay.run_once()

    assert published == head
    messages = read_until(
        bootstrap,
        tenant_topics(topic_prefix, tenant),
        lambda received: positions_of(received) >= set(range(1, head + 1)),
        timeout=20,
    )
    by_key: dict[bytes | None, list[int]] = {}
    for message in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        by_key.setdefault(message.key, []).append(int(message.header("position") or b"0"))
    assert all(positions == sorted(positions) for positions in by_key.values())


def test_confluent_kafka_publish_fails_when_the_broker_is_gone(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    transport = ConfluentKafkaTransport(
        broker.bootstrap, delivery_timeout_seconds=2.0, request_timeout_seconds=1.0
    )
    broker.stop()

    try:
        with pytest.raises(PublishFailedError, match="not acknowledged|unacknowledged"):
            transport.publish(
                [OutgoingMessage(topic="nowhere.v1", key=b"k", value=b"v", partition=0)]
            )
    finally:
        transport.close()


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_relay_benchmark_reports_events_per_second(
    container: Container, app: TenantApplication, shared_broker: EmbeddedBroker
) -> None:
    rate, _cores = measure_relay_rate(
        app, container.engine, shared_broker.bootstrap, 300, batch_size=100
    )

    assert rate > 0
