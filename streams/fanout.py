"""The service fan-out: family topics → each service's topic, by agreement and consent.

For each tenant with service agreements, one EventConsumer (streams/consumer.py) reads the
family topics, and each event goes to every service whose basis holds for it
(streams/service_basis.py) as its service view (streams/service_view.py): only the event
types the agreement covers, only for subjects the basis holds for at the event and still
holds now, with only the personal fields its categories (and the consent) allow.

Forget notices: a consent revoked or expired, an agreement ended or narrowed, and an
erasure each send the services concerned a ForgetSubject notice; from the moment the cause
is in the store nothing more of that subject reaches them.

Positions: the produce is at-least-once. A batch's messages are published and
acknowledged by the broker first; then, in one transaction, the partition's next offset and
the subjects delivered are written. A crash between the two publishes the batch again on
restart (duplicates, never a gap); nothing is ever sent that the basis did not allow.

Service topics have one partition, so a service reads one sequence (the HTTP pull's cursor
is its offset) and a forget notice always follows what it asks to delete.

Personal fields a service may see are re-sealed under a key of that service and subject
(streams/service_view.py), or sent in clear where the agreement says `delivery: clear`.
When that key is gone (the subject erased, the agreement ended) the event is not delivered
at all: never in clear instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.domain import Aggregate
from sqlalchemy.engine import Connection, Engine

from domain.agreements import CLEAR, CONSENT
from domain.application import TenantApplication
from domain.sealing import ERASED, RetentionClass, SealedValue
from streams import avro_encoding, parked_events
from streams import positions as relay_positions
from streams.codec import DecodedMessage, EventCodec, EventEnvelope, family_topic
from streams.consumer import (
    ConsumerLoop,
    EventConsumer,
    PartitionBatch,
    PartitionOutOfStepError,
    Publications,
    ReaderFactory,
    ResumePoint,
    TenantPartition,
    check_broker_epoch,
    describe_error,
    kafka_python_readers,
    linger_for,
)
from streams.event_types import FAMILIES
from streams.kafka_transport import (
    EventTransport,
    MessageRefusedError,
    OutgoingMessage,
    ReceivedMessage,
)
from streams.parked_events import FANOUT_PARKED
from streams.schemas import SchemaRegistry
from streams.service_basis import BasisTimeline, ConsentSpan, basis_of
from streams.service_view import (
    FORGET_TYPE,
    SERVICE_FAMILIES,
    seal_personal_data,
    service_key_id,
    service_topic,
    service_type_name,
)

__all__ = [
    "Delivery",
    "FanOutHandler",
    "ServiceFanOut",
    "caught_up",
    "create_tables",
    "delivered_subjects",
    "wait_caught_up",
    "was_forgotten",
]

log = logging.getLogger(__name__)

#: The user fields that are contact details; a user's other personal fields are identity.
CONTACT_FIELDS = frozenset({"email", "sms", "phone"})

metadata = sa.MetaData()
fanout_positions = sa.Table(
    "service_fanout_positions",
    metadata,
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_position", sa.BigInteger, nullable=True),
    sa.Column("broker_epoch", sa.String(64), nullable=True),
)
#: Which services received something of which subject: whom a forget notice goes to.
fanout_subjects = sa.Table(
    "service_fanout_subjects",
    metadata,
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("service", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(128), primary_key=True),
    sa.Column("first_position", sa.BigInteger, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Column("forgotten_position", sa.BigInteger, nullable=True),
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)
    parked_events.create_tables(engine)


@dataclass(frozen=True)
class Delivery:
    """One event (or notice) delivered to a service: what the disclosure record keeps."""

    tenant: str
    service: str
    client_id: str
    subject: str
    categories: tuple[str, ...]
    #: "statutory" or the id of the consent.
    basis: str
    position: int


def delivered_subjects(connection: Connection, tenant: str, service: str) -> list[str]:
    """The subjects the service received something of and was not told to forget since."""
    s = fanout_subjects
    rows = connection.execute(
        sa.select(s.c.subject).where(
            s.c.tenant == tenant, s.c.service == service, s.c.forgotten_position.is_(None)
        )
    )
    return sorted(r[0] for r in rows)


def was_forgotten(connection: Connection, tenant: str, service: str, subject: str) -> bool | None:
    """Whether the service was told to forget the subject since its last delivery; None
    when it never received anything of the subject."""
    s = fanout_subjects
    row = connection.execute(
        sa.select(s.c.forgotten_position).where(
            s.c.tenant == tenant, s.c.service == service, s.c.subject == subject
        )
    ).first()
    return None if row is None else row[0] is not None


def caught_up(connection: Connection, tenant: str, head: int) -> bool:
    """Whether the fan-out has routed every event of the tenant up to store position
    `head`: the relay published them all, and in each family topic's partition the
    fan-out's recorded position reached the last one the relay published there."""
    if relay_positions.published_position(connection, tenant) < head:
        return False
    p = fanout_positions
    routed = {
        (topic, partition): position
        for topic, partition, position in connection.execute(
            sa.select(p.c.topic, p.c.partition, p.c.checkpoint_position).where(p.c.tenant == tenant)
        )
    }
    return all(
        (routed.get(at) or 0) >= position
        for at, position in relay_positions.partition_positions(connection, tenant).items()
    )


def wait_caught_up(engine: Engine, tenant: str, head: int, *, timeout_seconds: float) -> bool:
    """Waits (polling) until the fan-out has routed the tenant's events up to `head`;
    False when it has not within `timeout_seconds`."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        with engine.connect() as c:
            if caught_up(c, tenant, head):
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _category_of(aggregate: str, sealed_field: str, key: str, family: str) -> str:
    if aggregate == "user":
        return "contact" if key in CONTACT_FIELDS else "identity"
    if aggregate == "demographics":
        return "demographics"
    return family


def _sealed(value: Any) -> SealedValue | None:
    if isinstance(value, Mapping) and "ciphertext" in value and "nonce" in value:
        return SealedValue(
            UUID(str(value["subject"])),
            RetentionClass(value["retention"]),
            bytes(value["nonce"]),
            bytes(value["ciphertext"]),
        )
    return None


#: Database errors that say nothing about the event: the batch is tried again, not parked.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
)


@dataclass
class _Routing:
    """What a batch makes: the messages (each with the consumed message it came from), the
    deliveries, the subjects to forget, and the events parked (with why)."""

    out: list[OutgoingMessage] = field(default_factory=list)
    sources: list[DecodedMessage] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    forgotten: list[tuple[str, str, int]] = field(default_factory=list)
    parked: list[tuple[DecodedMessage, str]] = field(default_factory=list)

    def take(self, one: _Routing, source: DecodedMessage) -> None:
        self.out.extend(one.out)
        self.sources.extend([source] * len(one.out))
        self.deliveries.extend(one.deliveries)
        self.forgotten.extend(one.forgotten)

    def park(self, source: DecodedMessage, reason: str) -> None:
        if source.position not in {m.position for m, _ in self.parked}:
            self.parked.append((source, reason))


class FanOutHandler:
    """The fan-out's BatchHandler: routes each batch and records its position."""

    def __init__(
        self,
        *,
        engine: Engine,
        tenant_ids: Callable[[], Iterable[str]],
        app_of: Callable[[str], TenantApplication],
        registry: SchemaRegistry,
        codec: EventCodec,
        transport: Callable[[], EventTransport],
        ensure_topic: Callable[[str], None],
        topic_prefix: str,
        disclose: Callable[[Sequence[Delivery]], None] | None = None,
        school_of: Callable[[str, str], list[str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._tenant_ids = tenant_ids
        self._app_of = app_of
        self._registry = registry
        self._codec = codec
        self._transport_factory = transport
        self._transport: EventTransport | None = None
        self._ensure_topic = ensure_topic
        self._prefix = topic_prefix
        self._disclose = disclose
        self._school_of = school_of or self._schools_now
        self._clock = clock
        self._topics_made: set[str] = set()
        self._batch_schools: dict[tuple[str, str], list[str]] = {}
        self.timeline = BasisTimeline()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- BatchHandler ----------------------------------------------------------------------

    def topics(self) -> dict[str, str]:
        wanted: dict[str, str] = {}
        for tenant in self._tenant_ids():
            self.timeline.catch_up(self._app_of(tenant))
            if self.timeline.has_agreements(tenant):
                for family in FAMILIES:
                    wanted[family_topic(self._prefix, tenant, family)] = tenant
        return wanted

    def resume_point(self, partition: TenantPartition) -> ResumePoint:
        p = fanout_positions
        with self._engine.connect() as c:
            row = c.execute(
                sa.select(p.c.next_offset, p.c.checkpoint_position, p.c.broker_epoch).where(
                    *self._key(partition)
                )
            ).first()
        if row is None:
            return ResumePoint(None, None, None)
        return ResumePoint(row[0], row[1], row[2])

    def broker_epoch(self, tenant: str) -> str | None:
        with self._engine.connect() as c:
            return relay_positions.published_state(c, tenant).broker_epoch

    def handle(self, batch: PartitionBatch) -> None:
        tenant = batch.partition.tenant
        app = self._app_of(tenant)
        self.timeline.catch_up(app)
        with self._engine.connect() as c:
            check_broker_epoch(c, batch)
            stored = self._stored_next(c, batch.partition)
        first = batch.messages[0].offset
        if not batch.from_beginning and stored and first != stored:
            raise PartitionOutOfStepError(f"batch starts at {first}, stored next is {stored}")
        routing = self._route_all(app, batch.messages)
        self._send(tenant, routing)
        last = batch.messages[-1]
        with self._engine.begin() as c:
            self._write_position(c, batch, last.offset + 1, last.position)
            self._finish(c, tenant, routing)
        if self._disclose is not None and routing.deliveries:
            self._disclose(routing.deliveries)

    # -- parked events ---------------------------------------------------------------------

    def parked(self, tenant: str | None = None) -> list[parked_events.ParkedEvent]:
        """The events the fan-out could not route or deliver (of one tenant), in store order."""
        with self._engine.connect() as c:
            return parked_events.parked_events(c, tenant=tenant, table=FANOUT_PARKED)

    def retry_parked(self, tenant: str, position: int | None = None) -> tuple[int, int]:
        """Routes and delivers the tenant's parked events (or the one at `position`) again,
        in store order, as their basis holds now; returns (delivered, still parked). Each
        one delivered leaves the table; one that fails again stays with its new reason."""
        with self._engine.connect() as c:
            rows = parked_events.parked_events(
                c, tenant=tenant, position=position, table=FANOUT_PARKED
            )
        app = self._app_of(tenant)
        self.timeline.catch_up(app)
        delivered = 0
        for row in rows:
            routing = self._route_all(app, [self._stored(app, tenant, row)])
            self._send(tenant, routing)
            with self._engine.begin() as c:
                if not routing.parked:
                    parked_events.unpark(c, tenant, row.position, table=FANOUT_PARKED)
                    delivered += 1
                self._finish(c, tenant, routing)
            if self._disclose is not None and routing.deliveries:
                self._disclose(routing.deliveries)
        return delivered, len(rows) - delivered

    def _stored(
        self, app: TenantApplication, tenant: str, row: parked_events.ParkedEvent
    ) -> DecodedMessage:
        """The parked event, read from the store and decoded as the relay publishes it."""
        at = DecodedMessage(-1, row.position, row.originator_id, row.event_type)
        found = app.recorder.select_notifications(start=row.position, limit=1)
        if not found or found[0].id != row.position:
            return replace(at, error="the event is no longer in the store")
        try:
            event = cast(Aggregate.Event, app.mapper.to_domain_event(found[0]))
            message = self._codec.encode(tenant, row.position, event)
            received = ReceivedMessage(
                message.topic, message.partition or 0, -1, message.key, message.value,
                message.headers, 0,
            )  # fmt: skip
            return replace(at, envelope=self._codec.decode(received))
        except Exception as error:  # noqa: BLE001 - it stays parked, with why
            return replace(at, error=describe_error(error))

    # -- one batch -------------------------------------------------------------------------

    def _route_all(self, app: TenantApplication, messages: Sequence[DecodedMessage]) -> _Routing:
        """Each message as the messages it makes; one that cannot be routed is parked (its
        position recorded with why), and the rest of the batch flows on."""
        routing = _Routing()
        self._batch_schools.clear()
        with self._engine.connect() as c:
            for m in messages:
                if m.envelope is None or m.other_tenant:
                    if m.position is None or m.other_tenant:
                        log.warning("service fan-out: skipping a message: %s", m.error)
                    else:
                        routing.park(m, m.error or "undecodable")
                    continue
                one = _Routing()
                try:
                    self._route(c, app, m.envelope, one.out, one.deliveries, one.forgotten)
                except TRANSIENT_ERRORS:
                    raise
                except Exception as error:  # noqa: BLE001 - the event is parked, with why
                    routing.park(m, describe_error(error))
                    continue
                routing.take(one, m)
        return routing

    def _send(self, tenant: str, routing: _Routing) -> None:
        """Publishes what was routed; a message the broker refuses for what it is (too
        large) parks the event it came from."""
        if routing.deliveries:
            # Before the publish: a service that asks for a subject's key as soon as the
            # message arrives finds the subject among those it received.
            with self._engine.begin() as c:
                self._record_subjects(c, tenant, routing.deliveries, ())
        if not routing.out:
            return
        for topic in {o.topic for o in routing.out} - self._topics_made:
            self._ensure_topic(topic)
            self._topics_made.add(topic)
        if self._transport is None:
            self._transport = self._transport_factory()
        try:
            # Returns once the broker acknowledged every message: only then the position.
            self._transport.publish(routing.out)
        except MessageRefusedError as refused:
            for index, reason in refused.refused.items():
                routing.park(routing.sources[index], reason)

    def _finish(self, c: Connection, tenant: str, routing: _Routing) -> None:
        """Records (in the position's transaction) the parked events and the subjects the
        services were told to forget."""
        for m, reason in routing.parked:
            assert m.position is not None
            new = parked_events.park(
                c, tenant=tenant, position=m.position, event_type=m.event_type or "unknown",
                originator_id=m.aggregate_id, originator_version=None, reason=reason,
                table=FANOUT_PARKED,
            )  # fmt: skip
            if new:
                log.error(
                    "the event at position %d of tenant %s (%s) cannot be delivered to the "
                    "services and is parked; later events flow on. Why: %s. See `digione "
                    "fanout parked`; once fixed, `digione fanout retry --tenant %s` delivers it",
                    m.position, tenant, m.event_type, reason, tenant,
                )  # fmt: skip
        refused = {m.position for m, _ in routing.parked}
        routing.deliveries[:] = [d for d in routing.deliveries if d.position not in refused]
        forgotten = [f for f in routing.forgotten if f[2] not in refused]
        self._record_subjects(c, tenant, (), forgotten)

    # -- routing ---------------------------------------------------------------------------

    def _route(
        self,
        c: Connection,
        app: TenantApplication,
        e: EventEnvelope,
        out: list[OutgoingMessage],
        deliveries: list[Delivery],
        forgotten: list[tuple[str, str, int]],
    ) -> None:
        family = e.family
        if family in SERVICE_FAMILIES:
            self._deliver(app, e, out, deliveries)
        elif e.event_type.startswith("fi.digione.consent.consent.") and e.event_type.split(".")[
            4
        ] in ("revoked", "expired"):
            span = self.timeline.consent(e.tenant, str(e.aggregate_id))
            notice = () if span is None else self._consent_only(e.tenant, span)
            if span is not None and notice:
                reason = "consent revoked" if ".revoked." in e.event_type else "consent expired"
                out.append(self._forget(e, span.recipient, span.student, notice, reason))
                forgotten.append((span.recipient, span.student, e.position))
        elif e.event_type.startswith("fi.digione.consent.agreement."):
            service = str(e.payload.get("service") or "") or self._service_of(e)
            if service is None:
                return
            history = [
                t for t in self.timeline.history(e.tenant, service) if t.position <= e.position
            ]
            if len(history) < 2:
                return
            before, after = history[-2], history[-1]
            if after.ended:
                categories: tuple[str, ...] = ("all",)
                reason = "agreement ended"
            else:
                removed = set(before.categories) - set(after.categories)
                removed |= {ev.split(".")[0] for ev in before.events} - {
                    ev.split(".")[0] for ev in after.events
                }
                if not removed:
                    return
                categories, reason = tuple(sorted(removed)), "agreement narrowed"
            for subject in delivered_subjects(c, e.tenant, service):
                out.append(self._forget(e, service, subject, categories, reason))
                if after.ended:
                    forgotten.append((service, subject, e.position))
        elif e.event_type == "fi.digione.privacy.erasure.personal_data_erased.v1":
            subject = str(e.payload["subject"])
            for service in self._services_with_subject(c, e.tenant, subject):
                out.append(self._forget(e, service, subject, ("all",), "erasure"))
                forgotten.append((service, subject, e.position))

    def _consent_only(self, tenant: str, span: ConsentSpan) -> tuple[str, ...]:
        """The categories the service received only under this consent: none when its
        agreement does not rest on consent for a purpose the consent names, and none that
        another consent in force for that purpose still covers."""
        terms = self.timeline.terms(tenant, span.recipient)
        if terms is None or terms.basis != CONSENT or terms.purpose not in span.purposes:
            return ()
        still = {
            category
            for other in self.timeline.consents_in_force(
                tenant, student=span.student, service=span.recipient
            )
            if other.consent_id != span.consent_id and terms.purpose in other.purposes
            for category in other.categories
        }
        return tuple(sorted(set(span.categories) - still))

    def _service_of(self, e: EventEnvelope) -> str | None:
        for service in self.timeline.all_services(e.tenant):
            if any(t.position == e.position for t in self.timeline.history(e.tenant, service)):
                return service
        return None

    def _services_with_subject(self, c: Connection, tenant: str, subject: str) -> list[str]:
        s = fanout_subjects
        rows = c.execute(
            sa.select(s.c.service).where(
                s.c.tenant == tenant, s.c.subject == subject, s.c.forgotten_position.is_(None)
            )
        )
        return sorted(r[0] for r in rows)

    def _subject_of(self, e: EventEnvelope) -> str | None:
        for name in ("student", "user"):
            value = e.payload.get(name)
            if isinstance(value, str) and value:
                return value
        aggregate = e.event_type.split(".")[3]
        if aggregate in ("user", "demographics"):
            sourced = e.payload.get("sourced_id")
            if isinstance(sourced, str):
                return sourced
            return self.timeline.user_of(e.tenant, str(e.aggregate_id))
        return None

    def _deliver(
        self,
        app: TenantApplication,
        e: EventEnvelope,
        out: list[OutgoingMessage],
        deliveries: list[Delivery],
    ) -> None:
        subject = self._subject_of(e)
        family = e.family
        opened: dict[str, dict[str, Any]] | None = None
        for service in self.timeline.services(e.tenant):
            basis = basis_of(
                self.timeline,
                e.tenant,
                service=service,
                event_type=e.event_type,
                subject=subject,
                school_of=lambda s: self._schools(e.tenant, s),
                category=family,
                position=e.position,
            )
            if basis is None:
                continue
            terms = self.timeline.terms(e.tenant, service)
            assert terms is not None
            allowed = set(terms.categories)
            if basis != "statutory":
                span = self.timeline.consent(e.tenant, basis)
                allowed &= set(span.categories) if span is not None else set()
            allowed.add(family)
            if opened is None:
                opened = self._open(app, e)
            personal: dict[str, str] = {}
            categories = {family}
            aggregate = e.event_type.split(".")[3]
            for field_name, values in opened.items():
                for key, value in values.items():
                    category = _category_of(aggregate, field_name, key, family)
                    if category in allowed and value not in (None, "", []):
                        personal[f"{field_name}.{key}"] = json.dumps(value, default=str)
                        categories.add(category)
            sealed: dict[str, Any] | None = None
            if subject is None:
                personal = {}  # personal fields belong to a person
            elif personal and terms.delivery != CLEAR:
                view_key = app.service_view_key(service, subject, create=True)
                if view_key is None:
                    # Its key is destroyed (erased, agreement ended) a moment before the
                    # timeline saw why: nothing goes, and never in clear instead.
                    continue
                sealed = seal_personal_data(
                    view_key, service_key_id(e.tenant, service, subject), personal
                )
                personal = {}
            out.append(self._view(e, service, subject, personal, sealed))
            if subject is not None:
                deliveries.append(
                    Delivery(
                        e.tenant,
                        service,
                        terms.client_id,
                        subject,
                        tuple(sorted(categories)),
                        basis,
                        e.position,
                    )
                )

    def _open(self, app: TenantApplication, e: EventEnvelope) -> dict[str, dict[str, Any]]:
        opened: dict[str, dict[str, Any]] = {}
        for name, value in e.payload.items():
            sealed = _sealed(value)
            if sealed is None:
                continue
            plain = app.sealer.unseal(sealed)
            if plain is not ERASED and isinstance(plain, dict):
                opened[name] = plain
        return opened

    def _view(
        self,
        e: EventEnvelope,
        service: str,
        subject: str | None,
        personal: dict[str, str],
        sealed: dict[str, Any] | None,
    ) -> OutgoingMessage:
        type_name = service_type_name(e.event_type)
        schema = self._registry.current(type_name)
        record: dict[str, Any] = {
            "aggregate_id": str(e.aggregate_id),
            "aggregate_version": e.aggregate_version,
            "occurred_at": e.occurred_at,
            "data_subject": subject,
            "personal_data": personal,
            "sealed_personal_data": sealed,
        }
        for f in schema.schema["fields"]:
            if f["name"] in e.payload and f["name"] not in record:
                record[f["name"]] = e.payload[f["name"]]
        key = (subject or str(e.aggregate_id)).encode()
        return self._message(e, service, type_name, schema, record, key)

    def _forget(
        self,
        e: EventEnvelope,
        service: str,
        subject: str,
        categories: Sequence[str],
        reason: str,
    ) -> OutgoingMessage:
        schema = self._registry.current(FORGET_TYPE)
        record = {
            "subject": subject,
            "categories": sorted(categories),
            "reason": reason,
            "position": e.position,
            "occurred_at": e.occurred_at,
        }
        return self._message(e, service, FORGET_TYPE, schema, record, subject.encode())

    def _message(
        self,
        e: EventEnvelope,
        service: str,
        type_name: str,
        schema: Any,
        record: dict[str, Any],
        key: bytes,
    ) -> OutgoingMessage:
        headers = [
            ("event-type", type_name.encode()),
            ("position", str(e.position).encode()),
            ("tenant", e.tenant.encode()),
            ("occurred-at", e.occurred_at.isoformat().encode()),
            ("schema-fingerprint", schema.fingerprint_hex.encode()),
        ]
        return OutgoingMessage(
            topic=service_topic(self._prefix, e.tenant, service),
            key=key,
            value=avro_encoding.encode(schema.parsed, record),
            headers=headers,
            partition=0,
        )

    def _schools(self, tenant: str, subject: str) -> list[str]:
        """The subject's schools, looked up once per batch (a user is read from the store)."""
        if (tenant, subject) not in self._batch_schools:
            self._batch_schools[(tenant, subject)] = self._school_of(tenant, subject)
        return self._batch_schools[(tenant, subject)]

    def _schools_now(self, tenant: str, subject: str) -> list[str]:
        try:
            user = self._app_of(tenant).user(subject)
        except Exception:  # noqa: BLE001 - an unknown user is in no school
            return []
        return sorted({org for (_role, org) in user.roles})

    # -- bookkeeping -----------------------------------------------------------------------

    def _key(self, partition: TenantPartition) -> list[sa.ColumnElement[bool]]:
        p = fanout_positions
        return [
            p.c.tenant == partition.tenant,
            p.c.topic == partition.topic,
            p.c.partition == partition.partition,
        ]

    def _stored_next(self, c: Connection, partition: TenantPartition) -> int | None:
        p = fanout_positions
        row = c.execute(sa.select(p.c.next_offset).where(*self._key(partition))).first()
        return None if row is None else int(row[0])

    def _write_position(
        self, c: Connection, batch: PartitionBatch, next_offset: int, position: int | None
    ) -> None:
        p = fanout_positions
        values = {
            "next_offset": next_offset,
            "checkpoint_position": position,
            "broker_epoch": batch.broker_epoch,
        }
        updated = c.execute(p.update().where(*self._key(batch.partition)).values(**values))
        if updated.rowcount == 0:
            c.execute(
                p.insert().values(
                    tenant=batch.partition.tenant,
                    topic=batch.partition.topic,
                    partition=batch.partition.partition,
                    **values,
                )
            )

    def _record_subjects(
        self,
        c: Connection,
        tenant: str,
        deliveries: Sequence[Delivery],
        forgotten: Sequence[tuple[str, str, int]],
    ) -> None:
        s = fanout_subjects
        # One row per service and subject, however many of the batch's events they share.
        spans: dict[tuple[str, str, str], tuple[int, int]] = {}
        for d in deliveries:
            first, last = spans.get((d.tenant, d.service, d.subject), (d.position, d.position))
            spans[(d.tenant, d.service, d.subject)] = (
                min(first, d.position),
                max(last, d.position),
            )
        for (at, service, subject), (first, last) in spans.items():
            key = [s.c.tenant == at, s.c.service == service, s.c.subject == subject]
            # A later delivery after a forget notice starts the subject's record afresh.
            updated = c.execute(
                s.update().where(*key).values(last_position=last, forgotten_position=None)
            )
            if updated.rowcount == 0:
                c.execute(
                    s.insert().values(
                        tenant=at,
                        service=service,
                        subject=subject,
                        first_position=first,
                        last_position=last,
                    )
                )
        for service, subject, position in forgotten:
            c.execute(
                s.update()
                .where(s.c.tenant == tenant, s.c.service == service, s.c.subject == subject)
                .values(forgotten_position=position)
            )


class ServiceFanOut:
    """The fan-out as one of the runtime's loops: a consumer of the family topics."""

    def __init__(
        self,
        handler: FanOutHandler,
        *,
        codec: EventCodec,
        bootstrap: str,
        readers: ReaderFactory | None = None,
        poll_seconds: float = 0.2,
        refresh_seconds: float = 1.0,
        fetch_wait_ms: int = 100,
        publications: Publications | None = None,
    ) -> None:
        self.handler = handler
        #: How long the consumer's fetch waits at the broker for messages (ms); unused
        #: with `readers` of the caller's.
        self.fetch_wait_ms = fetch_wait_ms
        self.consumer = EventConsumer(
            name="service fan-out",
            handler=handler,
            codec=codec,
            readers=readers
            or kafka_python_readers(bootstrap, max_batch=500, fetch_wait_ms=fetch_wait_ms),
            client_id="digione-fanout",
        )
        self.loop = ConsumerLoop(
            [self.consumer],
            name="service fan-out",
            poll_seconds=poll_seconds,
            refresh_seconds=refresh_seconds,
            publications=publications,
            linger_seconds=linger_for(fetch_wait_ms),
        )

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        self.handler.close()

    @property
    def is_running(self) -> bool:
        return self.loop.is_running

    @property
    def failure(self) -> BaseException | None:
        return self.loop.failure
