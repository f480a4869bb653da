"""The relay rides out a broker that stops, and repairs one that comes back empty."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.application import TenantApplication
from streams.broker import EmbeddedBroker
from streams.broker_epoch import BrokerEpochMarker, MarkerNotReadError
from streams.kafka_transport import (
    ConfluentKafkaTransport,
    DeliveryCallback,
    OutgoingMessage,
)
from streams.relay import EPOCH_CHECK_SECONDS
from tests.broker_restarts import restarted_empty
from tests.relay.conftest import RelayFactory
from tests.relay.support import positions_of, read_until, some_orgs, tenant_topics, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


class SlowFromNextSend:
    """Once armed, the broker pauses as the relay produces its next message, for `seconds`,
    and meanwhile gives its epoch marker not in time. Its real marker otherwise (once armed,
    as read then: a read of the broker itself could straddle the pause), and what the
    relay's producer hooks on every message."""

    def __init__(self, broker: EmbeddedBroker, marker: BrokerEpochMarker, seconds: float):
        self._pid = broker.pid
        self._marker = marker
        self._seconds = seconds
        self._armed = threading.Event()
        self._slow = threading.Event()
        self._answering: threading.Timer | None = None
        self._epoch_when_armed: str | None = None
        self.slow_reads = 0

    def arm(self) -> None:
        self._epoch_when_armed = self._marker.read()
        self._armed.set()

    def before_send(self) -> None:
        if self._armed.is_set() and self._pid is not None:
            self._armed.clear()
            self._slow.set()
            os.kill(self._pid, signal.SIGSTOP)
            self._answering = threading.Timer(self._seconds, self._answer)
            self._answering.start()

    def _answer(self) -> None:
        assert self._pid is not None
        os.kill(self._pid, signal.SIGCONT)
        self._slow.clear()

    def answered(self) -> bool:
        if self._answering is not None:
            self._answering.join()
        return self._answering is not None

    def read(self) -> str | None:
        if self._slow.is_set():
            self.slow_reads += 1
            raise MarkerNotReadError("the control topic gave no message in time")
        return self._epoch_when_armed or self._marker.read()

    def write(self) -> None:
        self._marker.write()


class HookedProducer(ConfluentKafkaTransport):
    """The real producer, calling `before_send` as each message goes."""

    def __init__(self, bootstrap: str, before_send: Callable[[], None]) -> None:
        super().__init__(bootstrap, delivery_timeout_seconds=120.0, request_timeout_seconds=30.0)
        self._before_send = before_send

    def produce(self, message: OutgoingMessage, token: int, on_delivery: DeliveryCallback) -> None:
        self._before_send()
        super().produce(message, token, on_delivery)


def everything_up_to(head: int):  # type: ignore[no-untyped-def]
    return lambda messages: positions_of(messages) >= set(range(1, head + 1))


def test_a_broker_restarted_empty_gets_every_event_again(
    app: TenantApplication,
    tenant: str,
    own_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    head = some_orgs(app, 10, renamed=True)
    relay = relay_for(own_broker.bootstrap)
    relay.start()
    wait_until(
        lambda: relay.status()[tenant]["published"] == head,
        timeout=15,
        what="the first publication",
    )

    broker = restarted_empty(own_broker, tmp_path / "broker-again")
    try:
        messages = read_until(
            broker.bootstrap,
            tenant_topics(topic_prefix, tenant),
            everything_up_to(head),
            timeout=20,
        )
        wait_until(lambda: relay.status()[tenant]["lag"] == 0, timeout=10, what="no lag")
    finally:
        relay.stop()
        broker.stop()

    assert positions_of(messages) == set(range(1, head + 1))


def test_an_event_sent_toward_a_broker_restarted_empty_is_published_again_before_it_times_out(
    app: TenantApplication,
    tenant: str,
    own_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    """librdkafka holds a message sent toward a broker restarted empty for about 30 s: the
    relay, finding the broker's epoch changed while the message waits, gives it up and
    publishes every event again to the new broker before that."""
    first = some_orgs(app, 3)
    bootstrap = own_broker.bootstrap
    relay = relay_for(
        bootstrap,
        transport_factory=lambda: ConfluentKafkaTransport(
            bootstrap, delivery_timeout_seconds=120.0, request_timeout_seconds=2.0
        ),
        # serve's: no periodic check comes between the restart and the next event's send.
        epoch_check_seconds=EPOCH_CHECK_SECONDS,
    )
    relay.start()
    wait_until(lambda: relay.status()[tenant]["published"] == first, timeout=15, what="publication")

    broker = restarted_empty(own_broker, tmp_path / "broker-again")
    try:
        head = some_orgs(app, 4)
        relay.wake()
        # Without giving up on it, librdkafka fails the message after about 30 s, and only
        # then does the relay publish again.
        wait_until(
            lambda: relay.status()[tenant]["published"] == head,
            timeout=25,
            what="every event published to the new broker before librdkafka gave up on it",
        )
        messages = read_until(
            bootstrap, tenant_topics(topic_prefix, tenant), everything_up_to(head), timeout=20
        )
    finally:
        relay.stop()
        broker.stop()

    assert head > first
    assert positions_of(messages) == set(range(1, head + 1))


def test_events_awaiting_a_slow_brokers_acknowledgement_are_not_taken_for_lost(
    app: TenantApplication,
    tenant: str,
    own_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker that stops answering for a while (paused here) and then gives no epoch
    marker in time is slow, not emptied: the relay leaves its events to the producer, which
    delivers them once it answers, instead of giving them up and publishing them twice."""
    bootstrap = own_broker.bootstrap
    slow = SlowFromNextSend(
        own_broker,
        BrokerEpochMarker(
            bootstrap=bootstrap,
            topic_prefix=topic_prefix,
            transport_factory=lambda: ConfluentKafkaTransport(bootstrap),
            timeout_seconds=2.0,
        ),
        seconds=5.0,
    )
    relay = relay_for(
        bootstrap,
        transport_factory=lambda: HookedProducer(bootstrap, slow.before_send),
        epoch_marker=slow,
        epoch_check_seconds=1.0,
    )
    first = some_orgs(app, 2)
    assert relay.run_once() == first
    head = some_orgs(app, 3)

    slow.arm()
    try:
        with caplog.at_level(logging.INFO, logger="streams.relay"):
            published = relay.run_once()
    finally:
        paused = slow.answered()
    messages = read_until(
        bootstrap, tenant_topics(topic_prefix, tenant), everything_up_to(head), timeout=20
    )

    assert paused and slow.slow_reads >= 1
    assert published == head - first
    assert not [r.getMessage() for r in caplog.records if "lost its data" in r.getMessage()]
    assert sorted(int(m.header("position") or b"0") for m in messages) == list(range(1, head + 1))


def test_with_the_broker_down_commands_succeed_and_the_lag_shows_until_it_returns(
    app: TenantApplication,
    tenant: str,
    own_broker: EmbeddedBroker,
    relay_for: RelayFactory,
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    first = some_orgs(app, 3)
    relay = relay_for(own_broker.bootstrap)
    relay.start()
    wait_until(
        lambda: relay.status()[tenant]["published"] == first,
        timeout=15,
        what="the first publication",
    )
    port = own_broker.port
    own_broker.stop()

    some_orgs(app, 6)
    relay.wake()
    wait_until(
        lambda: relay.status()[tenant]["state"] == "retrying",
        timeout=15,
        what="the relay to report retrying",
    )
    retrying = relay.status()[tenant]
    head = some_orgs(app, 9)
    later = relay.status()[tenant]

    assert retrying["lag"] >= 3 and retrying["last_error"]
    assert later["lag"] > retrying["lag"] and later["head"] == head

    broker = EmbeddedBroker(tmp_path / "broker-again", port=port)
    broker.start()
    try:
        wait_until(
            lambda: (
                relay.status()[tenant]
                == {
                    "published": head,
                    "head": head,
                    "lag": 0,
                    "state": "ok",
                    "last_error": None,
                    "since": None,
                    "parked": 0,
                    "oldest_parked": None,
                }
            ),
            timeout=20,
            what="the relay to catch up",
        )
        messages = read_until(
            broker.bootstrap,
            tenant_topics(topic_prefix, tenant),
            everything_up_to(head),
            timeout=20,
        )
    finally:
        relay.stop()
        broker.stop()
    assert positions_of(messages) == set(range(1, head + 1))
