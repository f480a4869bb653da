"""The auditors' replay: a tenant's events decoded in store order, straight from its store.

Each event is shown with its store position, time, type (the Avro full name, as on Kafka)
and aggregate; its fields as recorded, but personal data stays sealed: a sealed field is
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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import TenantApplication
from domain.audit_grants import GrantedSubject
from domain.sealing import Erased, SealedValue
from projections.reads.disclosures import DisclosureLog, user_detail_categories
from projections.subject_index import SUBJECT_FIELDS
from streams.event_types import NAMESPACE, by_topic

__all__ = ["AuditorView", "ReplayFilter", "replay", "to_csv_rows", "to_jsonl"]

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
        if isinstance(value, SealedValue):
            return self._sealed(value, type_name)
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
    app: TenantApplication, wanted: ReplayFilter, view: AuditorView | None = None
) -> Iterator[dict[str, Any]]:
    """The tenant's events after `wanted.after`, in store order, decoded and filtered; the
    personal fields sealed unless `view` opens them (each page's disclosures recorded
    before the page is given)."""
    view = view or AuditorView(app, auditor=None, disclosures=None)
    ready: list[dict[str, Any]] = []
    for event in _replayed(app, wanted, view):
        ready.append(event)
        if len(ready) >= PAGE_SIZE:
            view.disclose()
            yield from ready
            ready.clear()
    view.disclose()
    yield from ready


def _replayed(
    app: TenantApplication, wanted: ReplayFilter, view: AuditorView
) -> Iterator[dict[str, Any]]:
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
                    name: view.shown(value, type_name)
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
