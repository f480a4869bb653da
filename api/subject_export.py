"""The right of access (GDPR art. 15): everything held about one data subject, opened.

The subject index (projections/subject_index.py) says which aggregates concern the
subject; each is then loaded from the event store, the system of record, and every event
is shown with its type string, time, store position (when the index has applied it) and
fields, named as in the event's Avro schema. Sealed fields are opened with the subject's
keys, or shown as "erased" where erasure destroyed the key; what the law keeps (a year
report's verbal assessment) stays readable until its retention ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.utils import get_topic
from sqlalchemy.engine import Engine

from api.disclosures import disclosures_of
from api.problems import ProblemError
from domain.application import TenantApplication
from domain.ids import aggregate_id
from domain.sealing import Erased, SealedValue
from projections.subject_index import SubjectIndexProjection
from projections.subject_index_queries import IndexedAggregate, aggregates_of
from streams.event_types import EventType, by_topic
from streams.schemas import event_fields

__all__ = ["ERASED_MARKER", "subject_export"]

#: What a sealed field whose key was destroyed shows.
ERASED_MARKER = "erased"

#: Kind of aggregate (as the subject index lists it) → section of the export.
_SECTIONS = {
    "user": "user",
    "demographics": "demographics",
    "enrollment": "enrollments",
    "result": "results",
    "attainment": "attainments",
    "consent": "consents",
    "erasure": "erasures",
}
#: Sections holding one aggregate at most, rather than a list.
_SINGLE = frozenset({"user", "demographics"})


def subject_export(
    app: TenantApplication, engine: Engine, index: SubjectIndexProjection, subject: str
) -> dict[str, Any]:
    """The export of `subject` (a user's sourcedId in `app`'s tenant), as JSON-able data.

    Includes the disclosures recorded before it; the caller records this one.
    """
    try:
        with engine.connect() as connection:
            indexed = aggregates_of(connection, index, tenant=app.tenant, subject=subject)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        # The index's tables are made when the projection runner first starts.
        raise ProblemError(
            503, "read-model-unavailable", "Read model unavailable",
            "the subject index is not available yet; try again shortly",
        ) from None
    sections: dict[str, list[dict[str, Any]]] = {s: [] for s in _SECTIONS.values()}
    for found in _with_deterministic_ids(app.tenant, subject, indexed):
        events = list(app.repository.event_store.get(found.aggregate_id))
        if events:
            sections[_SECTIONS[found.kind]].append({
                "kind": found.kind,
                "id": str(found.aggregate_id),
                "events": [_event(app, e, found.positions) for e in events],
            })
    document: dict[str, Any] = {
        "subject": subject,
        "tenant": app.tenant,
        "generatedAt": app.clock().isoformat(),
        "storePosition": app.head_position(),
    }
    for name, aggregates in sections.items():
        aggregates.sort(key=lambda a: (a["events"][0]["occurredAt"], a["id"]))
        document[name] = (aggregates[0] if aggregates else None) if name in _SINGLE else aggregates
    document["disclosures"] = [
        d.as_json() for d in disclosures_of(engine, app.tenant, subject)
    ]
    return document


def _with_deterministic_ids(
    tenant: str, subject: str, indexed: list[IndexedAggregate]
) -> Iterable[IndexedAggregate]:
    """The indexed aggregates, plus the user and demographics, whose ids follow from the
    sourcedId: they are in the export even before the index has applied their creation."""
    yield from indexed
    known = {i.aggregate_id for i in indexed}
    for kind, collection in (("user", "users"), ("demographics", "demographics")):
        own = aggregate_id(tenant, collection, subject)
        if own not in known:
            yield IndexedAggregate(kind, own)


def _event(app: TenantApplication, event: Any, positions: dict[int, int]) -> dict[str, Any]:
    topic = get_topic(type(event))
    event_type = by_topic().get(topic)
    return {
        "type": event_type.type_name if event_type else topic,
        "occurredAt": event.timestamp.isoformat(),
        "position": positions.get(event.originator_version),
        "fields": {
            name: _plain(app, getattr(event, name, None))
            for name in (_field_names(event_type) if event_type else ())
        },
    }


@cache
def _field_names(event_type: EventType) -> tuple[str, ...]:
    # Resolving an event class's type hints is slow; once per type will do.
    return tuple(name for name, _ in event_fields(event_type))


def _plain(app: TenantApplication, value: Any) -> Any:
    """A field value as JSON, sealed values opened (or the erased marker)."""
    if isinstance(value, SealedValue):
        opened = app.sealer.unseal(value)
        return ERASED_MARKER if isinstance(opened, Erased) else opened
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [_plain(app, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(app, v) for k, v in value.items()}
    return value
