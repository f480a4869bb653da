"""KafkaPythonReader against the real embedded broker: what the projections' and the
fan-out's consumers (streams/consumer.py) rely on of a PartitionReader."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from streams.broker import EmbeddedBroker
from streams.kafka_transport import (
    KafkaPythonReader,
    KafkaPythonTransport,
    OutgoingMessage,
    PartitionId,
    PartitionReader,
    ReceivedMessage,
    ensure_topics,
)

pytestmark = pytest.mark.broker


@pytest.fixture
def topic(embedded_broker: EmbeddedBroker) -> str:
    name = f"digione.test.{uuid.uuid4().hex[:12]}.reader.v1"
    ensure_topics(embedded_broker.bootstrap, [name], partitions=3)
    return name


@pytest.fixture
def reader_of(embedded_broker: EmbeddedBroker) -> Iterator[Callable[..., PartitionReader]]:
    """Opens readers of the test's broker."""
    opened: list[PartitionReader] = []

    def open_reader(max_poll_records: int = 500) -> PartitionReader:
        reader = KafkaPythonReader(
            embedded_broker.bootstrap,
            client_id="digione-test-reader",
            max_poll_records=max_poll_records,
            fetch_wait_ms=50,
        )
        opened.append(reader)
        return reader

    yield open_reader
    for reader in opened:
        reader.close()


def publish(bootstrap: str, topic: str, partition: int, first: int, count: int) -> None:
    """Messages numbered `first`.. to one partition, each with two headers."""
    with KafkaPythonTransport(bootstrap) as transport:
        transport.publish(
            [
                OutgoingMessage(
                    topic=topic,
                    key=f"key-{n}".encode(),
                    value=f"value-{n}".encode(),
                    headers=(("position", str(n).encode()), ("tenant", b"vantaa")),
                    partition=partition,
                )
                for n in range(first, first + count)
            ]
        )


def read(
    reader: PartitionReader, count: int, *, max_records: int | None = None
) -> dict[int, list[ReceivedMessage]]:
    """Polls until `count` messages came; each partition's, in the order they came."""
    found: dict[int, list[ReceivedMessage]] = {}
    deadline = time.monotonic() + 30
    while sum(len(m) for m in found.values()) < count:
        assert time.monotonic() < deadline, f"only {found} of {count} messages came"
        for partition, messages in reader.poll(timeout_ms=200, max_records=max_records).items():
            found.setdefault(partition.partition, []).extend(messages)
    return found


def offsets(messages: list[ReceivedMessage]) -> list[int]:
    return [m.offset for m in messages]


def test_a_reader_reads_each_assigned_partition_from_its_beginning_in_order_with_headers(
    embedded_broker: EmbeddedBroker, topic: str, reader_of: Callable[..., PartitionReader]
) -> None:
    for partition in range(3):
        publish(embedded_broker.bootstrap, topic, partition, first=partition * 100, count=20)
    reader = reader_of(max_poll_records=7)

    assert topic in reader.topics()
    assert reader.partitions_for(topic) == {0, 1, 2}
    reader.assign([PartitionId(topic, p) for p in range(3)])
    found = read(reader, 60)

    assert {p: offsets(m) for p, m in found.items()} == {p: list(range(20)) for p in range(3)}
    first = found[1][0]
    assert (first.topic, first.partition, first.key, first.value) == (
        topic,
        1,
        b"key-100",
        b"value-100",
    )
    assert first.header("position") == b"100"
    assert first.header("tenant") == b"vantaa"
    assert first.timestamp_ms > 0


def test_a_poll_hands_over_no_more_than_asked_and_does_not_wait_for_a_full_batch(
    embedded_broker: EmbeddedBroker, topic: str, reader_of: Callable[..., PartitionReader]
) -> None:
    publish(embedded_broker.bootstrap, topic, 0, first=0, count=10)
    reader = reader_of()
    reader.assign([PartitionId(topic, 0)])
    sizes: list[int] = []

    def poll_with_a_long_timeout() -> None:
        # Ten messages are there, fewer than a poll may take: they come without the wait.
        while sum(sizes) < 10:
            polled = reader.poll(timeout_ms=600_000, max_records=4)
            sizes.extend(len(messages) for messages in polled.values())

    polling = threading.Thread(target=poll_with_a_long_timeout, daemon=True)
    polling.start()
    polling.join(timeout=120)

    assert not polling.is_alive(), "the polls waited for more than was there"
    assert sum(sizes) == 10
    assert max(sizes) <= 4


def test_a_partition_a_later_assignment_keeps_keeps_its_place_and_a_new_one_starts_at_0(
    embedded_broker: EmbeddedBroker, topic: str, reader_of: Callable[..., PartitionReader]
) -> None:
    bootstrap = embedded_broker.bootstrap
    publish(bootstrap, topic, 0, first=0, count=20)
    publish(bootstrap, topic, 1, first=100, count=20)
    reader = reader_of()
    reader.assign([PartitionId(topic, 0)])
    assert offsets(read(reader, 20)[0]) == list(range(20))

    # As a consumer does when a new tenant's topics appear: the whole assignment again.
    reader.assign([PartitionId(topic, 0), PartitionId(topic, 1)])
    assert {p: offsets(m) for p, m in read(reader, 20).items()} == {1: list(range(20))}
    publish(bootstrap, topic, 0, first=20, count=5)

    assert {p: offsets(m) for p, m in read(reader, 5).items()} == {0: list(range(20, 25))}


def test_a_reader_sought_back_reads_from_that_offset_and_from_the_beginning_when_asked(
    embedded_broker: EmbeddedBroker, topic: str, reader_of: Callable[..., PartitionReader]
) -> None:
    publish(embedded_broker.bootstrap, topic, 2, first=0, count=30)
    reader = reader_of()
    at = PartitionId(topic, 2)
    reader.assign([at])
    assert offsets(read(reader, 30)[2]) == list(range(30))

    reader.seek(at, 10)
    assert offsets(read(reader, 20)[2]) == list(range(10, 30))
    reader.seek_to_beginning(at)
    assert offsets(read(reader, 30)[2]) == list(range(30))


def test_a_reader_sought_at_once_after_its_assignment_starts_there(
    embedded_broker: EmbeddedBroker, topic: str, reader_of: Callable[..., PartitionReader]
) -> None:
    # A consumer resuming from a stored position assigns, then seeks before any poll.
    publish(embedded_broker.bootstrap, topic, 0, first=0, count=15)
    reader = reader_of()
    at = PartitionId(topic, 0)
    reader.assign([at])
    reader.seek(at, 12)

    assert offsets(read(reader, 3)[0]) == [12, 13, 14]


def test_a_topic_missing_from_the_broker_has_no_partitions_and_is_not_created(
    embedded_broker: EmbeddedBroker, reader_of: Callable[..., PartitionReader]
) -> None:
    missing = f"digione.test.{uuid.uuid4().hex[:12]}.missing.v1"
    reader = reader_of()

    assert reader.partitions_for(missing) == set()
    assert missing not in reader.topics()
