"""The auditors' replay: a tenant's events decoded in store order, from its store or from
its Kafka topics (the same sequence: each stored event is shown as a consumer decodes its
message).

Each event is shown with its store position, time, type (the Avro full name, as on Kafka)
and aggregate; its fields as its Avro schema names them, but personal data stays sealed: a sealed field is
shown as `{"sealed": {...}}` (its subject and retention class, never its ciphertext), or as
`{"erased": {...}}` once erasure destroyed its key. An auditor whom the data protection
officer granted a subject (`digione audit grant`) sees that subject's sealed fields opened,
`{"opened": {..., "data": {...}}}`; each page of a replay that opened any is recorded as a
disclosure to the auditor in the subject's record before it is shown.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from domain.application import TenantApplication
from domain.audit_grants import GrantedSubject
from domain.sealing import Erased, RetentionClass, SealedValue
from projections.reads.disclosures import DisclosureLog, user_detail_categories
from projections.subject_index import SUBJECT_FIELDS
from streams.codec import EventCodec, EventEnvelope, family_topic
from streams.event_types import FAMILIES, NAMESPACE, by_topic, catalogue
from streams.kafka_transport import read_topics

__all__ = [
    "AuditorView",
    "EventSource",
    "KafkaSource",
    "ReplayFilter",
    "StoreSource",
    "replay",
    "to_csv_rows",
    "to_jsonl",
]

#: Events read from the store per page.
PAGE_SIZE = 2000
CSV_COLUMNS = ("position", "occurredAt", "type", "aggregateId", "aggregateVersion", "fields")


@dataclass(frozen=True)
class ReplayFilter:
    """Which events a replay shows: after a position, of a subject, of a type."""

    after: int = 0
    limit: int | None = None
    #: A user's sourcedId: the events of every aggregate that concerns them.
    subject: str | None = None
    #: A type name (`fi.digione.roster.user.registered.v1`) or a prefix of one without the
    #: namespace (`roster`, `roster.user`, `roster.user.registered`).
    type: str | None = None
    #: Only events that occurred at or before this time.
    until: datetime | None = None

    def wants_type(self, type_name: str) -> bool:
        if self.type is None:
            return True
        short = type_name.removeprefix(f"{NAMESPACE}.")
        return type_name == self.type or short == self.type or short.startswith(f"{self.type}.")


class AuditorView:
    """What one auditor may see of sealed fields: the subjects granted them opened (each
    opening noted, to be recorded as a disclosure), the others sealed."""

    def __init__(
        self, app: TenantApplication, *, auditor: str | None, disclosures: DisclosureLog | None
    ) -> None:
        self._app = app
        self._auditor = auditor
        self._disclosures = disclosures
        self._granted: dict[UUID, GrantedSubject] = (
            {} if auditor is None or disclosures is None else app.granted_subjects(auditor)
        )
        #: Categories opened since the last `disclose`, by granted subject.
        self._opened: dict[GrantedSubject, set[str]] = {}

    def shown(self, value: Any, type_name: str) -> Any:
        """A field's value as the auditor sees it."""
        if isinstance(value, dict) and value.keys() == _SEALED_KEYS:
            return self._sealed(_sealed_value(value), type_name)
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, UUID | Decimal):
            return str(value)
        if isinstance(value, dict):
            return {str(k): self.shown(v, type_name) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.shown(v, type_name) for v in value]
        return value

    def _sealed(self, value: SealedValue, type_name: str) -> dict[str, Any]:
        ref: dict[str, Any] = {"subject": str(value.subject), "retention": value.retention.value}
        tables = self._app.tables
        if tables.subject_key_was_shredded(value.subject, value.retention) or (
            tables.tenant_kek_was_shredded()
        ):
            return {"erased": ref}
        granted = self._granted.get(value.subject)
        if granted is None:
            return {"sealed": ref}
        opened = self._app.sealer.unseal(value)
        if isinstance(opened, Erased):
            return {"erased": ref}
        self._opened.setdefault(granted, set()).update(_categories(type_name, opened))
        return {"opened": {**ref, "data": opened}}

    def disclose(self) -> None:
        """Records what was opened since the last call as disclosed to the auditor (before
        it is shown: DisclosureNotRecordedError when it could not be)."""
        if not self._opened or self._disclosures is None or self._auditor is None:
            return
        at = self._app.clock()
        for granted, categories in sorted(self._opened.items(), key=lambda item: item[0]):
            self._disclosures.record(
                tenant=self._app.tenant,
                subjects=[granted.sourced_id],
                recipient=self._auditor,
                recipient_role="auditor",
                categories=categories,
                basis=f"audit grant {granted.grant_id}",
                at=at,
            )
        self._opened.clear()


#: The fields of an Avro `fi.digione.Sealed` record.
_SEALED_KEYS = {"subject", "retention", "nonce", "ciphertext"}


def _sealed_value(record: dict[str, Any]) -> SealedValue:
    return SealedValue(
        subject=UUID(str(record["subject"])),
        retention=RetentionClass(record["retention"]),
        nonce=bytes(record["nonce"]),
        ciphertext=bytes(record["ciphertext"]),
    )


def _categories(type_name: str, opened: dict[str, Any]) -> list[str]:
    """The disclosure categories of a sealed record opened for an auditor."""
    family, _, name = type_name.removeprefix(f"{NAMESPACE}.").partition(".")
    if name.startswith("user."):
        return user_detail_categories(opened) or ["identity"]
    if name.startswith("demographics."):
        return ["demographics"]
    if family in ("assessment", "attainment"):
        return [family]
    return ["identity"]


def replay(
    source: EventSource, wanted: ReplayFilter, view: AuditorView
) -> Iterator[dict[str, Any]]:
    """The tenant's events of `source` after `wanted.after`, in store order, decoded and
    filtered; the personal fields sealed unless `view` opens them (each page's disclosures
    recorded before the page is given)."""
    ready: list[dict[str, Any]] = []
    for event in _replayed(source, wanted, view):
        ready.append(event)
        if len(ready) >= PAGE_SIZE:
            view.disclose()
            yield from ready
            ready.clear()
    view.disclose()
    yield from ready


class EventSource(Protocol):
    """Where a replay reads the tenant's events: the store, or the Kafka topics."""

    def envelopes(
        self, *, after: int, until: int | None = None, types: Collection[str] | None = None
    ) -> Iterator[EventEnvelope]:
        """The events after position `after` (to `until` inclusive), in store order, as
        Kafka consumers decode them; only of `types` (type names) when given."""
        ...


class StoreSource:
    """The tenant's store: each event encoded as the relay publishes it, then decoded, so
    a replay of the store shows exactly what a replay of the topics does."""

    def __init__(self, app: TenantApplication, codec: EventCodec) -> None:
        self._app = app
        self._codec = codec

    def envelopes(
        self, *, after: int, until: int | None = None, types: Collection[str] | None = None
    ) -> Iterator[EventEnvelope]:
        known = by_topic()
        topics = None if types is None else [t.topic for t in catalogue() if t.type_name in types]
        if topics == []:
            return
        position = after
        while until is None or position < until:
            page = self._app.recorder.select_notifications(
                position + 1, PAGE_SIZE, stop=until, topics=topics or ()
            )
            if not page:
                return
            for notification in page:
                position = notification.id
                if notification.topic not in known:
                    continue
                event: Any = self._app.mapper.to_domain_event(notification)
                yield self._codec.round_trip(self._app.tenant, notification.id, event)


class KafkaSource:
    """The tenant's family topics, read from their beginning (`digione replay
    --from-kafka`): each position once, in store order."""

    def __init__(self, tenant: str, codec: EventCodec, *, bootstrap: str) -> None:
        self._tenant = tenant
        self._codec = codec
        self._bootstrap = bootstrap
        self._read: list[EventEnvelope] | None = None

    def envelopes(
        self, *, after: int, until: int | None = None, types: Collection[str] | None = None
    ) -> Iterator[EventEnvelope]:
        for envelope in self._all():
            if envelope.position <= after or (
                types is not None and envelope.event_type not in types
            ):
                continue
            if until is not None and envelope.position > until:
                return
            yield envelope

    def _all(self) -> list[EventEnvelope]:
        if self._read is None:
            by_position: dict[int, EventEnvelope] = {}
            topics = [
                family_topic(self._codec.topic_prefix, self._tenant, family) for family in FAMILIES
            ]
            for messages in read_topics(self._bootstrap, topics, silence_seconds=1.0).values():
                for message in messages:
                    # A position the relay published twice (a retry) is one event.
                    envelope = self._codec.decode(message)
                    by_position.setdefault(envelope.position, envelope)
            self._read = [by_position[p] for p in sorted(by_position)]
        return self._read


def _replayed(
    source: EventSource, wanted: ReplayFilter, view: AuditorView
) -> Iterator[dict[str, Any]]:
    concerning: set[UUID] = set()
    if wanted.subject is not None and wanted.after > 0:
        # A subject's events before `after` may have created the aggregates concerning them.
        for envelope in source.envelopes(after=0, until=wanted.after, types=SUBJECT_FIELDS):
            if _names_subject(envelope, wanted.subject):
                concerning.add(envelope.aggregate_id)
    shown = 0
    for envelope in source.envelopes(after=wanted.after):
        type_name = envelope.event_type
        if wanted.subject is not None:
            if _names_subject(envelope, wanted.subject):
                concerning.add(envelope.aggregate_id)
            if envelope.aggregate_id not in concerning:
                continue
        if not wanted.wants_type(type_name):
            continue
        if wanted.until is not None and envelope.occurred_at > wanted.until:
            continue
        yield {
            "position": envelope.position,
            "occurredAt": envelope.occurred_at.isoformat(),
            "type": type_name,
            "aggregateId": str(envelope.aggregate_id),
            "aggregateVersion": envelope.aggregate_version,
            "fields": {
                name: view.shown(value, type_name)
                for name, value in sorted(envelope.payload.items())
            },
        }
        shown += 1
        if wanted.limit is not None and shown >= wanted.limit:
            return


def _names_subject(envelope: EventEnvelope, subject: str) -> bool:
    spec = SUBJECT_FIELDS.get(envelope.event_type)
    if spec is None:
        return False
    return any(str(envelope.payload.get(field)) == subject for field in spec[1])


def to_jsonl(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n"


def to_csv_rows(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    """A header line, then one line per event (its fields as one JSON column)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow(
            [
                *(event[c] for c in CSV_COLUMNS[:-1]),
                json.dumps(event["fields"], ensure_ascii=False, sort_keys=True),
            ]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
