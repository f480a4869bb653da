"""The broker epoch marker: how the relay tells a broker that lost its data from one that did not.

The first relay that finds the control topic `{prefix}._relay.v1` missing or empty writes a
marker holding a random epoch id into it; the epoch is whatever the topic's first message
says. A broker whose first control message carries another epoch, or none, holds none of
what was published before (streams/relay.py explains what the relay does then). Offsets are
never consulted: they are not comparable across brokers, and Tansu's reported end offsets
can fall short (DESIGN.md).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import kafka.errors
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from streams.kafka_transport import EventTransport, OutgoingMessage, ensure_topics

__all__ = [
    "BrokerEpochMarker",
    "BrokerUnavailableError",
    "ControlTopicCorruptError",
    "MarkerNotReadError",
    "control_topic",
]

MARKER_KEY: Final = b"broker-epoch"
# The marker must outlive any retention policy: on Apache Kafka the default (7 days) would
# delete it, and the relay would take a healthy broker for an emptied one every week.
CONTROL_TOPIC_CONFIGS: Final = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "retention.bytes": "-1",
}


class BrokerUnavailableError(RuntimeError):
    """Raised when the broker cannot be reached, or does not answer within the timeout."""


class MarkerNotReadError(BrokerUnavailableError):
    """Raised when the control topic exists but no message of it was read within the
    timeout: a slow broker, or a marker never written (a relay stopped between creating the
    topic and writing to it); either way not a broker that lost its data."""


class ControlTopicCorruptError(RuntimeError):
    """Raised when the first message of the relay's control topic is not a relay marker."""


def control_topic(prefix: str) -> str:
    """The relay's control topic, whose first message names the broker epoch."""
    return f"{prefix}._relay.v1"


class BrokerEpochMarker:
    """Reads and writes the epoch marker of one broker, each call bounded by a timeout."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic_prefix: str,
        transport_factory: Callable[[], EventTransport],
        timeout_seconds: float,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = control_topic(topic_prefix)
        self._transport_factory = transport_factory
        self._timeout_seconds = timeout_seconds

    @property
    def topic(self) -> str:
        return self._topic

    def write(self) -> None:
        """Writes a new marker (a random epoch id) to the control topic, creating it."""
        ensure_topics(
            self._bootstrap,
            [self._topic],
            1,
            configs=CONTROL_TOPIC_CONFIGS,
            timeout_seconds=self._timeout_seconds,
        )
        marker = {"epoch": uuid.uuid4().hex, "written_at": datetime.now(UTC).isoformat()}
        # A producer of its own, closed at once: the marker is written once per broker, and
        # kafka-python 3.0 keeps an emptied batch queue for every partition a producer ever
        # sent to; when its metadata stops tracking the control topic, that queue's unknown
        # leader has the sender thread request metadata in a busy loop (a core, while idle).
        transport = self._transport_factory()
        try:
            transport.publish(
                [
                    OutgoingMessage(
                        topic=self._topic,
                        key=MARKER_KEY,
                        value=json.dumps(marker).encode(),
                        partition=0,
                    )
                ]
            )
        finally:
            transport.close()

    def read(self) -> str | None:
        """The epoch in the control topic's first message; None if the topic is missing.
        MarkerNotReadError when it exists but no message of it came within the timeout."""
        timeout_ms = max(int(self._timeout_seconds * 1000), 1)
        # Whether the topic exists is asked of an admin client, whose requests time out:
        # KafkaConsumer.partitions_for_topic waits for a metadata refresh without any
        # deadline (kafka-python 3.0 awaits it with timeout None), and against a broker
        # that went away and came back that wait can last for ever, with the relay
        # holding its pass and /healthz seeing no error.
        if not self._topic_exists(timeout_ms):
            return None
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id="digione-relay-epoch",
                group_id=None,
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=100,
                bootstrap_timeout_ms=timeout_ms,
                request_timeout_ms=max(timeout_ms, 1000),
            )
        except kafka.errors.KafkaError as error:
            raise BrokerUnavailableError(
                f"no broker answered at {self._bootstrap} within "
                f"{self._timeout_seconds:g} s ({error})"
            ) from error
        try:
            partition = TopicPartition(self._topic, 0)
            consumer.assign([partition])
            consumer.seek_to_beginning(partition)
            deadline = time.monotonic() + self._timeout_seconds
            while (left := deadline - time.monotonic()) > 0:
                polled = consumer.poll(
                    timeout_ms=max(1, int(min(left, 0.25) * 1000)), max_records=1
                )
                for records in polled.values():
                    return epoch_of(records[0].value, self._topic)
            raise MarkerNotReadError(
                f"the broker at {self._bootstrap} has the control topic {self._topic} but "
                f"gave none of its messages within {self._timeout_seconds:g} s"
            )
        finally:
            consumer.close(autocommit=False, timeout_ms=timeout_ms)

    def _topic_exists(self, timeout_ms: int) -> bool:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self._bootstrap,
                client_id="digione-relay-epoch",
                request_timeout_ms=max(timeout_ms, 1000),
                bootstrap_timeout_ms=timeout_ms,
            )
        except kafka.errors.KafkaError as error:
            raise BrokerUnavailableError(
                f"no broker answered at {self._bootstrap} within "
                f"{self._timeout_seconds:g} s ({error})"
            ) from error
        try:
            return self._topic in set(admin.list_topics())
        except kafka.errors.KafkaError as error:
            raise BrokerUnavailableError(
                f"the broker at {self._bootstrap} did not list its topics within "
                f"{self._timeout_seconds:g} s ({error})"
            ) from error
        finally:
            admin.close()


def epoch_of(value: bytes | None, topic: str) -> str:
    """The epoch id a marker message holds; ControlTopicCorruptError when it holds none."""
    try:
        epoch = json.loads(value or b"")["epoch"]
    except (ValueError, KeyError, TypeError):
        epoch = None
    if not isinstance(epoch, str) or not epoch:
        raise ControlTopicCorruptError(
            f"the first message of {topic} is not a relay marker; that topic belongs to the "
            "relay: delete it, and the relay publishes everything again"
        )
    return epoch
