"""The Kafka transport: publish acknowledged batches, create topics, read assigned partitions."""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, NamedTuple, Protocol, Self, runtime_checkable

import kafka.errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

__all__ = [
    "CONFLUENT_PRODUCER_SETTINGS",
    "LIBRDKAFKA_LOG",
    "PRODUCER_SETTINGS",
    "READ_PROMISED_SECONDS",
    "ConfluentKafkaTransport",
    "DeliveryCallback",
    "EventTransport",
    "InvalidTopicSpecError",
    "KafkaPythonReader",
    "KafkaPythonTransport",
    "MessageRefusedError",
    "OutgoingMessage",
    "PartitionId",
    "PartitionReader",
    "PipelinedTransport",
    "PublishFailedError",
    "ReceivedMessage",
    "TopicCreationFailedError",
    "TopicNotFoundError",
    "TopicReadShortError",
    "ensure_topics",
    "read_topic",
    "read_topics",
]

# Settings of every producer the transport builds. Each one is there for a reason:
# - acks=all and idempotence: a message counts as published only once every in-sync replica
#   holds it, and a retried batch is written once, in order (checked against Tansu 0.6:
#   it hands out producer ids and answers a re-sent batch with DUPLICATE_SEQUENCE_NUMBER,
#   which kafka-python treats as success).
# - max_in_flight 5 is the most idempotence allows while keeping per-partition order.
# - linger and batch size: publish() sends a whole batch and then flushes, so big record
#   batches, not waiting, are what raise throughput; linger only gathers messages that
#   arrive between flushes (measured on Tansu: defaults ~15k msg/s, these ~24-27k msg/s).
#   Compression stays off: values are small and their sealed fields are ciphertext, which
#   does not compress, and the codecs are optional extras of kafka-python.
PRODUCER_SETTINGS: Final[dict[str, Any]] = {
    "acks": "all",
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
    "linger_ms": 5,
    "batch_size": 256 * 1024,
    "max_request_size": 4 * 1024 * 1024,
    "compression_type": None,
    # Topics are created on purpose, with their partition count (ensure_topics); on Apache
    # Kafka a typo in a topic name fails the publish within max_block_ms instead of
    # creating a stray topic. (Tansu 0.6 ignores this and creates it, with 4 partitions.)
    "allow_auto_create_topics": False,
    "max_block_ms": 10_000,
}

# The same choices for librdkafka (confluent-kafka), in its own configuration names. Its
# batches are bounded by batch.size in bytes, whose default (1 MB) already suits publish().
# Its default partitioner is CRC32-based; murmur2_random is the Java client's (and
# kafka-python's), so a message without an explicit partition lands where other clients
# would put it.
CONFLUENT_PRODUCER_SETTINGS: Final[dict[str, Any]] = {
    "acks": "all",
    "enable.idempotence": True,
    "max.in.flight.requests.per.connection": 5,
    "linger.ms": 5,
    "message.max.bytes": 4 * 1024 * 1024,
    "compression.type": "none",
    "allow.auto.create.topics": False,
    "partitioner": "murmur2_random",
}

#: Where librdkafka's own log lines go (a broker it cannot reach, a request that failed):
#: without a logger it writes them raw to stderr, between the process's JSON lines.
LIBRDKAFKA_LOG: Final = logging.getLogger("librdkafka")

# Kafka's own rule for topic names (org.apache.kafka.common.internals.Topic). Tansu accepts
# any name and zero partitions, so checking here keeps development and production alike.
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_TOPIC_ALREADY_EXISTS = kafka.errors.TopicAlreadyExistsError.errno


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to publish: its topic, partitioning key, encoded value and headers."""

    topic: str
    key: bytes
    value: bytes
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)
    #: The partition, when the publisher chose it (the relay does, to know where each
    #: position went); None lets the producer's partitioner choose by key.
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message read from a topic, with the partition and offset it was stored at."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp_ms: int

    def header(self, name: str) -> bytes | None:
        """Return the value of the last header called `name`, or None when there is none."""
        found = None
        for header_name, value in self.headers:
            if header_name == name:
                found = value
        return found


#: Called once per produced message when its fate is known, in the thread that calls the
#: transport's `poll` or `flush`: (the token it was produced with; its topic; the partition
#: it went to, -1 if unknown; why it failed, None once acknowledged; whether it was refused
#: for what it is, as MessageRefusedError).
DeliveryCallback = Callable[[int, str, int, str | None, bool], None]


class EventTransport(Protocol):
    """Where the relay publishes encoded events."""

    def publish(self, batch: Sequence[OutgoingMessage]) -> None:
        """Publish every message, returning only once the broker acknowledged all of them.

        Messages with the same topic and key keep their order. On error nothing is known
        about which messages were stored; the caller publishes the batch again (delivery
        is at least once, and consumers are idempotent).
        """
        ...

    def close(self) -> None:
        """Release the connection; publish() must not be called afterwards."""
        ...


@runtime_checkable
class PipelinedTransport(EventTransport, Protocol):
    """An EventTransport that also produces message by message without waiting for the
    broker (`produce`, with `poll` and `flush`): what the relay streams through."""

    def produce(self, message: OutgoingMessage, token: int, on_delivery: DeliveryCallback) -> None:
        """Queue one message; `on_delivery` hears of it, by `token`, from a later `poll` or
        `flush`.

        With no partition named the producer's partitioner chooses (murmur2 of the key, as
        every Kafka client's default does). Messages with the same topic and key keep their
        order. Raises PublishFailedError when the message cannot even be queued for the
        broker's state; a message refused for what it is reaches `on_delivery` instead.
        """
        ...

    def poll(self, timeout_seconds: float) -> None:
        """Serve the delivery callbacks due, waiting at most `timeout_seconds` for one."""
        ...

    def flush(self, timeout_seconds: float) -> int:
        """Wait until every queued message is delivered or failed (callbacks served);
        return how many were still unsettled at the timeout."""
        ...

    def abandon(self) -> None:
        """Drop every message not acknowledged yet and release the producer at once, without
        waiting for deliveries (a broker that lost its data will never acknowledge them);
        nothing may be produced afterwards."""
        ...


class PartitionId(NamedTuple):
    """A partition of a topic."""

    topic: str
    partition: int


class PartitionReader(Protocol):
    """Where consumers read: partitions they assign themselves, no consumer group.

    `topics()` lists every topic without naming any (a broker that auto-creates topics, as
    Tansu does, would create one asked for by name); `partitions_for()` is empty for a topic
    the broker does not know; `seek*()` apply to assigned partitions; `poll()` waits at most
    `timeout_ms` and returns messages in offset order per partition; `highwater()` says
    how far a partition's log reached when the broker last answered a fetch of it.
    """

    def topics(self) -> set[str]: ...

    def partitions_for(self, topic: str) -> set[int]: ...

    def assign(self, partitions: Sequence[PartitionId]) -> None: ...

    def seek(self, partition: PartitionId, offset: int) -> None: ...

    def seek_to_beginning(self, *partitions: PartitionId) -> None: ...

    def poll(
        self, *, timeout_ms: int, max_records: int | None = None
    ) -> dict[PartitionId, list[ReceivedMessage]]: ...

    def highwater(self, partition: PartitionId) -> int | None:
        """The partition's end offset as the broker last told it (with a fetch's answer);
        None before it did. No request of its own."""
        ...

    def close(self) -> None: ...


class PublishFailedError(RuntimeError):
    """Raised when the broker did not acknowledge every message of a published batch."""


class MessageRefusedError(PublishFailedError):
    """Raised when particular messages of a batch were refused for what they are (too large
    for the producer's or the broker's limit), not for the broker's state: publishing them
    again fails the same way. Every other message of the batch was acknowledged.

    `refused` maps the index of each refused message in the batch to why (the error's class
    and text, which name sizes and limits, never the message's content).
    """

    def __init__(self, text: str, refused: Mapping[int, str]) -> None:
        super().__init__(text)
        self.refused = dict(refused)


#: kafka-python errors that are about a message, not the broker: the same message fails
#: the same way on every attempt.
MESSAGE_ERRORS: Final[tuple[type[Exception], ...]] = (
    kafka.errors.MessageSizeTooLargeError,
    kafka.errors.RecordListTooLargeError,
    kafka.errors.InvalidRecordError,
)


def _refusal(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


class TopicCreationFailedError(RuntimeError):
    """Raised when the broker refuses to create a topic for a reason other than its existing."""


class InvalidTopicSpecError(ValueError):
    """Raised when a topic name or partition count would be refused by Apache Kafka."""


class TopicNotFoundError(LookupError):
    """Raised when a topic to read does not exist on the broker."""


class TopicReadShortError(RuntimeError):
    """Raised when a topic read from its beginning did not deliver, in time, the messages
    the broker reported holding."""


class KafkaPythonTransport:
    """An EventTransport over one kafka-python idempotent producer."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "digione-relay",
        delivery_timeout_seconds: float = 120.0,
        request_timeout_seconds: float = 30.0,
        max_request_bytes: int | None = None,
    ) -> None:
        # kafka-python requires the delivery timeout to exceed linger plus request timeout.
        self._delivery_timeout_seconds = delivery_timeout_seconds
        settings = dict(PRODUCER_SETTINGS)
        if max_request_bytes is not None:
            settings["max_request_size"] = max_request_bytes
        # Every call that waits on the broker has a deadline: sending (metadata, buffer
        # space) max_block_ms, each request request_timeout_ms, a batch delivery_timeout_ms
        # and flush() its own timeout below.
        settings["max_block_ms"] = min(
            int(settings["max_block_ms"]), int(request_timeout_seconds * 1000)
        )
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            delivery_timeout_ms=int(delivery_timeout_seconds * 1000),
            request_timeout_ms=int(request_timeout_seconds * 1000),
            # Without it an unreachable broker holds the constructor for 30 s whatever the
            # request timeout; the relay wants to know as soon as a request would have.
            bootstrap_timeout_ms=int(request_timeout_seconds * 1000),
            **settings,
        )
        # kafka-python 3.0 asks for the metadata of only the topics it had to wait for, and
        # replaces what it knew with the answer: a topic created after the producer started
        # (a new tenant's) narrows its metadata to that topic, every other partition it ever
        # sent to loses its leader, and the sender thread asks for metadata again on each
        # pass, about ten times a second for as long as the producer lives, idle or not
        # (a tenth of the worker's CPU in a city import). Asking for every topic, as the
        # readers do, keeps every leader known.
        self._producer._metadata.need_all_topic_metadata = True
        # kafka-python settles futures on its sender thread; the callbacks run in the
        # caller's, from poll() and flush(), as confluent-kafka's do.
        self._settled: deque[tuple[DeliveryCallback, int, str, int, str | None, bool]] = deque()
        #: Messages queued, and of those the ones whose future settled.
        self._unsettled = 0
        self._reported = 0

    def produce(self, message: OutgoingMessage, token: int, on_delivery: DeliveryCallback) -> None:
        try:
            future = self._producer.send(
                message.topic,
                value=message.value,
                key=message.key,
                headers=list(message.headers),
                partition=message.partition,
            )
        except MESSAGE_ERRORS as error:
            self._settled.append((on_delivery, token, message.topic, -1, _refusal(error), True))
            return
        except kafka.errors.KafkaError as error:
            raise PublishFailedError(
                f"a message could not be queued for topic {message.topic!r}: {error!r}; "
                "check that the topic exists (ensure_topics) and the broker is reachable"
            ) from error
        self._unsettled += 1
        future.add_both(partial(self._report, on_delivery, token, message.topic))

    def _report(self, on_delivery: DeliveryCallback, token: int, topic: str, outcome: Any) -> None:
        # On kafka-python's sender thread: poll() passes it on in the caller's.
        if isinstance(outcome, BaseException):
            refused = isinstance(outcome, MESSAGE_ERRORS)
            self._settled.append((on_delivery, token, topic, -1, _refusal(outcome), refused))
        else:
            self._settled.append((on_delivery, token, topic, outcome.partition, None, False))
        self._reported += 1

    def poll(self, timeout_seconds: float) -> None:
        if not self._settled and timeout_seconds > 0 and self._unsettled:
            time.sleep(min(timeout_seconds, 0.01))
        while self._settled:
            on_delivery, token, topic, partition, error, refused = self._settled.popleft()
            on_delivery(token, topic, partition, error, refused)

    def flush(self, timeout_seconds: float) -> int:
        try:
            self._producer.flush(timeout=timeout_seconds)
        except kafka.errors.KafkaTimeoutError:
            pass
        self.poll(0)
        return self._unsettled - self._reported

    def publish(self, batch: Sequence[OutgoingMessage]) -> None:
        """Publish the batch and wait until the broker acknowledged every message."""
        if not batch:
            return
        futures: list[tuple[int, Any]] = []
        refused: dict[int, str] = {}
        for index, message in enumerate(batch):
            try:
                futures.append(
                    (
                        index,
                        self._producer.send(
                            message.topic,
                            value=message.value,
                            key=message.key,
                            headers=list(message.headers),
                            partition=message.partition,
                        ),
                    )
                )
            except MESSAGE_ERRORS as error:
                # This message can never be sent as it is; the others still go.
                refused[index] = _refusal(error)
            except kafka.errors.KafkaError as error:
                # Messages queued before this one may still be stored: that is fine, the
                # caller republishes the whole batch.
                raise PublishFailedError(
                    f"message {index + 1} of {len(batch)} could not be queued for "
                    f"topic {message.topic!r}: {error!r}; check that the topic exists "
                    "(ensure_topics) and the broker is reachable"
                ) from error
        # The delivery timeout fails every unacknowledged batch in time, so flush returns;
        # its own timeout is a backstop with some slack.
        try:
            self._producer.flush(timeout=self._delivery_timeout_seconds + 10.0)
        except kafka.errors.KafkaTimeoutError as error:
            raise PublishFailedError(
                f"the broker did not acknowledge a batch of {len(batch)} messages within "
                f"{self._delivery_timeout_seconds:g} s ({error}); is it reachable?"
            ) from error
        failures = [(i, future.exception) for i, future in futures if not future.succeeded()]
        broker_failures = [e for _, e in failures if not isinstance(e, MESSAGE_ERRORS)]
        if broker_failures:
            first = broker_failures[0]
            raise PublishFailedError(
                f"{len(failures)} of {len(batch)} messages were not acknowledged by the "
                f"broker; the first error: {first!r}. Publish the batch again once the "
                "broker is healthy"
            ) from first
        refused.update((index, _refusal(error)) for index, error in failures)
        if refused:
            raise MessageRefusedError(
                f"{len(refused)} of {len(batch)} messages were refused for what they are "
                f"(the first: {next(iter(refused.values()))}); the others were acknowledged",
                refused,
            )

    def close(self) -> None:
        """Send what is pending and close the producer."""
        self._producer.close(timeout=self._delivery_timeout_seconds)

    def abandon(self) -> None:
        # kafka-python 3.0 has no call that drops what is pending: close() flushes first and
        # raises when its time runs out, before the force close it would come to next (and
        # the producer, never marked closed, tries again when collected). Its sender's force
        # close ends the sender's thread, which fails the batches not acknowledged; then
        # nothing is left for close() to flush.
        sender = getattr(self._producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(timeout=self._delivery_timeout_seconds)
        self._producer.close(timeout=0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ConfluentKafkaTransport:
    """An EventTransport over one confluent-kafka (librdkafka) idempotent producer.

    The same contract as KafkaPythonTransport, with a client that produces many times
    faster (its batching and checksums run in C).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "digione-relay",
        delivery_timeout_seconds: float = 120.0,
        request_timeout_seconds: float = 30.0,
        max_request_bytes: int | None = None,
    ) -> None:
        # Imported here: confluent-kafka is a compiled wheel, and only this class needs it.
        import confluent_kafka

        self._errors = confluent_kafka.KafkaException
        self._message_error_codes = {
            confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE,
            confluent_kafka.KafkaError.RECORD_LIST_TOO_LARGE,
            confluent_kafka.KafkaError.INVALID_RECORD,
        }
        self._delivery_timeout_seconds = delivery_timeout_seconds
        self._report = self._confluent_report  # bound once: one object for every message
        settings = dict(CONFLUENT_PRODUCER_SETTINGS)
        if max_request_bytes is not None:
            settings["message.max.bytes"] = max_request_bytes
        self._producer = confluent_kafka.Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                "delivery.timeout.ms": int(delivery_timeout_seconds * 1000),
                "request.timeout.ms": int(request_timeout_seconds * 1000),
                "logger": LIBRDKAFKA_LOG,
                **settings,
            }
        )

    def produce(self, message: OutgoingMessage, token: int, on_delivery: DeliveryCallback) -> None:
        producer = self._producer
        headers = message.headers if isinstance(message.headers, list) else list(message.headers)
        # One small object per message in flight (not a closure with its cells): tens of
        # thousands are alive at once, and the garbage collector walks each.
        report = partial(self._report, on_delivery, token)
        while True:
            try:
                if message.partition is None:
                    producer.produce(
                        message.topic,
                        message.value,
                        message.key,
                        on_delivery=report,
                        headers=headers,
                    )
                else:
                    producer.produce(
                        message.topic,
                        message.value,
                        message.key,
                        message.partition,
                        on_delivery=report,
                        headers=headers,
                    )
                return
            except BufferError:
                # The local queue is full: serving delivery reports makes room.
                producer.poll(0.05)
            except self._errors as error:
                if error.args and error.args[0].code() in self._message_error_codes:
                    text = f"KafkaException: {error.args[0].str()}"[:500]
                    on_delivery(token, message.topic, -1, text, True)
                    return
                raise PublishFailedError(
                    f"a message could not be queued for topic {message.topic!r}: {error}; "
                    "check that the topic exists (ensure_topics) and the broker is reachable"
                ) from error

    def _confluent_report(
        self, on_delivery: DeliveryCallback, token: int, error: Any, record: Any
    ) -> None:
        if error is None:
            on_delivery(token, record.topic(), record.partition(), None, False)
        else:
            refused = error.code() in self._message_error_codes
            on_delivery(token, record.topic(), -1, f"KafkaError: {error.str()}"[:500], refused)

    def poll(self, timeout_seconds: float) -> None:
        self._producer.poll(timeout_seconds)

    def flush(self, timeout_seconds: float) -> int:
        return int(self._producer.flush(timeout_seconds))

    def publish(self, batch: Sequence[OutgoingMessage]) -> None:
        """Publish the batch and wait until the broker acknowledged every message."""
        if not batch:
            return
        failures: list[tuple[int, Any]] = []
        refused: dict[int, str] = {}

        def delivered_to(index: int) -> Callable[[Any, Any], None]:
            def delivered(error: Any, _message: Any) -> None:
                if error is not None:
                    failures.append((index, error))

            return delivered

        for position, message in enumerate(batch, start=1):
            options: dict[str, Any] = {}
            if message.partition is not None:
                options["partition"] = message.partition
            while True:
                try:
                    self._producer.produce(
                        message.topic,
                        value=message.value,
                        key=message.key,
                        headers=list(message.headers),
                        on_delivery=delivered_to(position - 1),
                        **options,
                    )
                    break
                except BufferError:
                    # The local queue is full: serving delivery reports makes room.
                    self._producer.poll(0.1)
                except self._errors as error:
                    if error.args and error.args[0].code() in self._message_error_codes:
                        refused[position - 1] = f"KafkaException: {error.args[0].str()}"[:500]
                        break
                    raise PublishFailedError(
                        f"message {position} of {len(batch)} could not be queued for topic "
                        f"{message.topic!r}: {error}; check that the topic exists "
                        "(ensure_topics) and the broker is reachable"
                    ) from error
        # Every message fails by the delivery timeout at the latest; flush's own timeout
        # is a backstop with some slack.
        unsent = self._producer.flush(self._delivery_timeout_seconds + 10.0)
        if unsent:
            raise PublishFailedError(
                f"{unsent} of {len(batch)} messages were still unacknowledged after "
                f"{self._delivery_timeout_seconds + 10.0:g} s; is the broker reachable?"
            )
        broker_failures = [e for _, e in failures if e.code() not in self._message_error_codes]
        if broker_failures:
            raise PublishFailedError(
                f"{len(failures)} of {len(batch)} messages were not acknowledged by the "
                f"broker; the first error: {broker_failures[0]}. Publish the batch again "
                "once the broker is healthy"
            )
        refused.update((i, f"KafkaError: {e.str()}"[:500]) for i, e in failures)
        if refused:
            raise MessageRefusedError(
                f"{len(refused)} of {len(batch)} messages were refused for what they are "
                f"(the first: {next(iter(refused.values()))}); the others were acknowledged",
                refused,
            )

    def close(self) -> None:
        """Send what is pending (within the delivery timeout) and release the producer:
        what is still unsent then is dropped, and its threads and connections end (an
        unclosed producer reconnects to a broker that is gone until it is collected)."""
        producer = self._producer
        if producer.flush(self._delivery_timeout_seconds):
            producer.purge()
            producer.poll(0)
        close = getattr(producer, "close", None)  # not in older confluent-kafka releases
        if close is not None:
            close()

    def abandon(self) -> None:
        # Purged from the queue and from the requests in flight; reported failed by poll.
        self._producer.purge()
        self._producer.poll(0)
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _check_topic_spec(names: Sequence[str], partitions: int) -> None:
    if partitions < 1:
        raise InvalidTopicSpecError(f"a topic needs at least one partition, not {partitions}")
    for name in names:
        if not _TOPIC_NAME.fullmatch(name) or name in {".", ".."}:
            raise InvalidTopicSpecError(
                f"{name!r} is not a valid Kafka topic name: use 1 to 249 characters from "
                "letters, digits, '.', '_' and '-'"
            )


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int,
    *,
    replication_factor: int = -1,
    configs: Mapping[str, str] | None = None,
    timeout_seconds: float = 30.0,
) -> set[str]:
    """Create those of the named topics that do not exist yet; return the names created.

    Existing topics are left as they are, even with another partition count: adding
    partitions would move keys to other partitions and break their order. The default
    replication factor -1 lets the broker choose (its `default.replication.factor`).
    `configs` are topic-level settings of the topics created (e.g. `retention.ms`).
    Returns once every named topic has a leader for each partition.
    """
    wanted = list(dict.fromkeys(names))
    _check_topic_spec(wanted, partitions)
    if not wanted:
        return set()
    timeout_ms = int(timeout_seconds * 1000)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="digione-topics",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        created: set[str] = set()
        if missing:
            # Another process may create the same topics at the same time, so "already
            # exists" is success; errors are read per topic rather than raised wholesale.
            response = admin.create_topics(
                {
                    name: {
                        "num_partitions": partitions,
                        "replication_factor": replication_factor,
                        **({"configs": dict(configs)} if configs else {}),
                    }
                    for name in missing
                },
                timeout_ms=timeout_ms,
                raise_errors=False,
            )
            for result in response["topics"]:
                if result["error_code"] == 0:
                    created.add(result["name"])
                elif result["error_code"] != _TOPIC_ALREADY_EXISTS:
                    error = kafka.errors.for_code(result["error_code"])
                    raise TopicCreationFailedError(
                        f"the broker at {bootstrap} refused to create topic "
                        f"{result['name']!r}: {error.__name__}: "
                        f"{result['error_message'] or error.description}"
                    )
        admin.wait_for_topics(wanted, timeout_ms=timeout_ms)
        return created
    finally:
        admin.close()


def _received(record: Any) -> ReceivedMessage:
    return ReceivedMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple((name, value) for name, value in record.headers),
        timestamp_ms=record.timestamp,
    )


#: How long a reader waits for topic metadata before its caller hears of a timeout.
METADATA_TIMEOUT_MS: Final = 10_000


class KafkaPythonReader:
    """A PartitionReader over one kafka-python consumer."""

    def __init__(
        self, bootstrap: str, *, client_id: str, max_poll_records: int, fetch_wait_ms: int
    ) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            # Partitions are assigned by hand: group joins on Tansu take 15-23 s (DESIGN.md),
            # and readers keep their positions themselves, so nothing is committed here.
            group_id=None,
            enable_auto_commit=False,
            # After a broker lost its data a stored offset may be past its end: read from
            # the start, and the reader's positions turn what it had read into duplicates.
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            max_poll_records=max_poll_records,
            fetch_max_wait_ms=fetch_wait_ms,
        )

    def topics(self) -> set[str]:
        self._refresh_metadata()
        return set(self._consumer._cluster.topics())

    def partitions_for(self, topic: str) -> set[int]:
        partitions = self._consumer._cluster.partitions_for_topic(topic)
        if partitions is None:
            self._refresh_metadata()
            partitions = self._consumer._cluster.partitions_for_topic(topic)
        return set(partitions or ())

    def _refresh_metadata(self) -> None:
        """KafkaConsumer.topics() and partitions_for_topic() as kafka-python does them, but
        bounded: kafka-python 3.0 awaits the metadata refresh with no deadline at all, so a
        broker that accepts connections and never answers would hang the runner for ever.
        Raises KafkaTimeoutError after METADATA_TIMEOUT_MS (the runner's loop retries)."""
        consumer = self._consumer
        cluster = consumer._cluster
        stash = cluster.need_all_topic_metadata
        cluster.need_all_topic_metadata = True
        try:
            future = cluster.request_update()
            consumer._net.run(consumer._manager.wait_for, future, METADATA_TIMEOUT_MS)
        finally:
            cluster.need_all_topic_metadata = stash

    def assign(self, partitions: Sequence[PartitionId]) -> None:
        self._consumer.assign([TopicPartition(p.topic, p.partition) for p in partitions])

    def seek(self, partition: PartitionId, offset: int) -> None:
        self._consumer.seek(TopicPartition(partition.topic, partition.partition), offset)

    def seek_to_beginning(self, *partitions: PartitionId) -> None:
        self._consumer.seek_to_beginning(
            *(TopicPartition(p.topic, p.partition) for p in partitions)
        )

    def offset_bounds(self, *partitions: PartitionId) -> dict[PartitionId, tuple[int, int]]:
        """Each partition's first offset and end offset as the broker reports them."""
        asked = [TopicPartition(p.topic, p.partition) for p in partitions]
        first = self._consumer.beginning_offsets(asked)
        end = self._consumer.end_offsets(asked)
        return {PartitionId(tp.topic, tp.partition): (first[tp], end[tp]) for tp in asked}

    def poll(
        self, *, timeout_ms: int, max_records: int | None = None
    ) -> dict[PartitionId, list[ReceivedMessage]]:
        polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        return {
            PartitionId(tp.topic, tp.partition): [_received(r) for r in records]
            for tp, records in polled.items()
        }

    def highwater(self, partition: PartitionId) -> int | None:
        end: int | None = self._consumer.highwater(
            TopicPartition(partition.topic, partition.partition)
        )
        return end

    def close(self) -> None:
        self._consumer.close()


#: How long a topic read waits for the messages the broker reported holding.
READ_PROMISED_SECONDS = 30.0


def read_topic(bootstrap: str, topic: str, silence_seconds: float) -> list[ReceivedMessage]:
    """Read a topic from its beginning until no message arrives for `silence_seconds`.

    Partitions are assigned by hand, without a consumer group: group joins on Tansu take
    seconds. The end is found by silence, not by end offsets alone, because Tansu 0.6 can
    report end offsets short of what it stores; but the silence only counts once every
    message up to the reported end offsets arrived: under load the first fetch alone could
    take longer than the silence, and the read came back empty (seen in a test of the
    fan-out on a busy machine). TopicReadShortError when those messages are not all there
    within READ_PROMISED_SECONDS. Messages come in offset order per partition.
    """
    found = read_topics(bootstrap, [topic], silence_seconds)
    if topic not in found:
        raise TopicNotFoundError(
            f"topic {topic!r} does not exist on the broker at {bootstrap}; check the "
            "name, or create it with ensure_topics()"
        )
    return found[topic]


def read_topics(
    bootstrap: str, topics: Sequence[str], silence_seconds: float
) -> dict[str, list[ReceivedMessage]]:
    """Read several topics at once from their beginning, as `read_topic` reads one (one
    wait for silence for all); a topic that does not exist is left out of the answer."""
    reader = KafkaPythonReader(
        bootstrap,
        client_id="digione-topic-reader",
        max_poll_records=5000,
        # A fetch that finds nothing must return well within the silence we wait for.
        fetch_wait_ms=max(1, min(500, int(silence_seconds * 1000 / 4))),
    )
    try:
        assigned = [
            PartitionId(topic, partition)
            for topic in topics
            for partition in sorted(reader.partitions_for(topic))
        ]
        messages: dict[str, list[ReceivedMessage]] = {p.topic: [] for p in assigned}
        if not assigned:
            return messages
        reader.assign(assigned)
        reader.seek_to_beginning(*assigned)
        bounds = reader.offset_bounds(*assigned)
        #: Past the last message read of each partition (its first offset until then).
        reached = {partition: first for partition, (first, _) in bounds.items()}
        deadline = time.monotonic() + READ_PROMISED_SECONDS
        last_arrival = time.monotonic()
        while True:
            short = [p for p, (_, end) in bounds.items() if reached[p] < end]
            quiet_left = silence_seconds - (time.monotonic() - last_arrival)
            if not short and quiet_left <= 0:
                return messages
            if short and time.monotonic() > deadline:
                raise TopicReadShortError(
                    f"the broker at {bootstrap} reported messages it did not deliver within "
                    f"{READ_PROMISED_SECONDS:g} s: "
                    + ", ".join(
                        f"{p.topic}[{p.partition}] read to {reached[p]} of {bounds[p][1]}"
                        for p in short
                    )
                )
            polled = reader.poll(timeout_ms=max(1, int(min(max(quiet_left, 0.05), 0.25) * 1000)))
            for partition, received in polled.items():
                for message in received:
                    messages[message.topic].append(message)
                    reached[partition] = message.offset + 1
            if any(polled.values()):
                last_arrival = time.monotonic()
    finally:
        reader.close()
