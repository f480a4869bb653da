"""Integration tests of the kafka-python transport against the real embedded broker."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import fastavro
import kafka.errors
import pytest
from fastavro.types import Schema
from kafka import KafkaAdminClient

from streams.avro_encoding import decode, encode, resolver_for
from streams.broker import EmbeddedBroker
from streams.kafka_transport import (
    LIBRDKAFKA_LOG,
    ConfluentKafkaTransport,
    EventTransport,
    InvalidTopicSpecError,
    KafkaPythonReader,
    KafkaPythonTransport,
    MessageRefusedError,
    OutgoingMessage,
    ReceivedMessage,
    TopicNotFoundError,
    ensure_topics,
    read_topic,
)
from tests.broker_restarts import restarted_empty

pytestmark = pytest.mark.broker

SILENCE_SECONDS = 0.75
#: How long an idle producer is watched for requests it should not be sending.
IDLE_WATCH_SECONDS = 1.5
EVENT_SCHEMA: Schema = fastavro.parse_schema(
    {
        "type": "record",
        "name": "fi.digione.test.AttainmentRecorded",
        "fields": [
            {"name": "student", "type": "string"},
            {"name": "objective", "type": "string"},
            {"name": "level", "type": "int"},
            {"name": "sequence", "type": "long"},
        ],
    }
)


def a_topic_name() -> str:
    return f"digione.test.{uuid.uuid4().hex[:12]}.attainment.v1"


def relay_messages(topic: str, *, count: int, keys: int) -> list[OutgoingMessage]:
    """Messages as the relay writes them: aggregate keys, encoded values, four headers."""
    messages = []
    for position in range(1, count + 1):
        student = f"stu-{position % keys}"
        value = encode(
            EVENT_SCHEMA,
            {
                "student": student,
                "objective": "MA-T3",
                "level": position % 4 + 1,
                "sequence": position,
            },
        )
        messages.append(
            OutgoingMessage(
                topic=topic,
                key=student.encode(),
                value=value,
                headers=(
                    ("event-type", b"fi.digione.test.AttainmentRecorded"),
                    ("position", str(position).encode()),
                    ("tenant", b"vantaa"),
                    ("occurred-at", f"2025-05-28T09:{position % 60:02d}:00+00:00".encode()),
                ),
            )
        )
    return messages


def published(bootstrap: str, messages: list[OutgoingMessage]) -> None:
    transport: EventTransport = KafkaPythonTransport(bootstrap)
    try:
        transport.publish(messages)
    finally:
        transport.close()


def test_every_published_message_is_read_back_with_its_headers(
    embedded_broker: EmbeddedBroker,
) -> None:
    topic = a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [topic], partitions=3)
    sent = relay_messages(topic, count=400, keys=37)

    published(embedded_broker.bootstrap, sent)
    received = read_topic(embedded_broker.bootstrap, topic, SILENCE_SECONDS)

    by_position = {int(message.header("position") or b"0"): message for message in received}
    assert len(received) == len(sent) == len(by_position)
    for original in sent:
        arrived = by_position[int(dict(original.headers)["position"])]
        assert arrived.key == original.key
        assert arrived.value == original.value
        assert list(arrived.headers) == list(original.headers)
    assert {message.partition for message in received} == {0, 1, 2}


def test_a_topic_read_waits_for_every_message_the_broker_reports_however_short_the_silence(
    embedded_broker: EmbeddedBroker,
) -> None:
    # Under load the first fetch alone took longer than the silence, and an auditor's read
    # came back empty: the silence counts only once the reported messages are all in.
    topic = a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [topic], partitions=3)
    sent = relay_messages(topic, count=200, keys=13)
    published(embedded_broker.bootstrap, sent)

    received = read_topic(embedded_broker.bootstrap, topic, silence_seconds=0.001)

    assert len(received) == len(sent)


def test_messages_with_the_same_key_are_read_back_in_publish_order(
    embedded_broker: EmbeddedBroker,
) -> None:
    topic = a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [topic], partitions=3)
    resolve = resolver_for([EVENT_SCHEMA])

    published(embedded_broker.bootstrap, relay_messages(topic, count=300, keys=11))
    received = read_topic(embedded_broker.bootstrap, topic, SILENCE_SECONDS)

    sequences_by_student: dict[str, list[int]] = defaultdict(list)
    for message in received:
        assert message.value is not None
        event = decode(message.value, resolve)
        sequences_by_student[event["student"]].append(event["sequence"])
    assert len(sequences_by_student) == 11
    for sequences in sequences_by_student.values():
        assert sequences == sorted(sequences)


def test_messages_of_one_key_share_one_partition(embedded_broker: EmbeddedBroker) -> None:
    topic = a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [topic], partitions=3)

    published(embedded_broker.bootstrap, relay_messages(topic, count=100, keys=5))
    received = read_topic(embedded_broker.bootstrap, topic, SILENCE_SECONDS)

    partitions_by_key: dict[bytes | None, set[int]] = defaultdict(set)
    for message in received:
        partitions_by_key[message.key].add(message.partition)
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())


def test_consecutive_batches_on_one_transport_all_arrive(embedded_broker: EmbeddedBroker) -> None:
    topic = a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [topic], partitions=3)
    sent = relay_messages(topic, count=250, keys=7)

    with KafkaPythonTransport(embedded_broker.bootstrap) as transport:
        for start in range(0, len(sent), 50):
            transport.publish(sent[start : start + 50])
        transport.publish([])
    received = read_topic(embedded_broker.bootstrap, topic, SILENCE_SECONDS)

    assert sorted(message.value for message in received if message.value) == sorted(
        message.value for message in sent
    )


def test_ensure_topics_creates_missing_topics_with_the_partition_count(
    embedded_broker: EmbeddedBroker,
) -> None:
    names = [a_topic_name(), a_topic_name()]

    created = ensure_topics(embedded_broker.bootstrap, names, partitions=3)

    admin = KafkaAdminClient(bootstrap_servers=embedded_broker.bootstrap)
    try:
        described = admin.describe_topics(names)
    finally:
        admin.close()
    assert created == set(names)
    assert [len(topic["partitions"]) for topic in described] == [3, 3]


def test_ensure_topics_leaves_existing_topics_alone(embedded_broker: EmbeddedBroker) -> None:
    existing, new = a_topic_name(), a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [existing], partitions=3)

    created = ensure_topics(embedded_broker.bootstrap, [existing, new, existing], partitions=3)

    assert created == {new}


@pytest.mark.parametrize(
    ("names", "partitions"),
    [(["digione.vantaa roster.v1"], 3), ([""], 3), (["x" * 250], 3), (["a.topic"], 0)],
)
def test_topics_apache_kafka_would_refuse_are_refused_before_reaching_the_broker(
    names: list[str], partitions: int
) -> None:
    # An address nobody listens on: the check must come before any connection.
    with pytest.raises(InvalidTopicSpecError):
        ensure_topics("127.0.0.1:9", names, partitions)


def test_reading_a_topic_that_does_not_exist_is_refused(embedded_broker: EmbeddedBroker) -> None:
    with pytest.raises(TopicNotFoundError, match="ensure_topics"):
        read_topic(embedded_broker.bootstrap, a_topic_name(), SILENCE_SECONDS)


def test_reading_an_empty_topic_returns_nothing_after_the_silence(
    embedded_broker: EmbeddedBroker,
) -> None:
    topic = a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [topic], partitions=3)

    received: list[ReceivedMessage] = read_topic(embedded_broker.bootstrap, topic, 0.3)

    assert received == []


@pytest.mark.parametrize("transport", [KafkaPythonTransport, ConfluentKafkaTransport])
def test_a_message_over_the_size_limit_is_refused_alone_and_the_rest_of_the_batch_is_published(
    embedded_broker: EmbeddedBroker, transport: type[KafkaPythonTransport]
) -> None:
    topic = f"refused-{uuid.uuid4().hex[:8]}"
    ensure_topics(embedded_broker.bootstrap, [topic], 1)
    batch = [
        OutgoingMessage(topic, b"k", value, partition=0) for value in (b"a", b"x" * 50_000, b"c")
    ]
    sender = transport(
        embedded_broker.bootstrap,
        delivery_timeout_seconds=5.0,
        request_timeout_seconds=2.0,
        max_request_bytes=20_000,
    )
    try:
        with pytest.raises(MessageRefusedError) as refused:
            sender.publish(batch)
    finally:
        sender.close()

    assert list(refused.value.refused) == [1]
    assert "toolarge" in refused.value.refused[1].lower().replace(" ", "")
    assert [m.value for m in read_topic(embedded_broker.bootstrap, topic, 1.0)] == [b"a", b"c"]


@pytest.mark.parametrize("transport", [KafkaPythonTransport, ConfluentKafkaTransport])
def test_an_abandoned_producer_gives_up_a_message_for_a_broker_restarted_empty_at_once(
    tmp_path: Path, transport: type[KafkaPythonTransport]
) -> None:
    """What the relay does when the broker lost its data under messages in flight: the
    producer lets them go without waiting for their delivery timeout (two minutes here)."""
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    topic = a_topic_name()
    ensure_topics(broker.bootstrap, [topic], 1)
    sender = transport(
        broker.bootstrap, delivery_timeout_seconds=120.0, request_timeout_seconds=5.0
    )
    reports: list[tuple[int, str | None]] = []

    def delivered(token: int, _topic: str, _partition: int, error: str | None, _: bool) -> None:
        reports.append((token, error))

    sender.produce(OutgoingMessage(topic, b"k", b"before", partition=0), 1, delivered)
    assert sender.flush(10.0) == 0
    # Queued while the broker is down, on the partition the producer knows: had the new,
    # empty broker answered the producer's metadata first, the topic would be unknown and
    # the produce itself would wait for it (and fail), as it did on a loaded CI machine.
    broker = restarted_empty(
        broker,
        tmp_path / "broker-again",
        while_down=lambda: sender.produce(
            OutgoingMessage(topic, b"k", b"after", partition=0), 2, delivered
        ),
    )
    try:
        sender.poll(1.0)
        abandoning = threading.Thread(target=sender.abandon)
        abandoning.start()
        abandoning.join(timeout=10.0)
    finally:
        broker.stop()

    assert not abandoning.is_alive()
    assert reports[0] == (1, None)
    assert (2, None) not in reports


def test_librdkafkas_own_lines_reach_the_processs_log_not_raw_stderr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """serve logs JSON lines on stderr: librdkafka's words on a broker it cannot reach come
    through Python's logging (and so as JSON), not as its own raw lines."""
    broker = EmbeddedBroker(tmp_path / "gone")
    broker.start()
    address = broker.bootstrap
    broker.stop()
    sender = ConfluentKafkaTransport(
        address, delivery_timeout_seconds=5.0, request_timeout_seconds=2.0
    )
    with caplog.at_level(logging.DEBUG, logger=LIBRDKAFKA_LOG.name):
        sender.produce(OutgoingMessage("t", b"k", b"v"), 1, lambda *_: None)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and "Connection refused" not in caplog.text:
            sender.poll(0.2)  # serves librdkafka's log lines too
        sender.abandon()

    assert "Connection refused" in caplog.text
    assert "rdkafka" not in capfd.readouterr().err


def test_a_reader_asking_a_broker_that_stopped_answering_for_topics_gets_a_timeout_not_a_hang(
    tmp_path: Path,
) -> None:
    # A broker that still accepts connections but answers nothing (here: its process
    # stopped): kafka-python's own topics() would wait for metadata for ever.
    broker = EmbeddedBroker(tmp_path / "silent-broker", stop_grace_seconds=0.2)
    broker.start()
    reader = KafkaPythonReader(
        broker.bootstrap, client_id="silent-test", max_poll_records=10, fetch_wait_ms=50
    )
    outcome: list[BaseException | set[str]] = []
    try:
        reader.topics()  # answered while the broker still answers
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)

        def ask() -> None:
            try:
                outcome.append(reader.topics())
            except BaseException as error:  # noqa: BLE001 - what the caller hears is the point
                outcome.append(error)

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        asking.join(timeout=120)
    finally:
        if broker.pid is not None:
            os.kill(broker.pid, signal.SIGCONT)
        reader.close()
        broker.stop()

    assert outcome, "topics() was still waiting for a broker that does not answer"
    assert isinstance(outcome[0], kafka.errors.KafkaTimeoutError), outcome


def test_a_producer_that_published_to_a_topic_created_after_it_started_stays_quiet_when_idle(
    embedded_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # A relay's producer outlives tenants: a new tenant's topics are created while it runs.
    first, later = a_topic_name(), a_topic_name()
    ensure_topics(embedded_broker.bootstrap, [first], partitions=3)
    with KafkaPythonTransport(embedded_broker.bootstrap) as transport:
        transport.publish(relay_messages(first, count=30, keys=7))
        ensure_topics(embedded_broker.bootstrap, [later], partitions=3)
        transport.publish(relay_messages(later, count=30, keys=7))

        with caplog.at_level(logging.INFO, logger="kafka.cluster"):
            threading.Event().wait(IDLE_WATCH_SECONDS)
        refreshes = [r for r in caplog.records if r.getMessage().startswith("Updated metadata")]

    # kafka-python's own refresh is every 5 minutes; a busy loop is several a second.
    assert len(refreshes) <= 1, f"{len(refreshes)} metadata refreshes while idle"
