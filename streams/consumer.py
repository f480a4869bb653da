"""The consumer side of the Kafka edge: poll, decode, hand each partition's batch to a handler.

An EventConsumer reads the topics its BatchHandler names (each of one tenant) on partitions
it assigns itself: no consumer group (group joins on Tansu take 15-23 s, DESIGN.md), and a
worker can take a share of them (`partitions=[0, 2]`) to scale out across processes. The
handler keeps the positions, in the transaction that applies a batch (DESIGN.md invariant
2): the consumer asks it where each partition resumes, and moves on only once it took a batch.

A broker that lost its data may not say so (Tansu answers a fetch past the end of its new,
shorter log with nothing, not OFFSET_OUT_OF_RANGE). The relay's broker epoch tells, or, with
none to go by, the message before the resume offset not being the one last applied: then the
partition is read from its beginning, and the handler's positions make it duplicates.

ConsumerLoop runs consumers in a thread: poll → decode → handle → commit after success
(STYLE.md habit 8), stopping past a limit of consecutive errors so a supervisor restarts it.
Beside the relay that alone publishes to its broker (serve's embedded one), a loop idles on
that relay's Publications once its consumers found nothing, where it would ask the broker
again at every fetch wait: the embedded broker holds a fetch to the end of its wait (20 ms),
and an idle `serve --demo`'s five consumers asking so cost 0.32 of a core, broker included.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from streams import positions as relay_positions
from streams.codec import DecodedMessage, EventCodec, header_position
from streams.kafka_transport import (
    KafkaPythonReader,
    PartitionId,
    PartitionReader,
    ReceivedMessage,
)

__all__ = [
    "BatchHandler",
    "BrokerEpochChangedError",
    "ConsumerLoop",
    "EventConsumer",
    "MessageFetcher",
    "PartitionBatch",
    "PartitionOutOfStepError",
    "Publications",
    "ReaderFactory",
    "ResumePoint",
    "TenantPartition",
    "check_broker_epoch",
    "describe_error",
    "kafka_python_readers",
    "linger_for",
    "poll_in_turn",
    "require_broker_epoch",
]

log = logging.getLogger(__name__)

_ERROR_TEXT_LIMIT = 1000
#: How long a fetch of one message waits for it.
_FETCH_SECONDS = 5.0


#: Opens a reader under the given Kafka client id.
ReaderFactory = Callable[[str], PartitionReader]


def kafka_python_readers(bootstrap: str, *, max_batch: int, fetch_wait_ms: int) -> ReaderFactory:
    """Opens KafkaPythonReaders of the broker at `bootstrap`."""

    def open_reader(client_id: str) -> PartitionReader:
        return KafkaPythonReader(
            bootstrap, client_id=client_id, max_poll_records=max_batch, fetch_wait_ms=fetch_wait_ms
        )

    return open_reader


@dataclass(frozen=True, slots=True)
class TenantPartition:
    """A partition the consumer reads, of a topic of one tenant."""

    tenant: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a handler's stored position says a partition continues."""

    #: The offset of the next message to read; None (or 0) before the first batch.
    next_offset: int | None
    #: The store position of the message at `next_offset - 1`, read again on resuming to
    #: check that the log is the one it was read from.
    checkpoint_position: int | None
    #: The relay's broker epoch the offsets belong to.
    broker_epoch: str | None


@dataclass(frozen=True, slots=True)
class PartitionBatch:
    """Consecutive messages of one partition, handed over to be applied as one."""

    partition: TenantPartition
    messages: Sequence[DecodedMessage]
    #: Read from the beginning of the partition's log, which may be another log than the
    #: stored offsets belong to: its first message need not be at the stored next offset.
    from_beginning: bool
    #: The relay's broker epoch the consumer read under; stored with the position.
    broker_epoch: str | None
    #: Messages of the partition after this batch, as the broker last told (its high
    #: watermark): more than a few when the handler is catching up (an import, a restart).
    backlog: int = 0


class PartitionOutOfStepError(Exception):
    """Raised by a batch handler when a batch does not start where its stored position says
    (another worker moved on, or the position was reset): the consumer resumes from it."""


class BrokerEpochChangedError(Exception):
    """Raised when the relay publishes a batch's tenant to a broker of another epoch than
    the batch was read under: the consumer reads the partition from its beginning."""

    def __init__(self, epoch: str | None) -> None:
        super().__init__(f"the relay's broker epoch is now {epoch}")
        self.epoch = epoch


class BatchHandler(Protocol):
    """What an EventConsumer needs from its user."""

    def topics(self) -> Mapping[str, str]:
        """The topics to read now, each with the tenant it belongs to; asked on refresh."""
        ...

    def resume_point(self, partition: TenantPartition) -> ResumePoint:
        """Where the partition continues by the stored position (creating it if need be)."""
        ...

    def broker_epoch(self, tenant: str) -> str | None:
        """The relay's broker epoch of the tenant now (streams/positions.py)."""
        ...

    def handle(self, batch: PartitionBatch) -> None:
        """Applies the batch with the partition's new position, atomically.

        Raises PartitionOutOfStepError or BrokerEpochChangedError (check_broker_epoch) to
        have the consumer seek again; any other error leaves the position where it was and
        reaches the loop, which counts it.
        """
        ...


#: Why a partition's batch was not applied and the consumer reads the partition again.
SeekAgain = PartitionOutOfStepError | BrokerEpochChangedError


@runtime_checkable
class PolledBatchesHandler(BatchHandler, Protocol):
    """A BatchHandler that applies the batches of one poll (a batch per partition) together:
    the runner's projections, one transaction where a transaction per partition was."""

    def handle_polled(self, batches: Sequence[PartitionBatch]) -> list[SeekAgain | None]:
        """Applies the batches, each with its partition's new position, atomically per
        batch; returns, per batch, why it was not applied (the consumer seeks again) or
        None. Any other error leaves every position where it was and reaches the loop."""
        ...


def check_broker_epoch(connection: Connection, batch: PartitionBatch) -> None:
    """Raises BrokerEpochChangedError when the relay's epoch of the batch's tenant is not
    the one the batch was read under.

    Call it in the transaction that applies the batch: the relay records a new epoch before
    it publishes to a broker that lost its data, so no message of the new log is applied
    as if it continued the old one.
    """
    require_broker_epoch(
        relay_positions.published_state(connection, batch.partition.tenant).broker_epoch, batch
    )


def require_broker_epoch(published_epoch: str | None, batch: PartitionBatch) -> None:
    """`check_broker_epoch` with the tenant's published epoch already read in the batch's
    transaction (projections/positions.py `lock_partition_for_batch`)."""
    if published_epoch != batch.broker_epoch:
        raise BrokerEpochChangedError(published_epoch)


@dataclass
class _PartitionState:
    tenant: str
    #: Reading from the start of the log: the stored next offset may belong to another
    #: log (a refilled broker), so the first batch may start anywhere.
    from_beginning: bool = False
    #: (offset, position) the first message read must have, when resuming after a restart.
    verify: tuple[int, int | None] | None = None
    #: The reader's position may be ahead of what the handler took (a batch failed).
    needs_resume: bool = False
    #: The relay's broker epoch when the partition was last resumed.
    epoch: str | None = None


class EventConsumer:
    """Reads the handler's topics on partitions it assigns itself and hands over batches."""

    def __init__(
        self,
        *,
        name: str,
        handler: BatchHandler,
        codec: EventCodec,
        readers: ReaderFactory,
        client_id: str,
        partitions: Collection[int] | None = None,
        max_batch: int = 500,
    ) -> None:
        self.name = name
        self._handler = handler
        self._codec = codec
        self._readers = readers
        self._client_id = client_id
        self._share = None if partitions is None else frozenset(partitions)
        self._max_batch = max_batch
        self._reader: PartitionReader | None = None
        self._states: dict[PartitionId, _PartitionState] = {}

    @property
    def assigned(self) -> bool:
        return bool(self._states)

    @property
    def partitions(self) -> list[TenantPartition]:
        """The partitions assigned now."""
        return [TenantPartition(s.tenant, p.topic, p.partition) for p, s in self._states.items()]

    def takes(self, partition: int) -> bool:
        """Whether the partition number is in this consumer's share."""
        return self._share is None or partition in self._share

    @property
    def is_open(self) -> bool:
        return self._reader is not None

    def open(self) -> None:
        if self._reader is None:
            self._reader = self._readers(self._client_id)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._states.clear()

    @property
    def reader(self) -> PartitionReader:
        if self._reader is None:
            raise RuntimeError(f"the consumer {self.name} is not open")
        return self._reader

    # -- assignment ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Assigns the partitions of the handler's topics that exist now (new tenants' too)."""
        tenant_of = self._handler.topics()
        # Listing every topic names none: asking for a missing topic by name would let a
        # broker that auto-creates topics (Tansu does) create it wrongly sized.
        existing = self.reader.topics()
        wanted: dict[PartitionId, str] = {}
        for topic, tenant in sorted(tenant_of.items()):
            if topic not in existing:
                continue
            for partition in sorted(self.reader.partitions_for(topic)):
                if self.takes(partition):
                    wanted[PartitionId(topic, partition)] = tenant
        if set(wanted) != set(self._states):
            self._assign(wanted)
        self._check_epochs()

    def _assign(self, wanted: dict[PartitionId, str]) -> None:
        self.reader.assign(list(wanted))
        kept = self._states
        self._states = {}
        for partition, tenant in wanted.items():
            state = kept.get(partition)
            if state is None:
                state = _PartitionState(tenant)
                self._states[partition] = state
                self._resume(partition, state)
            else:
                self._states[partition] = state

    def _resume(self, partition: PartitionId, state: _PartitionState) -> None:
        """Seeks where the stored position says; checks the log is the one it was read from."""
        point = self._handler.resume_point(TenantPartition(state.tenant, *partition))
        state.needs_resume = False
        state.epoch = self._handler.broker_epoch(state.tenant)
        if not point.next_offset or point.broker_epoch != state.epoch:
            # Nothing read yet, or offsets of a log the broker no longer holds.
            self._from_beginning(partition, state)
        else:
            # Re-read the last applied message: if it is not the one stored, the broker's
            # log was replaced (data lost, the relay republished) and offsets mean nothing.
            state.from_beginning = False
            state.verify = (point.next_offset - 1, point.checkpoint_position)
            self.reader.seek(partition, point.next_offset - 1)

    def _check_epochs(self) -> None:
        """Reads a tenant's partitions from the beginning once the relay changed epoch."""
        for tenant in {state.tenant for state in self._states.values()}:
            epoch = self._handler.broker_epoch(tenant)
            changed = [
                (partition, state)
                for partition, state in self._states.items()
                if state.tenant == tenant and state.epoch != epoch
            ]
            if changed:
                self._epoch_changed(tenant, changed, epoch)

    def _epoch_changed(
        self,
        tenant: str,
        changed: Sequence[tuple[PartitionId, _PartitionState]],
        epoch: str | None,
    ) -> None:
        """Reads the tenant's `changed` partitions from their beginning: the relay publishes
        to a broker of another epoch. Said once for them all: a projection reads four or
        five of a tenant's family topics, of three partitions each by default."""
        was = sorted({state.epoch for _, state in changed if state.epoch is not None})
        if was:
            log.warning(
                "%s: the relay publishes %s to a broker of epoch %s (was %s): reading %d "
                "partitions of its topics (%s) from their beginning",
                self.name,
                tenant,
                epoch,
                " and ".join(was),
                len(changed),
                ", ".join(sorted({partition.topic for partition, _ in changed})),
            )
        for partition, state in changed:
            state.epoch = epoch
            self._from_beginning(partition, state)

    def _from_beginning(self, partition: PartitionId, state: _PartitionState) -> None:
        state.verify = None
        state.from_beginning = True
        self.reader.seek_to_beginning(partition)

    # -- polling ---------------------------------------------------------------------------

    def poll(self, *, timeout_ms: int) -> int:
        """Hands over what arrives within `timeout_ms`, a batch per partition; returns how
        many messages the handler took."""
        for partition, state in self._states.items():
            if state.needs_resume:
                self._resume(partition, state)
        polled = self.reader.poll(timeout_ms=timeout_ms, max_records=self._max_batch)
        handed = 0
        pending = [partition for partition in polled if partition in self._states]
        try:
            if len(pending) > 1 and isinstance(self._handler, PolledBatchesHandler):
                handed = self._hand_over_together(self._handler, pending, polled)
                pending = []
            while pending:
                partition = pending[0]
                handed += self._hand_over(partition, self._states[partition], polled[partition])
                pending.pop(0)
        except BaseException:
            # The reader moved past what the handler did not take: read it again from the
            # stored positions before anything else.
            for partition in pending:
                self._states[partition].needs_resume = True
            raise
        return handed

    def _hand_over(
        self, partition: PartitionId, state: _PartitionState, received: list[ReceivedMessage]
    ) -> int:
        batch = self._batch_of(partition, state, received)
        if batch is None:
            return 0
        try:
            self._handler.handle(batch)
        except (PartitionOutOfStepError, BrokerEpochChangedError) as seek:
            return self._settle(partition, state, batch, seek)
        return self._settle(partition, state, batch, None)

    def _hand_over_together(
        self,
        handler: PolledBatchesHandler,
        pending: Sequence[PartitionId],
        polled: Mapping[PartitionId, list[ReceivedMessage]],
    ) -> int:
        batches = []
        for partition in pending:
            batch = self._batch_of(partition, self._states[partition], polled[partition])
            if batch is not None:
                batches.append((partition, batch))
        if not batches:
            return 0
        outcomes = handler.handle_polled([batch for _, batch in batches])
        return sum(
            self._settle(partition, self._states[partition], batch, outcome)
            for (partition, batch), outcome in zip(batches, outcomes, strict=True)
        )

    def _batch_of(
        self, partition: PartitionId, state: _PartitionState, received: list[ReceivedMessage]
    ) -> PartitionBatch | None:
        """The partition's batch of what was received (None: nothing to hand over), once
        the first message of a resumed partition is shown to be the one last applied."""
        if state.verify is not None and received:
            offset, checkpoint = state.verify
            first = received[0]
            if first.offset != offset or header_position(first) != checkpoint:
                log.warning(
                    "%s: the message at offset %d of %s[%d] is not the one last applied; the "
                    "broker's log was replaced, reading the partition from its beginning",
                    self.name,
                    offset,
                    partition.topic,
                    partition.partition,
                )
                self._from_beginning(partition, state)
                return None
            state.verify = None
            received = received[1:]
        if not received:
            return None
        end = self.reader.highwater(partition)
        return PartitionBatch(
            partition=TenantPartition(state.tenant, *partition),
            messages=[self._codec.decode_consumed(m, tenant=state.tenant) for m in received],
            from_beginning=state.from_beginning,
            broker_epoch=state.epoch,
            backlog=0 if end is None else max(0, end - received[-1].offset - 1),
        )

    def _settle(
        self,
        partition: PartitionId,
        state: _PartitionState,
        batch: PartitionBatch,
        outcome: SeekAgain | None,
    ) -> int:
        """After the handler: seek again when the batch was not applied; how many it took."""
        if isinstance(outcome, PartitionOutOfStepError):
            self._resume(partition, state)
            return 0
        if isinstance(outcome, BrokerEpochChangedError):
            self._epoch_changed(state.tenant, [(partition, state)], outcome.epoch)
            return 0
        state.from_beginning = False
        return len(batch.messages)

    @contextmanager
    def fetcher(self) -> Iterator[MessageFetcher]:
        """A fetcher of single messages (to retry parked ones) for the block, on a reader of
        its own so this consumer's assignment and positions stay as they are."""
        reader = self._readers(f"{self._client_id}-retry")
        try:
            yield MessageFetcher(reader, self._codec)
        finally:
            reader.close()


class MessageFetcher:
    """Fetches single messages by offset (EventConsumer.fetcher)."""

    def __init__(self, reader: PartitionReader, codec: EventCodec) -> None:
        self._reader = reader
        self._codec = codec

    def fetch(self, partition: TenantPartition, offset: int) -> DecodedMessage | None:
        """The message at `offset`, decoded; None when the log holds no such offset (a
        broker that lost its data may answer with a later one, or with nothing)."""
        at = PartitionId(partition.topic, partition.partition)
        self._reader.assign([at])
        self._reader.seek(at, offset)
        deadline = time.monotonic() + _FETCH_SECONDS
        while time.monotonic() < deadline:
            for message in self._reader.poll(timeout_ms=200, max_records=1).get(at, []):
                if message.offset != offset:
                    return None
                return self._codec.decode_consumed(message, tenant=partition.tenant)
        return None


class Publications:
    """A count of the relay's acknowledged publishing, for the consumer loops of its process
    to wait on: they look again once it moved."""

    def __init__(self) -> None:
        self._count = 0
        self._moved = threading.Condition()

    @property
    def count(self) -> int:
        return self._count

    def published(self) -> None:
        """The relay recorded newly acknowledged events."""
        with self._moved:
            self._count += 1
            self._moved.notify_all()

    def wait_past(self, count: int, timeout_seconds: float, *, stopping: threading.Event) -> None:
        """Waits until the count is past `count` (what the caller saw before it last looked),
        `stopping` is set (see `interrupt`) or the timeout."""
        with self._moved:
            self._moved.wait_for(lambda: self._count != count or stopping.is_set(), timeout_seconds)

    def interrupt(self) -> None:
        """Has every waiter look at its `stopping` event now (a loop stops)."""
        with self._moved:
            self._moved.notify_all()


def linger_for(fetch_wait_ms: int) -> float:
    """How long a loop beside the relay polls on after the relay published or a poll found
    messages (ConsumerLoop's `linger_seconds`): three fetch waits, so a fetch the broker
    held from before the publication is answered and one sent after it is too; 0.1 s at
    least."""
    return max(0.1, 3 * fetch_wait_ms / 1000)


def poll_in_turn(consumers: Sequence[EventConsumer], *, poll_seconds: float) -> int:
    """Polls each consumer with partitions, sharing `poll_seconds` among them; returns how
    many messages their handlers took."""
    active = [consumer for consumer in consumers if consumer.assigned]
    if not active:
        return 0
    share_ms = max(1, int(poll_seconds * 1000 / len(active)))
    return sum(consumer.poll(timeout_ms=share_ms) for consumer in active)


class ConsumerLoop:
    """Runs consumers in one daemon thread until stop() or too many consecutive errors.

    Each turn calls `prepare` (by default: open and assign the consumers not open yet),
    refreshes the assignments every `refresh_seconds` and polls the consumers in turn. An
    error backs off and counts; a turn without one clears the count.

    Given `publications` (the relay's, when it alone publishes to the broker), the loop
    polls briefly (`linger_seconds` in all a turn) and, once its consumers found nothing
    for `linger_seconds` (longer than a fetch the broker holds, so a fetch sent after the
    last publication was answered), waits until the relay publishes again, or
    `idle_seconds` at most, and no longer than until the next refresh.
    """

    def __init__(
        self,
        consumers: Sequence[EventConsumer],
        *,
        name: str,
        prepare: Callable[[], None] | None = None,
        poll_seconds: float = 0.5,
        refresh_seconds: float = 5.0,
        max_consecutive_errors: int = 10,
        publications: Publications | None = None,
        linger_seconds: float = 0.1,
        idle_seconds: float = 1.0,
    ) -> None:
        self.name = name
        self._consumers = list(consumers)
        self._prepare = prepare or self._open
        self._poll_seconds = poll_seconds
        self._refresh_seconds = refresh_seconds
        self._publications = publications
        self._linger_seconds = linger_seconds
        self._idle_seconds = idle_seconds
        self._max_consecutive_errors = max_consecutive_errors
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._failure = None
        self._thread = threading.Thread(
            target=self._run, name=self.name.replace(" ", "-"), daemon=True
        )
        self._thread.start()

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stops the thread after the batch in hand and closes the consumers."""
        self._stop.set()
        if self._publications is not None:
            self._publications.interrupt()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
            self._thread = None
        for consumer in self._consumers:
            consumer.close()

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def failure(self) -> BaseException | None:
        """The last error, when the thread stopped because of too many in a row."""
        return self._failure

    @property
    def publications(self) -> Publications | None:
        """The relay's publications the loop idles on; None: it polls all along."""
        return self._publications

    def _open(self) -> None:
        for consumer in self._consumers:
            if not consumer.is_open:
                consumer.open()
                consumer.refresh()

    def _run(self) -> None:
        errors = 0
        last_refresh = time.monotonic()
        #: Until when the loop polls on without waiting for the relay (with publications).
        lingering_until = 0.0
        while not self._stop.is_set():
            try:
                self._prepare()
                if time.monotonic() - last_refresh >= self._refresh_seconds:
                    for consumer in self._consumers:
                        consumer.refresh()
                    last_refresh = time.monotonic()
                if not any(consumer.assigned for consumer in self._consumers):
                    self._stop.wait(self._poll_seconds)
                elif self._publications is None:
                    poll_in_turn(self._consumers, poll_seconds=self._poll_seconds)
                else:
                    lingering_until = self._poll_or_idle(
                        lingering_until, refresh_due=last_refresh + self._refresh_seconds
                    )
                errors = 0
            except Exception as error:  # noqa: BLE001 - every error counts towards the limit
                errors += 1
                if errors >= self._max_consecutive_errors:
                    self._failure = error
                    log.error(
                        "%s stopped after %d consecutive errors; the last: %s",
                        self.name,
                        errors,
                        describe_error(error),
                    )
                    return
                log.warning(
                    "%s error %d of %d allowed in a row: %s",
                    self.name,
                    errors,
                    self._max_consecutive_errors,
                    describe_error(error),
                )
                # Backing off on the stop event, so stop() is never kept waiting.
                self._stop.wait(min(0.1 * 2 ** (errors - 1), 5.0))

    def _poll_or_idle(self, lingering_until: float, *, refresh_due: float) -> float:
        """A turn beside the relay: polls, or waits for its next publication once the
        consumers found nothing for `linger_seconds`, until the assignments' refresh is due
        at the latest (a new tenant's topics are assigned then, though the relay told of
        their first events before); returns the new lingering deadline."""
        assert self._publications is not None
        seen = self._publications.count
        if poll_in_turn(self._consumers, poll_seconds=self._linger_seconds):
            return time.monotonic() + self._linger_seconds
        now = time.monotonic()
        if now < lingering_until:
            return lingering_until
        idle = max(0.0, min(self._idle_seconds, refresh_due - now))
        self._publications.wait_past(seen, idle, stopping=self._stop)
        # Published or not (a publisher elsewhere, a missed wake), the consumers look again.
        return time.monotonic() + self._linger_seconds


def describe_error(error: BaseException) -> str:
    """A short description of an error that holds no row values.

    SQLAlchemy's statement errors print the statement's parameters, which are the row being
    written (sealed fields included); the driver's own message names the constraint instead.
    """
    inner: BaseException = error
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        inner = error.orig
    text = f"{type(inner).__name__}: {inner}".strip()
    return text[:_ERROR_TEXT_LIMIT]
