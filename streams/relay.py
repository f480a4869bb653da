"""The relay: publishes every stored event to Kafka at least once, in store order per aggregate.

For each tenant it reads the store after the position recorded in `relay_positions`, in
large pages, encodes each event straight from its stored record (streams/codec.py), and
hands it to the producer without waiting: a window of messages is in flight, and their
acknowledgements come back as delivery reports. The published position moves only over the
unbroken prefix of settled events (streams/published_prefix.py) and is recorded, with the
last position acknowledged on each partition, atomically as each run settles (one statement
on PostgreSQL: streams/acknowledged.py): an event whose delivery failed holds it back
however much after it was acknowledged, and the next pass publishes again from there. A
crash at any point resumes from the recorded position: messages may be published twice,
never skipped, and consumers absorb duplicates by the position each message carries. The
producer partitions (murmur2 of the key, Kafka's default partitioner), so partitions are
the ones every client computes.

Kafka is not the system of record, so the relay also notices a broker that lost its data
(the development broker keeps everything in memory) and publishes everything again. It
knows one by its *broker epoch* (streams/broker_epoch.py): each tenant's row records the
epoch its position was acknowledged in, and a broker of another epoch holds none of those
messages, so the tenant starts again from position 0. The epoch is checked before the
first publish and after any failure, before anything more is published; every few seconds
it is checked again in the background, while publishing goes on (a check reads the control
topic with a consumer of its own, which took seconds that stalled every batch behind it).
What the background check finds is taken up before the next page is produced: another
epoch, no marker or no answer stops the stream (what is in flight settles) and has the
epoch verified again before anything more is published, so what went to an emptied broker
meanwhile is published again from position 0. A producer that outlives a
broker restart fails its next publish (the new broker does not know its producer id),
which triggers the check at once.

One relay runs per main database. A second would do no harm beyond publishing everything
twice, but neither would it help.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal, NamedTuple, Protocol, TypedDict, TypeVar, cast

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification
from sqlalchemy.engine import Connection, Engine

from domain.application import TenantApplication
from streams import parked_events
from streams.acknowledged import acknowledging, record_acknowledged
from streams.broker_epoch import (
    BrokerEpochMarker,
    BrokerUnavailableError,
    ControlTopicCorruptError,
    MarkerNotReadError,
    control_topic,
)
from streams.codec import RETRY_HEADER, EventCodec, family_topic, partition_for
from streams.event_types import FAMILIES
from streams.kafka_transport import (
    DeliveryCallback,
    EventTransport,
    MessageRefusedError,
    OutgoingMessage,
    PipelinedTransport,
    PublishFailedError,
    ensure_topics,
)
from streams.positions import (
    PublishedState,
    create_tables,
    published_state,
    raise_partition_position,
    record_published,
    reset_published,
)
from streams.published_prefix import Advance, PublishedPrefix
from streams.stored_rows import StoredRow as _StoredRow
from streams.stored_rows import notification as _notification
from streams.stored_rows import plain_stored_state as _plain_stored_state
from streams.stored_rows import read_page as _read_page

__all__ = [
    "BrokerUnavailableError",
    "ControlTopicCorruptError",
    "EpochMarker",
    "EventNotPublishableError",
    "Relay",
    "RelayConfigurationError",
    "RetryOutcome",
    "TenantRelayStatus",
    "TenantSource",
    "backoff_seconds",
    "control_topic",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

MIN_BACKOFF_SECONDS: Final = 0.2
MAX_BACKOFF_SECONDS: Final = 30.0
EPOCH_CHECK_SECONDS: Final = 5.0
BROKER_TIMEOUT_SECONDS: Final = 10.0
STALL_SECONDS: Final = 30.0

_ERROR_TEXT_LIMIT: Final = 500


class EventNotPublishableError(RuntimeError):
    """Raised when a stored event cannot be turned into a message (no type or schema for it).

    `reason` says why without any field value (a codec error's text might quote one)."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(text)
        self.reason = reason


@dataclass(frozen=True)
class RetryOutcome:
    """What `Relay.retry_parked` did: events published (and unparked), events still parked."""

    published: int
    still_parked: int


class RelayConfigurationError(ValueError):
    """Raised when the relay's topic prefix or partition count disagrees with its codec's."""


class TenantSource(Protocol):
    """The tenants the relay serves: api.tenants.Tenants, or any subset of it."""

    def ids(self) -> list[str]: ...

    def get(self, tenant: str) -> TenantApplication: ...


class TenantRelayStatus(TypedDict):
    """How far the relay got with one tenant."""

    #: The store position up to which every event is acknowledged by the broker.
    published: int
    #: The last position in the tenant's store.
    head: int
    lag: int
    #: ok; retrying (the last attempt failed); stalled (a lag, and nothing published for
    #: longer than the relay's stall threshold).
    state: Literal["ok", "retrying", "stalled"]
    #: What the last failed attempt tripped on; None while stalled until the attempt in
    #: flight fails (a producer waiting for a dead broker gives up at its delivery timeout).
    last_error: str | None
    #: When the relay last made progress, while stalled (ISO 8601, UTC); otherwise None.
    since: str | None
    #: Events of the tenant the relay could not publish and moved past (streams/parked_events.py).
    parked: int
    #: The store position of the oldest of them; None when none is parked.
    oldest_parked: int | None


def backoff_seconds(
    failures: int,
    *,
    first: float = MIN_BACKOFF_SECONDS,
    cap: float = MAX_BACKOFF_SECONDS,
    jitter: Callable[[float, float], float] = random.uniform,
) -> float:
    """The wait after `failures` consecutive failures: doubling from `first` up to `cap`,
    drawn from its upper half so that relays restarted together do not retry in step."""
    ceiling = min(cap, first * 2 ** max(failures - 1, 0))
    return jitter(ceiling / 2, ceiling)


@dataclass
class _Failures:
    """Consecutive failures of one thing (the broker, or one tenant's events)."""

    count: int = 0
    last_error: str | None = None

    def add(self, error: BaseException) -> None:
        self.count += 1
        self.last_error = f"{type(error).__name__}: {error}"[:_ERROR_TEXT_LIMIT]

    def clear(self) -> None:
        self.count = 0
        self.last_error = None


class _BrokerFailure(Exception):
    """Wraps an error of the broker, which ends the pass for every tenant."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Relay:
    """Tails each tenant's notification log and publishes it to the tenant's family topics."""

    def __init__(
        self,
        *,
        tenants: TenantSource,
        engine: Engine,
        codec: EventCodec,
        transport_factory: Callable[[], EventTransport],
        bootstrap: str,
        topic_prefix: str,
        partitions: int,
        batch_size: int = 5000,
        max_in_flight: int = 50_000,
        idle_poll_seconds: float = 0.5,
        epoch_check_seconds: float = EPOCH_CHECK_SECONDS,
        broker_timeout_seconds: float = BROKER_TIMEOUT_SECONDS,
        min_backoff_seconds: float = MIN_BACKOFF_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        stall_seconds: float = STALL_SECONDS,
        epoch_marker: EpochMarker | None = None,
        on_published: Callable[[], None] | None = None,
    ) -> None:
        if codec.topic_prefix != topic_prefix or codec.partitions != partitions:
            raise RelayConfigurationError(
                f"the relay publishes to {topic_prefix!r} topics of {partitions} partitions, "
                f"but its codec addresses {codec.topic_prefix!r} topics of {codec.partitions}: "
                "build both from the same settings"
            )
        if batch_size < 1:
            raise RelayConfigurationError(f"batch_size must be at least 1, not {batch_size}")
        self._tenants = tenants
        self._engine = engine
        self._codec = codec
        self._transport_factory = transport_factory
        self._marker: EpochMarker = epoch_marker or BrokerEpochMarker(
            bootstrap=bootstrap,
            topic_prefix=topic_prefix,
            transport_factory=transport_factory,
            timeout_seconds=broker_timeout_seconds,
        )
        self._bootstrap = bootstrap
        self._topic_prefix = topic_prefix
        self._partitions = partitions
        self._batch_size = batch_size
        #: Events produced and not yet settled in the prefix, at most (then it waits).
        self._max_in_flight = max(max_in_flight, batch_size)
        self._idle_poll_seconds = idle_poll_seconds
        self._epoch_check_seconds = epoch_check_seconds
        self._broker_timeout_seconds = broker_timeout_seconds
        self._min_backoff_seconds = min_backoff_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._stall_seconds = stall_seconds
        #: Told each time newly acknowledged events are recorded as published (the consumer
        #: loops beside the relay look at the broker then: streams/consumer.py Publications).
        self._on_published = on_published
        create_tables(engine)
        parked_events.create_tables(engine)

        self._transport: EventTransport | None = None
        #: The connection acknowledged runs are recorded on (streams/acknowledged.py
        #: `acknowledging`), held from the first record until the relay stops or a record
        #: fails: checking one out and back for each record was a sixth of the relay's
        #: samples, most passes recording one run. Used under `_pass_lock` only.
        self._acknowledging: Connection | None = None
        #: The epoch of the broker as last verified, and when (monotonic); None: verify first.
        self._epoch: str | None = None
        self._epoch_verified_at: float | None = None
        #: The periodic epoch check running beside publishing, if one is.
        self._background_check: _BackgroundEpochCheck | None = None
        #: Per tenant, the epoch in which its topics were ensured.
        self._topics_ensured: dict[str, str] = {}

        self._state_lock = threading.Lock()
        self._broker_failures = _Failures()
        self._tenant_failures: dict[str, _Failures] = {}
        #: When the relay last made progress (published, or had nothing to publish):
        #: monotonic for the stall check, wall clock for the report.
        self._progress_at = time.monotonic()
        self._progress_wall = datetime.now(UTC)
        #: When the relay last rebuilt its broker clients because of a stall (monotonic).
        self._stall_repaired_at: float | None = None
        # One pass at a time, whether from the thread or a direct run_once().
        self._pass_lock = threading.Lock()
        self._wakeup = threading.Event()
        #: The tenants whose stores announced events since the last pass took them (a wake
        #: naming no tenant asks for every tenant), and when a pass last looked at every
        #: tenant (monotonic): see _loop.
        self._woken: set[str] = set()
        self._woken_all = True
        self._all_looked_at = 0.0
        #: The tenants served, as the last pass over every tenant listed them (see _served).
        self._served_ids: list[str] = []
        #: Each tenant's published position and epoch as this relay's last pass over it
        #: ended, having recorded them itself: a pass woken for the tenant starts from
        #: it, a pass over every tenant reads the table again (see _relay_tenant).
        self._recorded: dict[str, PublishedState] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run passes on a daemon thread until stop(): after each, wait for wake() or the
        idle timeout; after a failure, back off (the broker's failures are not cut short by
        wake(), so a stream of commands cannot hammer a broker that is down)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="digione-relay", daemon=True)
        self._thread.start()

    @property
    def is_running(self) -> bool:
        """Whether the relay's thread runs: a supervisor restarts it if it ended by itself."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self, tenant: str | None = None) -> None:
        """Ask for a pass now: called after a command saved events (of `tenant`, when the
        caller knows whose; else every tenant is looked at)."""
        with self._state_lock:
            if tenant is None:
                self._woken_all = True
            else:
                self._woken.add(tenant)
        self._wakeup.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current batch, stop the thread and close the transport."""
        self._stopping.set()
        self._wakeup.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("the relay thread did not stop within %g s", timeout)
                return
        with self._pass_lock:
            self._discard_transport()
            self._release_acknowledging()

    def run_once(self, only: Collection[str] | None = None) -> int:
        """Publish everything pending for every tenant (or for those of `only` that exist);
        return how many events were published.

        Failures do not raise: they are recorded for status(), and the next pass retries
        from the recorded positions. A failure of the broker ends the pass; a failure of one
        tenant's events leaves the other tenants to go on.
        """
        with self._pass_lock:
            published = 0
            caught_up = True
            try:
                if self._verification_due():
                    self._verify_broker()
                for tenant in self._served(only):
                    if self._stopping.is_set():
                        caught_up = False
                        break
                    count, done = self._relay_tenant(tenant, woken=only is not None)
                    published += count
                    caught_up = caught_up and done
            except _BrokerFailure as failure:
                self._broker_failed(failure.cause)
            else:
                with self._state_lock:
                    self._broker_failures.clear()
                if caught_up and only is None:
                    self._progressed()
            if not caught_up:
                self._every_tenant_next()  # what is left, when the next pass comes
            return published

    def _served(self, only: Collection[str] | None) -> list[str]:
        """The tenants a pass looks at: every served one, or those of `only` among them.
        The served tenants are listed by a pass over every tenant, and by a pass woken for
        one the last list did not have (a new municipality's first events); a pass for
        the tenants whose stores announced events uses that list: listing them on every
        pass was an eighth of the relay's CPU under a steady trickle of commands."""
        if only is None or not self._served_ids or not set(only) <= set(self._served_ids):
            self._served_ids = self._tenants.ids()
        if only is None:
            return self._served_ids
        return [tenant for tenant in self._served_ids if tenant in only]

    def _every_tenant_next(self) -> None:
        """Has the next pass look at every tenant, without bringing it forward (a pass that
        failed waits its backoff)."""
        with self._state_lock:
            self._woken_all = True

    def _tenants_to_look_at(self) -> Collection[str] | None:
        """Whose events the next pass publishes: the tenants whose stores announced events
        since the last pass, or every tenant (None) when a wake named none, after a
        failure or a pass that did not catch up, and at least every `idle_poll_seconds`
        (an announcement missed, a store that announces nothing, as SQLite's). Every
        tenant at each pass cost two statements per tenant on every event, however few
        tenants had any."""
        with self._state_lock:
            woken, self._woken = self._woken, set()
            every = (
                self._woken_all
                or self._broker_failures.count > 0
                or any(failures.count for failures in self._tenant_failures.values())
            )
            self._woken_all = False
        now = time.monotonic()
        if every or now - self._all_looked_at >= self._idle_poll_seconds:
            self._all_looked_at = now
            return None
        return woken

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                self.run_once(self._tenants_to_look_at())
            except Exception as error:  # the tenant registry or the main database
                logger.exception("a relay pass failed; retrying")
                with self._state_lock:
                    self._broker_failures.add(error)
            with self._state_lock:
                broker_failures = self._broker_failures.count
                tenant_failures = max(
                    (failures.count for failures in self._tenant_failures.values()), default=0
                )
            self._repair_if_stalled()
            if broker_failures:
                self._stopping.wait(self._backoff(broker_failures))
            elif tenant_failures:
                self._wakeup.wait(self._backoff(tenant_failures))
            elif not self._wakeup.wait(self._idle_poll_seconds):
                self._every_tenant_next()  # idle: in case an announcement was missed
        with self._pass_lock:
            self._discard_transport()
            self._release_acknowledging()

    def _progressed(self) -> None:
        """Notes progress: a batch acknowledged, or nothing left to publish."""
        with self._state_lock:
            self._progress_at = time.monotonic()
            self._progress_wall = datetime.now(UTC)
            self._stall_repaired_at = None

    def _stalled_for(self) -> float:
        """Seconds since the last progress (0 unless longer than the stall threshold)."""
        with self._state_lock:
            idle = time.monotonic() - self._progress_at
        return idle if idle > self._stall_seconds else 0.0

    def _repair_if_stalled(self) -> None:
        """A relay with a lag that published nothing for the stall threshold assumes nothing
        of its broker clients: it drops its producer and checks the broker's epoch and the
        tenants' topics again before the next batch (once per threshold while stalled)."""
        idle = self._stalled_for()
        if not idle:
            return
        now = time.monotonic()
        with self._state_lock:
            if (
                self._stall_repaired_at is not None
                and now - self._stall_repaired_at < self._stall_seconds
            ):
                return
            self._stall_repaired_at = now
            error = self._broker_failures.last_error
        logger.error(
            "the relay has published nothing for %.0f s while events wait (last error: %s): "
            "rebuilding its producer and checking the broker at %s again; if this repeats, "
            "check the broker and `digione relay parked`",
            idle,
            error,
            self._bootstrap,
        )
        with self._pass_lock:
            self._discard_transport()
            self._epoch_verified_at = None
            self._topics_ensured.clear()

    def _backoff(self, failures: int) -> float:
        return backoff_seconds(
            failures, first=self._min_backoff_seconds, cap=self._max_backoff_seconds
        )

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, TenantRelayStatus]:
        """Per tenant: published and head positions, the lag, and whether it is retrying."""
        with self._state_lock:
            broker_error = self._broker_failures.last_error
            tenant_errors = {
                tenant: failures.last_error
                for tenant, failures in self._tenant_failures.items()
                if failures.count
            }
            progress_wall = self._progress_wall
        stalled_since = progress_wall.isoformat() if self._stalled_for() else None
        report: dict[str, TenantRelayStatus] = {}
        with self._engine.connect() as connection:
            parked = parked_events.parked_summary(connection)
            for tenant in self._tenants.ids():
                published = published_state(connection, tenant).position
                head = self._tenants.get(tenant).head_position()
                lag = max(head - published, 0)
                # A broker that is down holds up only the tenants with something to publish.
                error = tenant_errors.get(tenant) or (broker_error if lag else None)
                since = stalled_since if lag else None
                state: Literal["ok", "retrying", "stalled"] = (
                    "stalled" if since else "retrying" if error else "ok"
                )
                tenant_parked = parked.get(tenant, parked_events.ParkedSummary(0, None))
                report[tenant] = {
                    "published": published,
                    "head": head,
                    "lag": lag,
                    "state": state,
                    "last_error": error,
                    "since": since,
                    "parked": tenant_parked.parked,
                    "oldest_parked": tenant_parked.oldest_position,
                }
        return report

    def parked(self, tenant: str | None = None) -> list[parked_events.ParkedEvent]:
        """The events the relay moved past (of one tenant), in store order."""
        with self._engine.connect() as connection:
            return parked_events.parked_events(connection, tenant=tenant)

    def retry_parked(self, tenant: str, position: int | None = None) -> RetryOutcome:
        """Publishes the tenant's parked events (or the one at `position`) again, in store
        order; each one acknowledged leaves the table, each refused again stays with its new
        reason. Raises BrokerUnavailableError when the broker cannot be reached."""
        with self._pass_lock:
            try:
                self._verify_broker()
                with self._engine.connect() as connection:
                    rows = parked_events.parked_events(connection, tenant=tenant, position=position)
                app = self._tenants.get(tenant) if rows else None
                published = still = 0
                for row in rows:
                    assert app is not None
                    if self._retry_one(tenant, app, row):
                        published += 1
                    else:
                        still += 1
            except _BrokerFailure as failure:
                self._discard_transport()
                self._epoch_verified_at = None
                raise BrokerUnavailableError(
                    f"the broker at {self._bootstrap} failed: {failure.cause}; nothing more "
                    "was retried, try again once it answers"
                ) from failure.cause
            if published:
                self.wake()
                self._announce_published()
            return RetryOutcome(published, still)

    def _retry_one(
        self, tenant: str, app: TenantApplication, row: parked_events.ParkedEvent
    ) -> bool:
        notifications = app.recorder.select_notifications(start=row.position, limit=1)
        if not notifications or notifications[0].id != row.position:
            logger.warning(
                "the parked event at position %d of tenant %s is no longer in its store",
                row.position,
                tenant,
            )
            return False
        notification = notifications[0]
        try:
            message = self._encode(tenant, app, notification)
        except EventNotPublishableError as error:
            self._park(tenant, notification, error.reason)
            return False
        # Consumers applied later positions already: the header tells them this one is due.
        message = OutgoingMessage(
            topic=message.topic,
            key=message.key,
            value=message.value,
            headers=[*message.headers, (RETRY_HEADER, b"1")],
            partition=message.partition,
        )
        self._ensure_tenant_topics(tenant)
        try:
            self._send([message])
        except MessageRefusedError as refused:
            self._park(tenant, notification, _size_reason(refused.refused[0]))
            return False
        assert message.partition is not None
        with self._engine.begin() as connection:
            raise_partition_position(
                connection, tenant, message.topic, message.partition, notification.id
            )
            parked_events.unpark(connection, tenant, notification.id)
        logger.info(
            "the parked event at position %d of tenant %s is published", row.position, tenant
        )
        return True

    def _park(
        self,
        tenant: str,
        notification: Notification,
        reason: str,
        connection: Connection | None = None,
    ) -> None:
        """Records the event as parked (in `connection`'s transaction, or one of its own);
        logs it at ERROR the first time."""
        if connection is None:
            with self._engine.begin() as own:
                self._park(tenant, notification, reason, own)
            return
        new = parked_events.park(
            connection,
            tenant=tenant,
            position=notification.id,
            event_type=notification.topic,
            originator_id=str(notification.originator_id),
            originator_version=notification.originator_version,
            reason=reason,
        )
        if new:
            logger.error(
                "the event at position %d of tenant %s (%s) cannot be published and is "
                "parked; later events flow on. Why: %s. See `digione relay parked --tenant %s`; "
                "once fixed, `digione relay retry --tenant %s --position %d` publishes it",
                notification.id,
                tenant,
                notification.topic,
                reason,
                tenant,
                tenant,
                notification.id,
            )

    # -- one tenant ------------------------------------------------------------------------

    def _relay_tenant(self, tenant: str, *, woken: bool) -> tuple[int, bool]:
        """Publish the tenant's pending events; return how many, and whether nothing is left.
        Raise _BrokerFailure when the broker fails.

        A pass `woken` for the tenant starts from the position and epoch this relay
        recorded at the end of its last pass over it, where it read them from the table on
        every pass (a round trip, 14-16% of the relay's samples under the freshness load);
        the relay is their only writer. Any other pass reads the table, and a pass that
        failed forgets what it had, so the next reads it again."""
        published = 0
        caught_up = False
        recorded = self._recorded.pop(tenant, None)
        try:
            app = self._tenants.get(tenant)
            if recorded is None or not woken:
                with self._engine.connect() as connection:
                    recorded = published_state(connection, tenant)
            position, tenant_epoch = recorded
            while not self._stopping.is_set():
                if position and self._epoch is not None and tenant_epoch != self._epoch:
                    self._republish(tenant, lost_epoch=tenant_epoch)
                    position, tenant_epoch = 0, self._epoch
                rows = _read_page(app, position + 1, self._batch_size)
                if not rows:
                    caught_up = True
                    break
                if self._verification_due():
                    self._verify_broker()
                    if position and tenant_epoch != self._epoch:
                        continue  # the broker lost what this tenant published: start again
                if tenant_epoch != self._epoch:
                    tenant_epoch = self._start_log(tenant)
                run = self._stream(tenant, app, position, rows)
                position, tenant_epoch = run.position, self._epoch
                published += run.published
                if run.caught_up:
                    caught_up = True
                    break
        except _BrokerFailure:
            raise
        except Exception as error:  # noqa: BLE001 - one tenant's fault must not stop the others
            self._tenant_failed(tenant, error)
            return published, False
        self._recorded[tenant] = PublishedState(position, tenant_epoch)
        self._tenant_succeeded(tenant)
        return published, caught_up

    def _stream(
        self,
        tenant: str,
        app: TenantApplication,
        position: int,
        rows: Sequence[_StoredRow],
    ) -> _Run:
        """Produce the tenant's events from `rows` on, page after page, without
        waiting for acknowledgements, recording the published position as the unbroken
        prefix of settled events grows (streams/published_prefix.py). Stops producing when
        caught up, when stopping, when the broker's epoch is to be verified again or when a
        delivery failed; then waits for what is in flight and records what it settled."""
        assert self._epoch is not None, "the broker is verified before anything is published"
        self._ensure_tenant_topics(tenant)
        transport = self._pipelined_transport()
        stream = _TenantStream(tenant, PublishedPrefix(position))
        plain = _plain_stored_state(app)
        produced = 0
        caught_up = False
        prefix, delivered = stream.prefix, stream.delivered
        while True:
            for row in rows:
                token = prefix.sent(row[0])
                message = self._encode_row(tenant, row) if plain else None
                if message is None:
                    notification = _notification(row)
                    try:
                        message = self._encode(tenant, app, notification)
                    except EventNotPublishableError as error:
                        stream.parking[notification.id] = notification
                        prefix.refused(token, error.reason)
                        continue
                try:
                    transport.produce(message, token, delivered)
                except Exception as error:  # noqa: BLE001 - the broker's: nothing more goes out
                    prefix.failed(token, f"{type(error).__name__}: {error}"[:_ERROR_TEXT_LIMIT])
                    break
                produced += 1
            transport.poll(0)
            self._checkpoint(app, stream)
            waiting = _AcknowledgementWait(prefix.position, self._epoch_check_seconds)
            while prefix.in_flight > self._max_in_flight and not prefix.failure:
                transport.poll(0.05)
                self._checkpoint(app, stream)
                self._give_up_if_broker_lost_them(stream, transport, waiting)
            if stream.prefix.failure:
                break
            if len(rows) < self._batch_size:
                caught_up = True
                break
            if self._stopping.is_set() or self._verification_due():
                break
            rows = _read_page(app, rows[-1][0] + 1, self._batch_size)
            if not rows:
                caught_up = True
                break
        self._drain(app, transport, stream)
        failure = stream.prefix.failure
        if failure is not None:
            raise _BrokerFailure(
                PublishFailedError(
                    f"the broker did not acknowledge the event at position {failure[0]} of "
                    f"tenant {tenant!r} ({failure[1]}); it and what follows are published "
                    "again from there"
                )
            )
        return _Run(stream.prefix.position, produced, caught_up)

    def _checkpoint(self, app: TenantApplication, stream: _TenantStream) -> None:
        """Settle the messages refused by the broker (each tried alone), then record the
        position the prefix moved to, with the events it passed that are parked."""
        while stream.refused:
            token, reason = stream.refused.pop(0)
            self._try_alone(app, stream, token, reason)
        before = stream.prefix.position
        advance = stream.prefix.advance()
        if not advance.moved:
            return
        # Only after the acknowledgement: a crash before this transaction publishes these
        # events again, which consumers absorb; recording first could skip them. A
        # position lost with the server's last transactions is published again as well,
        # so `serve`'s relay commits it without waiting for the WAL's flush (its engine's
        # sessions have synchronous_commit off: api/bootstrap.py _pipeline_engine).
        if not advance.refused and self._epoch is not None:
            # As good as always: one round trip (streams/acknowledged.py).
            if self._acknowledging is None:
                self._acknowledging = acknowledging(self._engine)
            try:
                record_acknowledged(
                    self._acknowledging,
                    stream.tenant,
                    first=before + 1,
                    last=advance.last,
                    partitions=advance.partitions,
                    broker_epoch=self._epoch,
                )
            except BaseException:
                self._release_acknowledging()  # perhaps dead: the next record opens another
                raise
        else:
            self._record_with_parked(stream, before, advance)
        with self._state_lock:
            self._broker_failures.clear()
        self._progressed()
        self._announce_published()

    def _record_with_parked(self, stream: _TenantStream, before: int, advance: Advance) -> None:
        """Records an advance in one transaction with the refused events it passed,
        parked there (the path of every advance before streams/acknowledged.py)."""
        with self._engine.begin() as connection:
            for position, reason in advance.refused.items():
                self._park(stream.tenant, stream.parking.pop(position), reason, connection)
            parked_events.unpark_published(
                connection, stream.tenant, before + 1, advance.last, still_parked=advance.refused
            )
            record_published(
                connection,
                stream.tenant,
                advance.last,
                advance.partitions,
                broker_epoch=self._epoch,
            )

    def _announce_published(self) -> None:
        if self._on_published is not None:
            self._on_published()

    def _try_alone(
        self, app: TenantApplication, stream: _TenantStream, token: int, reason: str
    ) -> None:
        """A broker refuses a whole record batch, so a message refused for what it is is
        tried alone: parked only if refused alone too."""
        position = stream.prefix.position_of(token)
        notification = app.recorder.select_notifications(start=position, limit=1)[0]
        try:
            message = self._encode(stream.tenant, app, notification)
            self._send([message])
        except MessageRefusedError as alone:
            stream.parking[position] = notification
            stream.prefix.refused(token, _size_reason(alone.refused[0]))
        except EventNotPublishableError as error:
            stream.parking[position] = notification
            stream.prefix.refused(token, error.reason)
        except _BrokerFailure as failure:
            stream.prefix.failed(token, f"{failure.cause}"[:_ERROR_TEXT_LIMIT])
        else:
            assert message.partition is not None  # the codec's own encode names it
            stream.prefix.acknowledged(token, message.topic, message.partition)

    def _drain(
        self, app: TenantApplication, transport: PipelinedTransport, stream: _TenantStream
    ) -> None:
        """Wait for the messages in flight (each is acknowledged or fails by the producer's
        delivery timeout, or all are given up when the broker lost its data meanwhile),
        recording progress as it comes."""
        waiting = _AcknowledgementWait(stream.prefix.position, self._epoch_check_seconds)
        while stream.prefix.in_flight and not stream.prefix.failure:
            problem: str | None = None
            try:
                unsettled = transport.flush(1.0)
            except Exception as error:  # noqa: BLE001 - the broker's: recorded as a failure
                unsettled = -1
                problem = f"{type(error).__name__}: {error}"[:_ERROR_TEXT_LIMIT]
            self._checkpoint(app, stream)
            if unsettled == 0 and stream.prefix.in_flight and not stream.prefix.failure:
                problem = "the producer reported no delivery for it"
            if problem is not None:
                stream.prefix.fail_first_unsettled(problem)
            else:
                self._give_up_if_broker_lost_them(stream, transport, waiting)

    def _give_up_if_broker_lost_them(
        self, stream: _TenantStream, transport: PipelinedTransport, waiting: _AcknowledgementWait
    ) -> None:
        """Fails the stream and abandons the transport it produces through when the broker
        lost its data while the stream's messages wait for acknowledgement: its epoch, read
        in the background once they waited `epoch_check_seconds` with none settled, is
        another (or none: a broker restarted empty has no control topic). librdkafka holds
        messages sent toward a broker restarted empty for about 30 s (seen with delivery
        timeouts of 30 s and of 120 s), where the relay publishes them again from the new
        epoch's start anyway. An unreachable broker, the same one, or one that gave no
        marker in time (a slow broker, not an emptied one: publishing again would only
        duplicate) leaves them to the producer as before."""
        now = time.monotonic()
        if stream.prefix.position != waiting.position:
            waiting.settled(stream.prefix.position, now)
            return
        if now < waiting.look_at:
            return
        check = self._background_check
        if check is None:
            self._start_background_check()
            return
        if not check.done.is_set():
            return
        self._take_up_background_check()
        waiting.settled(stream.prefix.position, now)
        if check.error is not None or check.epoch == self._epoch:
            return
        stream.prefix.fail_first_unsettled(
            f"the broker's epoch is {check.epoch or 'unmarked'}, not {self._epoch}, while "
            "events awaited its acknowledgement: it lost its data"
        )
        self._transport = None  # the next pass builds another
        try:
            transport.abandon()
        except Exception:  # it is given up either way
            logger.debug("abandoning a producer raised", exc_info=True)

    def _send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish; MessageRefusedError passes as it is, any other error is the broker's."""
        try:
            self._transport_().publish(messages)
        except MessageRefusedError:
            raise
        except Exception as error:
            raise _BrokerFailure(error) from error

    def _encode_row(self, tenant: str, row: _StoredRow) -> OutgoingMessage | None:
        """The event's message straight from its stored record; None when the record needs
        the domain event's path (an upcast, a value the fast path does not know)."""
        position, aggregate_id, aggregate_version, topic, state = row
        try:
            return self._codec.encode_stored(
                tenant, position, topic, aggregate_id, aggregate_version, state
            )
        except Exception:  # noqa: BLE001 - the domain event's path decides
            return None

    def _encode(
        self, tenant: str, app: TenantApplication, notification: Notification
    ) -> OutgoingMessage:
        """The event's message made of its domain event (the codec names its partition)."""
        try:
            # A tenant's store holds nothing but the events of its aggregates.
            event = cast(Aggregate.Event, app.mapper.to_domain_event(notification))
            return self._codec.encode(tenant, notification.id, event)
        except Exception as error:
            raise EventNotPublishableError(
                f"the event at position {notification.id} of tenant {tenant!r} "
                f"(stored as {notification.topic!r}) cannot be encoded: "
                f"{type(error).__name__}: {error}. It is parked: add its type to "
                "streams/event_types.py and its schema to schemas/, then retry it",
                # The error's text may quote a field value: only its class is kept.
                reason=(
                    f"the codec cannot encode it ({type(error).__name__}): add its type to "
                    "streams/event_types.py and its schema to schemas/, then retry it"
                ),
            ) from error

    def _republish(self, tenant: str, *, lost_epoch: str | None) -> None:
        assert self._epoch is not None
        logger.warning(
            "the broker at %s holds none of tenant %s's events (broker epoch %s, they were "
            "published in %s): publishing them again from position 1",
            self._bootstrap,
            tenant,
            self._epoch,
            lost_epoch,
        )
        self._start_log(tenant)

    def _start_log(self, tenant: str) -> str:
        """Records that the tenant's log starts (at position 0) in the broker's epoch,
        before anything of it is produced there: at its first publication, and when the
        broker lost what it had. A consumer that reads the first message before the relay
        records its acknowledgement then finds the epoch it was read under
        (streams/consumer.py check_broker_epoch); recorded only with that acknowledgement,
        the epoch appeared after such a read, the consumer took it for another broker's
        and read the partition again from its beginning (a service received the tenant's
        first events twice)."""
        assert self._epoch is not None
        with self._engine.begin() as connection:
            reset_published(connection, tenant, broker_epoch=self._epoch)
        return self._epoch

    def _ensure_tenant_topics(self, tenant: str) -> None:
        assert self._epoch is not None
        if self._topics_ensured.get(tenant) == self._epoch:
            return
        names = [family_topic(self._topic_prefix, tenant, family) for family in FAMILIES]
        self._broker_call(
            lambda: ensure_topics(
                self._bootstrap,
                names,
                self._partitions,
                timeout_seconds=self._broker_timeout_seconds,
                # Event topics are replayable from position 0 (rebuilds, auditors), so
                # Apache Kafka must keep them forever, not its default seven days.
                configs={"retention.ms": "-1"},
            )
        )
        self._topics_ensured[tenant] = self._epoch

    def _tenant_failed(self, tenant: str, error: BaseException) -> None:
        with self._state_lock:
            failures = self._tenant_failures.setdefault(tenant, _Failures())
            failures.add(error)
            count = failures.count
        logger.warning(
            "relaying tenant %s failed (%d in a row), will retry: %s",
            tenant,
            count,
            failures.last_error,
        )

    def _tenant_succeeded(self, tenant: str) -> None:
        with self._state_lock:
            failures = self._tenant_failures.get(tenant)
            if failures is not None:
                failures.clear()

    # -- the broker ------------------------------------------------------------------------

    def _transport_(self) -> EventTransport:
        if self._transport is None:
            self._transport = self._transport_factory()
        return self._transport

    def _pipelined_transport(self) -> PipelinedTransport:
        transport = self._transport_()
        if isinstance(transport, PipelinedTransport):
            return transport
        return _PublishedInBatches(transport, self._partitions)

    def _release_acknowledging(self) -> None:
        """Returns the connection acknowledged runs are recorded on to the pool."""
        connection, self._acknowledging = self._acknowledging, None
        # If it failed already, the next record opens another.
        _close_quietly(connection, "the relay's recording connection")

    def _discard_transport(self) -> None:
        transport, self._transport = self._transport, None
        # If it failed already, a new one is built for the next attempt.
        _close_quietly(transport, "a failed transport")

    def _broker_call(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as error:
            raise _BrokerFailure(error) from error

    def _broker_failed(self, error: BaseException) -> None:
        # After any failure nothing is assumed of the broker: a new producer, and the
        # epoch checked again before the next publish.
        self._discard_transport()
        self._epoch_verified_at = None
        with self._state_lock:
            self._broker_failures.add(error)
            count, text = self._broker_failures.count, self._broker_failures.last_error
        logger.warning(
            "the broker at %s failed (%d in a row), will retry: %s", self._bootstrap, count, text
        )

    def _verification_due(self) -> bool:
        """Whether the broker's epoch must be verified before the next publish: at first,
        after any failure, and when a check in the background found reason to. The periodic
        re-check itself runs in the background and holds up nothing."""
        self._take_up_background_check()
        if self._epoch_verified_at is None:
            return True
        if time.monotonic() - self._epoch_verified_at >= self._epoch_check_seconds:
            self._start_background_check()
        return False

    def _start_background_check(self) -> None:
        """Reads the broker's epoch on a thread of its own (one at a time)."""
        if self._background_check is not None:
            return
        check = _BackgroundEpochCheck(began=time.monotonic())
        self._background_check = check
        threading.Thread(
            target=check.run, args=(self._marker,), name="digione-relay-epoch", daemon=True
        ).start()

    def _take_up_background_check(self) -> None:
        """Takes up what a finished background check found: the same epoch counts as
        verified when the check began; anything else has the epoch verified again, before
        the next publish, by the same path as after a failure (which logs a changed epoch,
        writes a missing marker and republishes what the broker lost)."""
        check = self._background_check
        if check is None or not check.done.is_set():
            return
        self._background_check = None
        if self._epoch_verified_at is None:
            return  # a failure meanwhile: verified again before the next publish anyway
        if check.error is None and check.epoch is not None and check.epoch == self._epoch:
            self._epoch_verified_at = max(self._epoch_verified_at, check.began)
        else:
            self._epoch_verified_at = None

    def _read_marker(self) -> str | None:
        """The broker's epoch; None when it has no marker, or a control topic that gave no
        message in time: it may hold none (a relay stopped between creating it and writing
        the marker), and where it does, a marker written now comes second, after the one
        that names the epoch."""
        try:
            return self._marker.read()
        except MarkerNotReadError:
            return None

    def _verify_broker(self) -> None:
        """Learn the broker's epoch, writing the first marker if the broker has none."""
        epoch = self._broker_call(self._read_marker)
        if epoch is None:
            # Nothing to worry about on a new broker; on one that lost its data, each tenant
            # says so below when it starts again from position 1.
            logger.info(
                "the broker at %s has no relay marker in %s: it is new or lost its data",
                self._bootstrap,
                control_topic(self._topic_prefix),
            )
            self._broker_call(self._marker.write)
            # Whichever marker came first is the epoch, should another relay write at once.
            epoch = self._broker_call(self._marker.read)
            if epoch is None:
                raise _BrokerFailure(
                    BrokerUnavailableError(
                        f"the relay marker written to {control_topic(self._topic_prefix)} "
                        f"could not be read back within {self._broker_timeout_seconds:g} s"
                    )
                )
        if self._epoch is not None and epoch != self._epoch:
            logger.warning(
                "the broker at %s changed epoch from %s to %s: it lost its data",
                self._bootstrap,
                self._epoch,
                epoch,
            )
            self._topics_ensured.clear()
            self._recorded.clear()  # the next pass reads what the table says
            # Its producer id and sequence numbers belong to the lost broker: a new producer.
            self._discard_transport()
        self._epoch = epoch
        self._epoch_verified_at = time.monotonic()
        # The failure count is not cleared here: a broker that answers this check may still
        # fail every publish, and /healthz must keep saying so (only a publish or a whole
        # pass that succeeds clears it).


class EpochMarker(Protocol):
    """Reads and writes the broker's epoch marker (streams/broker_epoch.py)."""

    def read(self) -> str | None:
        """The epoch; None when the broker has no control topic, MarkerNotReadError when
        it has one but gave no message of it in time."""
        ...

    def write(self) -> None: ...


@dataclass
class _AcknowledgementWait:
    """Messages waiting for their acknowledgement: the published position when one last
    settled, and when to look at the broker's epoch if none settles meanwhile."""

    position: int
    patience_seconds: float
    look_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.look_at = time.monotonic() + self.patience_seconds

    def settled(self, position: int, now: float) -> None:
        self.position, self.look_at = position, now + self.patience_seconds


@dataclass
class _BackgroundEpochCheck:
    """A periodic epoch check on a thread of its own, and what it found."""

    #: When it began (monotonic): a matching epoch counts as verified then.
    began: float
    epoch: str | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, marker: EpochMarker) -> None:
        try:
            self.epoch = marker.read()
        except Exception as error:  # noqa: BLE001 - taken up by the publishing thread
            self.error = error
        finally:
            self.done.set()


class _PublishedInBatches:
    """A transport that only publishes whole batches, streamed through as the relay streams:
    what is produced is published, and acknowledged, at the next poll or flush."""

    def __init__(self, transport: EventTransport, partitions: int) -> None:
        self._transport = transport
        self._partitions = partitions
        self._queued: list[tuple[OutgoingMessage, int, DeliveryCallback]] = []

    def produce(self, message: OutgoingMessage, token: int, on_delivery: DeliveryCallback) -> None:
        self._queued.append((message, token, on_delivery))

    def poll(self, timeout_seconds: float) -> None:
        self._publish()

    def flush(self, timeout_seconds: float) -> int:
        self._publish()
        return 0

    def publish(self, batch: Sequence[OutgoingMessage]) -> None:
        self._transport.publish(batch)

    def close(self) -> None:
        self._transport.close()

    def abandon(self) -> None:
        # Each publish waited for its acknowledgements: only what is queued is pending.
        self._queued = []
        self._transport.close()

    def _publish(self) -> None:
        queued, self._queued = self._queued, []
        if not queued:
            return
        refused: dict[int, str] = {}
        failure: str | None = None
        try:
            self._transport.publish([message for message, _, _ in queued])
        except MessageRefusedError as error:
            refused = error.refused
        except Exception as error:  # noqa: BLE001 - the broker's: every message failed
            failure = f"{type(error).__name__}: {error}"[:_ERROR_TEXT_LIMIT]
        for index, (message, token, on_delivery) in enumerate(queued):
            if failure is not None:
                on_delivery(token, message.topic, -1, failure, False)
            elif index in refused:
                on_delivery(token, message.topic, -1, refused[index], True)
            else:
                partition = message.partition
                if partition is None:
                    partition = partition_for(message.key, self._partitions)
                on_delivery(token, message.topic, partition, None, False)


def _close_quietly(resource: Connection | EventTransport | None, what: str) -> None:
    """Closes what the relay held (None: nothing); an error closing it is only logged."""
    if resource is None:
        return
    try:
        resource.close()
    except Exception:  # it failed already: closing it is a courtesy
        logger.debug("closing %s raised", what, exc_info=True)


class _TenantStream:
    """One tenant's events in flight: their prefix, the events the broker refused (to be
    tried alone) and the events to park once the prefix passes them."""

    def __init__(self, tenant: str, prefix: PublishedPrefix) -> None:
        self.tenant = tenant
        self.prefix = prefix
        self.refused: list[tuple[int, str]] = []
        self.parking: dict[int, Notification] = {}
        #: Bound once: the transport keeps a reference per message in flight.
        self.delivered: DeliveryCallback = self._delivered

    def _delivered(
        self, token: int, topic: str, partition: int, error: str | None, refused: bool
    ) -> None:
        if error is None:
            self.prefix.acknowledged(token, topic, partition)
        elif refused:
            self.refused.append((token, error))
        else:
            self.prefix.failed(token, error)


class _Run(NamedTuple):
    """What `Relay._stream` did: the position recorded, events produced, whether caught up."""

    position: int
    published: int
    caught_up: bool


def _size_reason(refusal: str) -> str:
    return (
        f"the producer or the broker refuses the message ({refusal}): raise "
        "DIGIONE_RELAY_MAX_MESSAGE_BYTES (and the broker's and topic's message.max.bytes), "
        "then retry it"
    )
