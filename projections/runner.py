"""The projection runner: reads the family topics of every tenant and keeps read models current.

Each projection gets a Kafka consumer of its own, on partitions assigned by hand (no
consumer group: group joins on Tansu take seconds, and a worker can be given its share of
partitions, e.g. `partitions=[0, 2]`, so projections scale out across processes). The loop
is poll → decode → handle → commit after success (STYLE.md habit 8), with a limit on
consecutive errors so a supervisor can restart the runner cleanly.

What makes it safe to crash anywhere (DESIGN.md invariant 2): a batch's read-model changes
and the projection's position for that partition are written in one transaction. The
position is the store position carried in each message's header, so a message at or below
the partition's applied position is a duplicate and has no effect, however it came back
(a restart, a relay that republished, a broker that lost its data and was refilled).

A message whose handler raises is parked (projections/positions.py) and the projection
carries on; later messages of the same aggregate are parked behind it, so an aggregate's
events are never applied out of order. Parked messages are retried when the runner starts
and by `retry_parked()`, in store order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import kafka.errors
import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.engine import Connection, Engine

from projections import positions
from projections.base import Projection, ensure_current, finish_batch
from projections.positions import ParkedMessage, PartitionPosition
from streams import positions as relay_positions
from streams.codec import EventCodec, EventEnvelope, family_topic
from streams.kafka_transport import ReceivedMessage

__all__ = ["ProjectionRunner", "RetryOutcome", "RunnerFailedError"]

log = logging.getLogger(__name__)

#: Database errors that say nothing about the message: the runner backs off and tries the
#: same batch again instead of parking it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
)
_ERROR_TEXT_LIMIT = 1000
_FETCH_PARKED_SECONDS = 5.0


class RunnerFailedError(RuntimeError):
    """Raised when the runner stopped after too many consecutive errors."""


@dataclass(frozen=True)
class RetryOutcome:
    """What a retry of parked messages did."""

    applied: int
    still_parked: int


@dataclass
class _PartitionState:
    tenant: str
    #: Reading from the start of the log: the stored next offset may belong to another
    #: log (a refilled broker), so the first batch may start anywhere.
    from_beginning: bool = False
    #: (offset, position) the first message read must have, when resuming after a restart.
    verify: tuple[int, int | None] | None = None
    #: The consumer's position may be ahead of what was committed (a batch failed).
    needs_resume: bool = False
    #: The relay's broker epoch (streams/relay.py) when the partition was last resumed.
    epoch: str | None = None


@dataclass
class _Message:
    """A consumed message, decoded when it could be."""

    offset: int
    position: int | None
    aggregate_id: str | None
    event_type: str | None
    envelope: EventEnvelope | None = None
    #: Why it could not be decoded, or why it does not belong on its topic.
    error: str | None = None
    #: Whether its position counts in the partition's applied position: not when it names
    #: another tenant, whose positions are of another store.
    counts: bool = True


class _HandlerFailedError(Exception):
    """Raised (internally) when a handler raised for a message: its batch is rolled back."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _OutOfStepError(Exception):
    """Raised (internally) when the consumer's offset is not where the stored position is."""


class _EpochChangedError(Exception):
    """Raised (internally) when the relay publishes to a broker of another epoch."""

    def __init__(self, epoch: str | None) -> None:
        super().__init__(f"the relay's broker epoch is now {epoch}")
        self.epoch = epoch


@dataclass
class _Waiting:
    """Parked messages of a partition, as one batch's transaction sees them."""

    by_position: dict[int, ParkedMessage] = field(default_factory=dict)
    #: Parked positions per aggregate (-1 for a message without a position).
    by_aggregate: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, parked: Iterable[ParkedMessage]) -> _Waiting:
        waiting = cls()
        for p in parked:
            if p.position is not None:
                waiting.by_position[p.position] = p
            if p.aggregate_id is not None:
                waiting.by_aggregate[p.aggregate_id].add(-1 if p.position is None else p.position)
        return waiting

    def blocker(self, m: _Message) -> int | None:
        """The earliest parked position of the message's aggregate before it, if any."""
        if m.aggregate_id is None:
            return None
        position = m.position if m.position is not None else 1 << 62
        earlier = [p for p in self.by_aggregate.get(m.aggregate_id, ()) if p < position]
        return min(earlier) if earlier else None


class ProjectionRunner:
    """Keeps projections' read models current from the tenants' family topics."""

    def __init__(
        self,
        *,
        engine: Engine,
        projections: Sequence[Projection],
        codec: EventCodec,
        bootstrap: str,
        topic_prefix: str,
        tenant_ids: Callable[[], Iterable[str]],
        partitions: Collection[int] | None = None,
        max_batch: int = 500,
        poll_seconds: float = 0.5,
        refresh_seconds: float = 5.0,
        fetch_wait_ms: int = 100,
        max_consecutive_errors: int = 10,
        client_id: str = "digione-projections",
    ) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique, got {names}")
        self._engine = engine
        self._projections = list(projections)
        self._poll_seconds = poll_seconds
        self._refresh_seconds = refresh_seconds
        self._max_consecutive_errors = max_consecutive_errors
        self._workers = [
            _ProjectionWorker(
                engine=engine,
                projection=projection,
                codec=codec,
                consumer_settings={
                    "bootstrap_servers": bootstrap,
                    "client_id": f"{client_id}-{projection.name}",
                    "group_id": None,
                    "enable_auto_commit": False,
                    # After a broker lost its data our offsets may be past its end: read
                    # from the start, and positions turn what was applied into duplicates.
                    "auto_offset_reset": "earliest",
                    "allow_auto_create_topics": False,
                    "max_poll_records": max_batch,
                    "fetch_max_wait_ms": fetch_wait_ms,
                },
                topic_prefix=topic_prefix,
                tenant_ids=tenant_ids,
                share=None if partitions is None else frozenset(partitions),
                max_batch=max_batch,
            )
            for projection in self._projections
        ]
        self._prepared = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failure: BaseException | None = None

    # -- for tests and commands ------------------------------------------------------------

    def prepare(self) -> None:
        """Brings tables to the code's versions, assigns partitions, retries parked messages."""
        if self._prepared:
            return
        relay_positions.create_tables(self._engine)
        for worker in self._workers:
            if ensure_current(self._engine, worker.projection):
                log.info(
                    "projection %s (version %d) has new tables: it builds its read model from "
                    "the beginning of its topics",
                    worker.projection.name,
                    worker.projection.version,
                )
            worker.open()
        self._prepared = True
        for worker in self._workers:
            worker.refresh()
        self.retry_parked()

    def run_once(self, *, timeout_seconds: float = 30.0, silence_seconds: float = 0.5) -> int:
        """Applies what is available; returns how many messages were read.

        Stops when every assigned partition has applied what the relay recorded as
        published to it (relay_partition_positions), or after `silence_seconds` without a
        message, or at the timeout.
        """
        self.prepare()
        for worker in self._workers:
            worker.refresh()
        deadline = time.monotonic() + timeout_seconds
        total = 0
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            read = self._cycle(poll_seconds=0.1)
            total += read
            if read:
                quiet_since = time.monotonic()
            elif self.caught_up() or time.monotonic() - quiet_since >= silence_seconds:
                break
        return total

    def caught_up(self) -> bool:
        """Whether every assigned partition applied what the relay published to it."""
        with self._engine.connect() as connection:
            return all(worker.caught_up(connection) for worker in self._workers)

    def retry_parked(self) -> RetryOutcome:
        """Tries parked messages again, in store order; applied ones are unparked."""
        applied = still = 0
        for worker in self._workers:
            outcome = worker.retry_parked()
            applied += outcome.applied
            still += outcome.still_parked
        if applied or still:
            log.info("retried parked messages: %d applied, %d still parked", applied, still)
        return RetryOutcome(applied, still)

    # -- as a service ----------------------------------------------------------------------

    def start(self) -> None:
        """Runs the loop in a daemon thread until stop() or too many consecutive errors."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._loop, name="projection-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stops the loop after the batch in hand and closes the consumers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
            self._thread = None
        self.close()

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def failure(self) -> BaseException | None:
        """The last error, when the loop stopped because of too many in a row."""
        return self._failure

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._prepared = False

    def _loop(self) -> None:
        errors = 0
        last_refresh = time.monotonic()
        while not self._stop.is_set():
            try:
                self.prepare()
                if time.monotonic() - last_refresh >= self._refresh_seconds:
                    for worker in self._workers:
                        worker.refresh()
                    last_refresh = time.monotonic()
                if not any(worker.assigned for worker in self._workers):
                    self._stop.wait(self._poll_seconds)
                else:
                    self._cycle(poll_seconds=self._poll_seconds)
                errors = 0
            except Exception as error:
                errors += 1
                if errors >= self._max_consecutive_errors:
                    self._failure = error
                    log.error(
                        "projection runner stopped after %d consecutive errors; the last: %s",
                        errors,
                        _error_text(error),
                    )
                    return
                log.warning(
                    "projection runner error %d of %d allowed in a row: %s",
                    errors,
                    self._max_consecutive_errors,
                    _error_text(error),
                )
                # Backing off on the stop event, so stop() is never kept waiting.
                self._stop.wait(min(0.1 * 2 ** (errors - 1), 5.0))

    def _cycle(self, *, poll_seconds: float) -> int:
        active = [w for w in self._workers if w.assigned]
        if not active:
            return 0
        share = max(1, int(poll_seconds * 1000 / len(active)))
        return sum(worker.poll(timeout_ms=share) for worker in active)


class _ProjectionWorker:
    """One projection's consumer, partition states and transactions."""

    def __init__(
        self,
        *,
        engine: Engine,
        projection: Projection,
        codec: EventCodec,
        consumer_settings: dict[str, Any],
        topic_prefix: str,
        tenant_ids: Callable[[], Iterable[str]],
        share: frozenset[int] | None,
        max_batch: int,
    ) -> None:
        self.engine = engine
        self.projection = projection
        self._codec = codec
        self._consumer_settings = consumer_settings
        self._topic_prefix = topic_prefix
        self._tenant_ids = tenant_ids
        self._share = share
        self._max_batch = max_batch
        self._consumer: KafkaConsumer | None = None
        self._states: dict[TopicPartition, _PartitionState] = {}

    @property
    def assigned(self) -> bool:
        return bool(self._states)

    def open(self) -> None:
        if self._consumer is None:
            self._consumer = KafkaConsumer(**self._consumer_settings)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._states.clear()

    @property
    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the runner is not prepared")
        return self._consumer

    # -- assignment ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Assigns the partitions of every tenant's topics that exist now (new tenants too)."""
        tenant_of = {
            family_topic(self._topic_prefix, tenant, family): tenant
            for tenant in self._tenant_ids()
            for family in self.projection.families
        }
        # topics() lists every topic without naming any: asking for a missing topic by name
        # would let a broker that auto-creates topics (Tansu does) create it wrongly sized.
        existing = self.consumer.topics()
        wanted: dict[TopicPartition, str] = {}
        for topic, tenant in sorted(tenant_of.items()):
            if topic not in existing:
                continue
            for partition in sorted(self.consumer.partitions_for_topic(topic)):
                if self._share is None or partition in self._share:
                    wanted[TopicPartition(topic, partition)] = tenant
        if set(wanted) != set(self._states):
            self._assign(wanted)
        self._check_epochs()

    def _assign(self, wanted: dict[TopicPartition, str]) -> None:
        self.consumer.assign(list(wanted))
        kept = self._states
        self._states = {}
        for tp, tenant in wanted.items():
            state = kept.get(tp)
            if state is None:
                state = _PartitionState(tenant)
                self._states[tp] = state
                self._resume(tp, state)
            else:
                self._states[tp] = state

    def _resume(self, tp: TopicPartition, state: _PartitionState) -> None:
        """Seeks where the stored position says; checks the log is the one it was read from."""
        row = positions.ensure_partition(
            self.engine,
            projection=self.projection.name,
            tenant=state.tenant,
            topic=tp.topic,
            partition=tp.partition,
        )
        state.needs_resume = False
        state.epoch = self._relay_epoch(state.tenant)
        if row.next_offset is None or row.next_offset == 0 or row.broker_epoch != state.epoch:
            # Nothing read yet, or offsets of a log the broker no longer holds.
            self._from_beginning(tp, state)
        else:
            # Re-read the last applied message: if it is not the one stored, the broker's
            # log was replaced (data lost, the relay republished) and offsets mean nothing.
            state.from_beginning = False
            state.verify = (row.next_offset - 1, row.checkpoint_position)
            self.consumer.seek(tp, row.next_offset - 1)

    def _relay_epoch(self, tenant: str) -> str | None:
        with self.engine.connect() as connection:
            return relay_positions.published_state(connection, tenant).broker_epoch

    def _check_epochs(self) -> None:
        """Reads partitions of a tenant from the beginning once the relay changed epoch.

        A broker that lost its data may not say so: Tansu answers a fetch beyond the end of
        its new, shorter log with nothing rather than OFFSET_OUT_OF_RANGE, so a consumer
        would wait there until the new log grew past it. The relay records a new epoch
        before it publishes to such a broker, and that is what is checked here.
        """
        for tenant in {state.tenant for state in self._states.values()}:
            epoch = self._relay_epoch(tenant)
            for tp, state in self._states.items():
                if state.tenant == tenant and state.epoch != epoch:
                    self._epoch_changed(tp, state, epoch)

    def _epoch_changed(self, tp: TopicPartition, state: _PartitionState, epoch: str | None) -> None:
        if state.epoch is not None:
            log.warning(
                "%s: the relay publishes %s to a broker of epoch %s (was %s): reading %s[%d] "
                "from its beginning",
                self.projection.name,
                state.tenant,
                epoch,
                state.epoch,
                tp.topic,
                tp.partition,
            )
        state.epoch = epoch
        self._from_beginning(tp, state)

    def _from_beginning(self, tp: TopicPartition, state: _PartitionState) -> None:
        state.verify = None
        state.from_beginning = True
        self.consumer.seek_to_beginning(tp)

    # -- the loop --------------------------------------------------------------------------

    def poll(self, *, timeout_ms: int) -> int:
        for tp, state in self._states.items():
            if state.needs_resume:
                self._resume(tp, state)
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self._max_batch)
        read = 0
        pending = [tp for tp in polled if tp in self._states]
        try:
            while pending:
                tp = pending[0]
                read += self._apply_batch(tp, self._states[tp], polled[tp])
                pending.pop(0)
        except BaseException:
            # The consumer moved past what was not committed: read it again from the
            # stored positions before anything else.
            for tp in pending:
                self._states[tp].needs_resume = True
            raise
        return read

    def _apply_batch(self, tp: TopicPartition, state: _PartitionState, records: list[Any]) -> int:
        if state.verify is not None:
            offset, checkpoint = state.verify
            first = records[0]
            if first.offset != offset or _header_position(first) != checkpoint:
                log.warning(
                    "%s: the message at offset %d of %s[%d] is not the one last applied; the "
                    "broker's log was replaced, reading the partition from its beginning",
                    self.projection.name,
                    offset,
                    tp.topic,
                    tp.partition,
                )
                self._from_beginning(tp, state)
                return 0
            state.verify = None
            records = records[1:]
            if not records:
                return 0
        messages = [self._decode(state.tenant, record) for record in records]
        try:
            try:
                return self._commit(tp, state, messages)
            except _HandlerFailedError:
                pass
            # One message per transaction, so only the failing one is parked.
            for message in messages:
                try:
                    self._commit(tp, state, [message])
                except _HandlerFailedError as failed:
                    self._commit(tp, state, [message], park_error=failed.text)
            return len(messages)
        except _OutOfStepError:
            self._resume(tp, state)
            return 0
        except _EpochChangedError as changed:
            self._epoch_changed(tp, state, changed.epoch)
            return 0

    def _commit(
        self,
        tp: TopicPartition,
        state: _PartitionState,
        messages: list[_Message],
        *,
        park_error: str | None = None,
    ) -> int:
        """Applies messages and the partition's new position in one transaction."""
        name = self.projection.name
        key: dict[str, Any] = {
            "projection": name,
            "tenant": state.tenant,
            "topic": tp.topic,
            "partition": tp.partition,
        }
        with self.engine.begin() as connection:
            row = positions.lock_partition(connection, **key)
            if row is None:
                raise _OutOfStepError("the projection was reset")
            if not state.from_beginning and row.next_offset != messages[0].offset:
                # Another worker moved on, or the consumer reset after an out-of-range fetch.
                raise _OutOfStepError(f"stored next offset {row.next_offset}")
            epoch = relay_positions.published_state(connection, state.tenant).broker_epoch
            if epoch != state.epoch:
                # The relay found a broker that lost its data and republishes everything;
                # it records the new epoch before it publishes to that broker, so no
                # message of the new log is applied as if it continued the old one.
                raise _EpochChangedError(epoch)
            waiting = _Waiting.of(positions.parked_in_partition(connection, **key))
            applied = row.position
            for message in messages:
                applied = self._apply(
                    connection, key, message, applied, waiting, park_error=park_error
                )
            self._finish_batch(connection)
            last = messages[-1]
            positions.write_partition(
                connection,
                **key,
                value=PartitionPosition(applied, last.offset + 1, last.position, state.epoch),
            )
        state.from_beginning = False
        return len(messages)

    def _apply(
        self,
        connection: Connection,
        key: dict[str, Any],
        m: _Message,
        applied: int,
        waiting: _Waiting,
        *,
        park_error: str | None,
    ) -> int:
        """Applies, skips or parks one message; returns the partition's applied position."""
        parked = (
            waiting.by_position.get(m.position) if m.position is not None and m.counts else None
        )
        if m.counts and m.position is not None and m.position <= applied and parked is None:
            return applied  # a duplicate: applied (or parked) before
        advanced = applied if m.position is None or not m.counts else max(applied, m.position)
        handler = self.projection.handlers.get(m.event_type or "")
        blocker = waiting.blocker(m)
        error = park_error or m.error
        if error is None and blocker is not None and (handler is not None or parked):
            error = f"waiting for the parked message at position {blocker} of the same aggregate"
        if error is not None:
            positions.park(
                connection,
                **key,
                offset=m.offset,
                position=m.position,
                event_type=m.event_type,
                aggregate_id=m.aggregate_id,
                error=error,
                existing=parked,
            )
            if m.aggregate_id is not None:
                waiting.by_aggregate[m.aggregate_id].add(-1 if m.position is None else m.position)
            return advanced
        if handler is not None:
            assert m.envelope is not None
            try:
                handler(connection, m.envelope)
            except TRANSIENT_ERRORS:
                raise
            except Exception as failure:
                raise _HandlerFailedError(_error_text(failure)) from failure
        if parked is not None:
            positions.unpark(connection, parked.id)
            if m.aggregate_id is not None and m.position is not None:
                waiting.by_aggregate[m.aggregate_id].discard(m.position)
        return advanced

    def _finish_batch(self, connection: Connection) -> None:
        """The projection's end-of-batch work; a failure fails the batch as a handler's
        does (the batch is then applied one message at a time, the failing one parked)."""
        try:
            finish_batch(self.projection, connection)
        except TRANSIENT_ERRORS:
            raise
        except Exception as failure:
            raise _HandlerFailedError(_error_text(failure)) from failure

    def _decode(self, tenant: str, record: Any) -> _Message:
        received = ReceivedMessage(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple((name, value) for name, value in record.headers),
            timestamp_ms=record.timestamp,
        )
        message = _Message(
            offset=record.offset,
            position=_header_position(record),
            aggregate_id=_text_or_none(record.key),
            event_type=_text_or_none(received.header("event-type")),
        )
        try:
            envelope = self._codec.decode(received)
        except Exception as error:
            message.error = f"undecodable: {_error_text(error)}"
            return message
        message.envelope = envelope
        message.position = envelope.position
        message.aggregate_id = str(envelope.aggregate_id)
        message.event_type = envelope.event_type
        if envelope.tenant != tenant:
            # Tenant isolation (DESIGN.md invariant 6): a tenant's read model only ever
            # takes events from the tenant's own topics and about that tenant.
            message.error = (
                f"the message names tenant {envelope.tenant!r} on a topic of tenant {tenant!r}"
            )
            message.counts = False
        return message

    # -- catching up and retrying ----------------------------------------------------------

    def caught_up(self, connection: Connection) -> bool:
        tenants = {state.tenant for state in self._states.values()}
        for tenant in tenants:
            published = relay_positions.partition_positions(connection, tenant)
            applied = positions.applied_positions(
                connection, projection=self.projection.name, tenant=tenant
            )
            for tp, state in self._states.items():
                target = published.get((tp.topic, tp.partition))
                if state.tenant != tenant or target is None:
                    continue
                if applied.get((tp.topic, tp.partition), 0) < target:
                    return False
        return True

    def retry_parked(self) -> RetryOutcome:
        with self.engine.connect() as connection:
            parked = positions.parked_messages(connection, projection=self.projection.name)
        tenants = set(self._tenant_ids())
        # Only partitions this worker reads, of tenants that still exist: fetching from a
        # topic by name would have Tansu create it.
        parked = [
            p
            for p in parked
            if p.tenant in tenants and (self._share is None or p.partition in self._share)
        ]
        if not parked:
            return RetryOutcome(0, 0)
        applied = 0
        still = 0
        blocked: set[tuple[str, str | None]] = set()
        settings = {
            **self._consumer_settings,
            "client_id": f"{self._consumer_settings['client_id']}-retry",
        }
        fetcher = KafkaConsumer(**settings)
        try:
            for p in parked:
                if (p.tenant, p.aggregate_id) in blocked and p.aggregate_id is not None:
                    still += 1
                    continue
                if self._retry_one(fetcher, p):
                    applied += 1
                else:
                    blocked.add((p.tenant, p.aggregate_id))
                    still += 1
        finally:
            fetcher.close()
        return RetryOutcome(applied, still)

    def _retry_one(self, fetcher: KafkaConsumer, p: ParkedMessage) -> bool:
        key: dict[str, Any] = {
            "projection": p.projection,
            "tenant": p.tenant,
            "topic": p.topic,
            "partition": p.partition,
        }
        record = _fetch(fetcher, TopicPartition(p.topic, p.partition), p.offset)
        if record is None or _header_position(record) != p.position:
            # The broker's log was replaced: the runner retries it when it reads the
            # partition again from the beginning.
            return False
        message = self._decode(p.tenant, record)
        try:
            with self.engine.begin() as connection:
                positions.lock_partition(connection, **key)
                current = {x.id: x for x in positions.parked_in_partition(connection, **key)}
                if p.id not in current:
                    return True  # the runner applied it meanwhile
                if message.error is not None:
                    raise _HandlerFailedError(message.error)
                earlier = _Waiting.of(x for x in current.values() if x.id != p.id).blocker(message)
                if earlier is not None:
                    return False
                handler = self.projection.handlers.get(message.event_type or "")
                if handler is not None:
                    assert message.envelope is not None
                    try:
                        handler(connection, message.envelope)
                    except TRANSIENT_ERRORS:
                        raise
                    except Exception as failure:
                        raise _HandlerFailedError(_error_text(failure)) from failure
                self._finish_batch(connection)
                positions.unpark(connection, p.id)
            return True
        except _HandlerFailedError as failed:
            with self.engine.begin() as connection:
                positions.park(
                    connection,
                    **key,
                    offset=p.offset,
                    position=p.position,
                    event_type=p.event_type,
                    aggregate_id=p.aggregate_id,
                    error=failed.text,
                    existing=p,
                )
            return False


def _fetch(consumer: KafkaConsumer, tp: TopicPartition, offset: int) -> Any | None:
    """The record at `offset` of the partition, or None when the log holds no such offset."""
    consumer.assign([tp])
    consumer.seek(tp, offset)
    deadline = time.monotonic() + _FETCH_PARKED_SECONDS
    while time.monotonic() < deadline:
        for record in consumer.poll(timeout_ms=200, max_records=1).get(tp, []):
            return record if record.offset == offset else None
    return None


def _header_position(record: Any) -> int | None:
    for name, value in reversed(list(record.headers)):
        if name == "position":
            try:
                return int(value.decode())
            except (UnicodeDecodeError, ValueError):
                return None
    return None


def _text_or_none(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace")[:64]


def _error_text(error: BaseException) -> str:
    """A short description of an error that holds no row values.

    SQLAlchemy's statement errors print the statement's parameters, which are the row being
    written (sealed fields included); the driver's own message names the constraint instead.
    """
    inner: BaseException = error
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        inner = error.orig
    if isinstance(error, kafka.errors.KafkaError):
        inner = error
    text = f"{type(inner).__name__}: {inner}".strip()
    return text[:_ERROR_TEXT_LIMIT]
