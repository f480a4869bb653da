"""The auditors' replay: a tenant's events decoded in store order, straight from its store.

Each event is shown with its store position, time, type (the Avro full name, as on Kafka)
and aggregate; its fields as recorded, but personal data stays sealed: a sealed field is
shown as `{"sealed": {...}}` (its subject and retention class, never its ciphertext), or as
`{"erased": {...}}` once erasure destroyed its key. (Grants that open sealed fields for one
replay are to come.)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import TenantApplication
from domain.sealing import SealedValue
from projections.subject_index import SUBJECT_FIELDS
from streams.event_types import NAMESPACE, by_topic

__all__ = ["ReplayFilter", "replay", "to_csv_rows", "to_jsonl"]

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


def replay(app: TenantApplication, wanted: ReplayFilter) -> Iterator[dict[str, Any]]:
    """The tenant's events after `wanted.after`, in store order, decoded and filtered."""
    types = by_topic()
    concerning: set[UUID] = set()
    if wanted.subject is not None:
        # A subject's events before `after` may have created the aggregates concerning them.
        concerning = _aggregates_concerning(app, wanted.subject, until=wanted.after)
    shown = 0
    position = wanted.after
    while True:
        page = app.recorder.select_notifications(position, PAGE_SIZE, inclusive_of_start=False)
        if not page:
            return
        for notification in page:
            position = notification.id
            event: Any = app.mapper.to_domain_event(notification)
            event_type = types.get(notification.topic)
            type_name = event_type.type_name if event_type else notification.topic
            if wanted.subject is not None:
                if _names_subject(type_name, event, wanted.subject):
                    concerning.add(event.originator_id)
                if event.originator_id not in concerning:
                    continue
            if not wanted.wants_type(type_name):
                continue
            if wanted.until is not None and event.timestamp > wanted.until:
                continue
            yield {
                "position": notification.id,
                "occurredAt": event.timestamp.isoformat(),
                "type": type_name,
                "aggregateId": str(event.originator_id),
                "aggregateVersion": event.originator_version,
                "fields": {
                    name: _shown(app, value)
                    for name, value in sorted(vars(event).items())
                    if name not in ("originator_id", "originator_version", "timestamp")
                },
            }
            shown += 1
            if wanted.limit is not None and shown >= wanted.limit:
                return


def _aggregates_concerning(app: TenantApplication, subject: str, *, until: int) -> set[UUID]:
    found: set[UUID] = set()
    if until <= 0:
        return found
    types = by_topic()
    position = 0
    while position < until:
        page = app.recorder.select_notifications(
            position, PAGE_SIZE, stop=until, inclusive_of_start=False
        )
        if not page:
            break
        for notification in page:
            position = notification.id
            event_type = types.get(notification.topic)
            if event_type is None or event_type.type_name not in SUBJECT_FIELDS:
                continue
            event = app.mapper.to_domain_event(notification)
            if _names_subject(event_type.type_name, event, subject):
                found.add(event.originator_id)
    return found


def _names_subject(type_name: str, event: Any, subject: str) -> bool:
    spec = SUBJECT_FIELDS.get(type_name)
    if spec is None:
        return False
    return any(str(getattr(event, field, None)) == subject for field in spec[1])


def _shown(app: TenantApplication, value: Any) -> Any:
    if isinstance(value, SealedValue):
        ref = {"subject": str(value.subject), "retention": value.retention.value}
        erased = (
            app.tables.subject_key_was_shredded(value.subject, value.retention)
            or app.tables.tenant_kek_was_shredded()
        )
        return {"erased": ref} if erased else {"sealed": ref}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _shown(app, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_shown(app, v) for v in value]
    return value


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
