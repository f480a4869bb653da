"""The event consumer on its own, against the real broker: it hands over decoded batches per
partition, resumes from the handler's position, and its loop stops after too many errors."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from eventsourcing.domain import Aggregate

from domain.privacy import TenantOffboarding
from streams.broker import EmbeddedBroker
from streams.codec import DecodedMessage, EventCodec, family_topic
from streams.consumer import (
    BrokerEpochChangedError,
    ConsumerLoop,
    EventConsumer,
    PartitionBatch,
    PartitionOutOfStepError,
    Publications,
    ResumePoint,
    SeekAgain,
    TenantPartition,
    kafka_python_readers,
)
from streams.kafka_transport import (
    KafkaPythonTransport,
    OutgoingMessage,
    PartitionId,
    PartitionReader,
    ReceivedMessage,
    ensure_topics,
)
from streams.schemas import default_registry

pytestmark = pytest.mark.broker

PARTITIONS = 3
SHREDDED = "fi.digione.privacy.tenant.key_encryption_key_shredded.v1"


class StoreDownError(RuntimeError):
    """Raised by the fake handler while it is told its store is down."""


class InMemoryHandler:
    """A BatchHandler that keeps its positions in memory, as a projection keeps them in its
    database: what it took, where each partition resumes, the relay epoch it goes by."""

    def __init__(self, topics: Mapping[str, str]) -> None:
        self.wanted = dict(topics)
        self.stored: dict[TenantPartition, ResumePoint] = {}
        self.batches: list[PartitionBatch] = []
        self.epoch: str | None = None
        #: How many more batches fail; `down` fails everything, refreshes included.
        self.failing = 0
        self.down = False

    @property
    def taken(self) -> list[DecodedMessage]:
        return [message for batch in self.batches for message in batch.messages]

    def topics(self) -> Mapping[str, str]:
        if self.down:
            raise StoreDownError("the handler's store is down")
        return self.wanted

    def resume_point(self, partition: TenantPartition) -> ResumePoint:
        return self.stored.get(partition, ResumePoint(None, None, None))

    def broker_epoch(self, tenant: str) -> str | None:
        return self.epoch

    def handle(self, batch: PartitionBatch) -> None:
        if self.down or self.failing:
            self.failing = max(0, self.failing - 1)
            raise StoreDownError("the handler's store is down")
        stored = self.stored.get(batch.partition)
        first = batch.messages[0].offset
        if not batch.from_beginning and stored is not None and stored.next_offset != first:
            raise PartitionOutOfStepError(f"stored next offset {stored.next_offset}")
        if batch.broker_epoch != self.epoch:
            raise BrokerEpochChangedError(self.epoch)
        self.batches.append(batch)
        last = batch.messages[-1]
        self.stored[batch.partition] = ResumePoint(
            last.offset + 1, last.position, batch.broker_epoch
        )


class PolledInMemoryHandler(InMemoryHandler):
    """The in-memory handler, taking the batches of one poll in one call (as the runner's
    projections apply them in one transaction): which partitions came together."""

    def __init__(self, topics: Mapping[str, str]) -> None:
        super().__init__(topics)
        self.polls: list[list[int]] = []

    def handle_polled(self, batches: Sequence[PartitionBatch]) -> list[SeekAgain | None]:
        self.polls.append([batch.partition.partition for batch in batches])
        outcomes: list[SeekAgain | None] = []
        for batch in batches:
            try:
                self.handle(batch)
            except (PartitionOutOfStepError, BrokerEpochChangedError) as seek:
                outcomes.append(seek)
            else:
                outcomes.append(None)
        return outcomes


class Topic:
    """A privacy topic of a tenant of this test alone, and what was published to it."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = "ct" + uuid.uuid4().hex[:10]
        self.tenant = "t" + uuid.uuid4().hex[:8]
        self.name = family_topic(self.prefix, self.tenant, "privacy")
        self.codec = EventCodec(default_registry(), topic_prefix=self.prefix, partitions=PARTITIONS)
        self.published: list[OutgoingMessage] = []
        ensure_topics(bootstrap, [self.name], partitions=PARTITIONS)

    def publish(self, count: int) -> None:
        """Publishes `count` events, at the store positions after those published before."""
        messages = []
        for position in range(len(self.published) + 1, len(self.published) + count + 1):
            offboarding = TenantOffboarding(self.tenant, "admin-1", datetime.now(UTC))
            [event] = offboarding.collect_events()
            messages.append(self.codec.encode(self.tenant, position, cast(Aggregate.Event, event)))
        with KafkaPythonTransport(self.bootstrap) as transport:
            transport.publish(messages)
        self.published += messages

    def positions(self, *, partitions: set[int] | None = None) -> list[int]:
        return sorted(
            int(dict(m.headers)["position"])
            for m in self.published
            if partitions is None or m.partition in partitions
        )


def positions_of(messages: list[DecodedMessage]) -> list[int]:
    return sorted(m.position for m in messages if m.position is not None)


def wait_until(condition: Callable[[], bool], *, step: Callable[[], Any] = lambda: None) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        step()


@pytest.fixture
def topic(embedded_broker: EmbeddedBroker) -> Topic:
    return Topic(embedded_broker.bootstrap)


@pytest.fixture
def handler(topic: Topic) -> InMemoryHandler:
    return InMemoryHandler({topic.name: topic.tenant})


@pytest.fixture
def consumer_for(
    embedded_broker: EmbeddedBroker, topic: Topic, handler: InMemoryHandler
) -> Iterator[Callable[..., EventConsumer]]:
    """Builds open, assigned consumers of the test's topic for the test's handler."""
    built: list[EventConsumer] = []

    def build(**options: Any) -> EventConsumer:
        max_batch = options.pop("max_batch", 50)
        consumer = EventConsumer(
            name="test-consumer",
            handler=options.pop("handler", handler),
            codec=topic.codec,
            readers=options.pop("readers", None)
            or kafka_python_readers(
                embedded_broker.bootstrap, max_batch=max_batch, fetch_wait_ms=50
            ),
            client_id="digione-test-consumer",
            max_batch=max_batch,
            **options,
        )
        consumer.open()
        consumer.refresh()
        built.append(consumer)
        return consumer

    yield build
    for consumer in built:
        consumer.close()


def poll_until(consumer: EventConsumer, handler: InMemoryHandler, count: int) -> None:
    wait_until(lambda: len(handler.taken) >= count, step=lambda: consumer.poll(timeout_ms=200))


def test_every_message_is_handed_over_decoded_in_batches_of_one_partition(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(40)
    consumer = consumer_for(max_batch=7)

    poll_until(consumer, handler, 40)

    assert positions_of(handler.taken) == topic.positions()
    assert all(m.error is None and m.event_type == SHREDDED for m in handler.taken)
    assert all(m.envelope is not None and m.envelope.tenant == topic.tenant for m in handler.taken)
    assert {b.partition.partition for b in handler.batches} == set(range(PARTITIONS))
    for batch in handler.batches:
        assert batch.partition.tenant == topic.tenant
        assert {m.envelope.partition for m in batch.messages if m.envelope} == {
            batch.partition.partition
        }
        offsets = [m.offset for m in batch.messages]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


def test_each_batch_says_how_many_messages_of_its_partition_wait_behind_it(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    """What a projection goes by to leave end-of-batch work to the batch that catches up:
    the partition's messages after the batch, as the broker told with its last fetch."""
    topic.publish(60)
    consumer = consumer_for(max_batch=7)

    poll_until(consumer, handler, 60)

    published = Counter(m.partition for m in topic.published)
    for batch in handler.batches:
        number = batch.partition.partition
        assert batch.backlog == published[number] - batch.messages[-1].offset - 1
    assert any(batch.backlog >= 7 for batch in handler.batches)
    last = {batch.partition.partition: batch for batch in handler.batches}
    assert all(batch.backlog == 0 for batch in last.values())


def test_a_polls_partitions_go_to_the_handler_together_and_one_out_of_step_is_read_again(
    topic: Topic, consumer_for: Callable[..., EventConsumer]
) -> None:
    handler = PolledInMemoryHandler({topic.name: topic.tenant})
    topic.publish(30)
    consumer = consumer_for(handler=handler)
    poll_until(consumer, handler, 30)
    taken_first = list(handler.taken)

    # The handler's position of one partition goes back (as if another worker's
    # transaction had rolled back): the next batch there is out of step with it.
    fullest = Counter(m.partition or 0 for m in topic.published).most_common(1)[0][0]
    partition = TenantPartition(topic.tenant, topic.name, fullest)
    there = [m for m in taken_first if m.envelope and m.envelope.partition == fullest]
    handler.stored[partition] = ResumePoint(there[1].offset, there[0].position, None)
    topic.publish(30)
    poll_until(consumer, handler, 60 + len(there) - 1)
    for _ in range(3):
        consumer.poll(timeout_ms=200)

    assert positions_of(taken_first) == topic.positions()[:30]
    assert any(len(partitions) > 1 for partitions in handler.polls)
    # Everything once, and what followed the position it went back to a second time.
    handed = Counter(m.position for m in handler.taken if m.position is not None)
    assert sorted(handed) == topic.positions()
    assert {p for p, times in handed.items() if times == 2} == {m.position for m in there[1:]}


def test_a_new_consumer_resumes_from_the_handlers_position_without_handing_anything_twice(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(20)
    first = consumer_for()
    poll_until(first, handler, 20)
    first.close()
    handed_by_first = len(handler.batches)
    topic.publish(10)

    second = consumer_for()
    poll_until(second, handler, 30)
    for _ in range(3):
        second.poll(timeout_ms=200)

    assert positions_of(handler.taken) == topic.positions()
    assert not any(b.from_beginning for b in handler.batches[handed_by_first:])


def test_a_consumer_given_a_share_of_partitions_reads_only_those(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(30)
    consumer = consumer_for(partitions=[0, 2])
    poll_until(consumer, handler, len(topic.positions(partitions={0, 2})))
    consumer.poll(timeout_ms=300)

    assert positions_of(handler.taken) == topic.positions(partitions={0, 2})
    assert {p.partition for p in consumer.partitions} == {0, 2}


def test_a_batch_the_handler_failed_is_handed_over_again_from_its_position(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(30)
    consumer = consumer_for()
    handler.failing = 1

    with pytest.raises(StoreDownError):
        wait_until(lambda: False, step=lambda: consumer.poll(timeout_ms=200))
    poll_until(consumer, handler, 30)

    assert positions_of(handler.taken) == topic.positions()


def test_when_the_relay_epoch_changes_the_partitions_are_read_again_from_the_beginning(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(15)
    consumer = consumer_for()
    poll_until(consumer, handler, 15)

    handler.epoch = "epoch-2"
    consumer.refresh()
    poll_until(consumer, handler, 30)

    again = [b for b in handler.batches if b.broker_epoch == "epoch-2"]
    assert positions_of([m for b in again for m in b.messages]) == topic.positions()
    assert all(b.from_beginning for b in again if b.messages[0].offset == 0)


def test_an_epoch_change_is_said_once_for_all_the_partitions_it_has_read_again(
    topic: Topic,
    handler: InMemoryHandler,
    consumer_for: Callable[..., EventConsumer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic.publish(6)
    handler.epoch = "epoch-1"
    consumer = consumer_for()
    poll_until(consumer, handler, 6)

    handler.epoch = "epoch-2"
    with caplog.at_level(logging.WARNING, logger="streams.consumer"):
        consumer.refresh()
    poll_until(consumer, handler, 12)

    [said] = [r.getMessage() for r in caplog.records if "epoch-2" in r.getMessage()]
    assert "(was epoch-1)" in said
    assert f"reading {PARTITIONS} partitions of its topics ({topic.name})" in said


def test_a_stored_position_of_another_log_has_the_partition_read_from_its_beginning(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(15)
    fullest = Counter(m.partition or 0 for m in topic.published).most_common(1)[0][0]
    partition = TenantPartition(topic.tenant, topic.name, fullest)
    # Offset 2 held position 999 in the log the handler read: not in this one.
    handler.stored[partition] = ResumePoint(3, 999, None)

    consumer = consumer_for()
    poll_until(consumer, handler, 15)

    assert positions_of(handler.taken) == topic.positions()
    [first] = [b for b in handler.batches if b.partition == partition][:1]
    assert first.from_beginning and first.messages[0].offset == 0


def test_the_fetcher_returns_the_decoded_message_at_an_offset(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(10)
    consumer = consumer_for()
    poll_until(consumer, handler, 10)
    partition, wanted = handler.batches[0].partition, handler.batches[0].messages[-1]

    with consumer.fetcher() as fetcher:
        fetched = fetcher.fetch(partition, wanted.offset)

    assert fetched == wanted


def test_the_loop_hands_over_until_stopped(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    consumer = consumer_for()
    loop = ConsumerLoop([consumer], name="test loop", poll_seconds=0.1, refresh_seconds=0.5)
    loop.start()

    topic.publish(12)
    wait_until(lambda: len(handler.taken) == 12, step=lambda: time.sleep(0.05))
    loop.stop()

    assert not loop.is_running and loop.failure is None
    assert positions_of(handler.taken) == topic.positions()
    assert not consumer.is_open


def test_the_loop_stops_after_too_many_consecutive_errors(
    topic: Topic, handler: InMemoryHandler, consumer_for: Callable[..., EventConsumer]
) -> None:
    topic.publish(5)
    consumer = consumer_for()
    handler.down = True
    loop = ConsumerLoop(
        [consumer],
        name="test loop",
        poll_seconds=0.1,
        refresh_seconds=0.0,
        max_consecutive_errors=3,
    )

    loop.start()
    wait_until(lambda: not loop.is_running, step=lambda: time.sleep(0.05))

    assert isinstance(loop.failure, StoreDownError)
    assert handler.taken == []
    loop.stop()


class CountedReader:
    """A reader that counts how often it asked the broker for messages."""

    def __init__(self, reader: PartitionReader, polls: list[float]) -> None:
        self._reader = reader
        self._polls = polls

    def poll(
        self, *, timeout_ms: int, max_records: int | None = None
    ) -> dict[PartitionId, list[ReceivedMessage]]:
        self._polls.append(time.monotonic())
        return self._reader.poll(timeout_ms=timeout_ms, max_records=max_records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


class WatchedPublications(Publications):
    """The relay's publications, showing when a loop waits on them."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_on = threading.Event()

    def wait_past(self, count: int, timeout_seconds: float, *, stopping: threading.Event) -> None:
        self.waited_on.set()
        try:
            super().wait_past(count, timeout_seconds, stopping=stopping)
        finally:
            self.waited_on.clear()


def idling_loop(
    consumer: EventConsumer, publications: WatchedPublications, *, refresh_seconds: float
) -> ConsumerLoop:
    """A started loop beside the relay whose idle wait is a minute, once it waits."""
    loop = ConsumerLoop(
        [consumer],
        name="test loop",
        refresh_seconds=refresh_seconds,
        publications=publications,
        linger_seconds=0.2,
        idle_seconds=60.0,
    )
    loop.start()
    wait_until(publications.waited_on.is_set, step=lambda: time.sleep(0.05))
    return loop


def test_a_loop_beside_the_relay_asks_the_broker_only_once_the_relay_published(
    embedded_broker: EmbeddedBroker,
    topic: Topic,
    handler: InMemoryHandler,
    consumer_for: Callable[..., EventConsumer],
) -> None:
    polls: list[float] = []
    plain = kafka_python_readers(embedded_broker.bootstrap, max_batch=50, fetch_wait_ms=50)
    consumer = consumer_for(readers=lambda client_id: CountedReader(plain(client_id), polls))
    publications = WatchedPublications()
    # Without the relay's word the loop would look again only after a minute.
    loop = idling_loop(consumer, publications, refresh_seconds=60.0)
    asked_before = len(polls)

    # Published by another than the relay the loop idles on: nobody tells it.
    topic.publish(5)
    time.sleep(0.6)  # three lingers
    assert len(polls) == asked_before
    assert handler.taken == []

    publications.published()
    wait_until(lambda: len(handler.taken) == 5, step=lambda: time.sleep(0.05))
    # Idle again: stopping does not wait out its minute.
    wait_until(publications.waited_on.is_set, step=lambda: time.sleep(0.05))
    loop.stop(timeout_seconds=5.0)

    assert positions_of(handler.taken) == topic.positions()
    assert not [thread for thread in threading.enumerate() if thread.name == "test-loop"]


def test_a_loop_beside_the_relay_reads_a_new_tenants_topic_from_its_next_refresh(
    embedded_broker: EmbeddedBroker,
    topic: Topic,
    handler: InMemoryHandler,
    consumer_for: Callable[..., EventConsumer],
) -> None:
    publications = WatchedPublications()
    loop = idling_loop(consumer_for(), publications, refresh_seconds=1.0)

    # A municipality joins; the relay told of its first events before the loop had its
    # topic, or told nobody: the refresh that assigns the topic ends the loop's idling.
    newcomer = Topic(embedded_broker.bootstrap)
    handler.wanted[newcomer.name] = newcomer.tenant
    newcomer.publish(3)
    wait_until(lambda: len(handler.taken) == 3, step=lambda: time.sleep(0.05))
    loop.stop(timeout_seconds=5.0)

    assert positions_of(handler.taken) == newcomer.positions()
