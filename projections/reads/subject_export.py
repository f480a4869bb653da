"""The right of access (GDPR art. 15): everything held about one data subject, opened.

Who may have it: the person (from SELF_ACCESS_AGE), their guardian while they are under 18,
and admins; a refusal says the same whether or not the person exists.

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

from eventsourcing.utils import get_topic
from sqlalchemy.engine import Engine

from domain.application import TenantApplication
from domain.commands import Actor
from domain.consent import AGE_OF_MAJORITY
from domain.ids import aggregate_id
from domain.roster import User
from domain.sealing import Erased, SealedValue
from projections.reads.access import ReadNotPermittedError, read_connection
from projections.reads.disclosures import (
    ALL,
    RIGHT_OF_ACCESS,
    STATUTORY_TASK,
    disclosures_of,
)
from projections.reads.read_service import ReadService
from projections.reads.unsealing import ERASED_TEXT
from projections.subject_index import SubjectIndexProjection
from projections.subject_index_queries import IndexedAggregate, aggregates_of
from streams.event_types import EventType, by_topic
from streams.schemas import event_fields

__all__ = ["REFUSED", "SELF_ACCESS_AGE", "SubjectExports", "right_of_access", "subject_export"]

#: From this age a pupil may have the export of their own data without a guardian
#: (the age issue 4 settled on); guardians act for their child until AGE_OF_MAJORITY.
SELF_ACCESS_AGE = 15

REFUSED = (
    "a person's export is for that person (from age 15), their guardian (while they are "
    "under 18) and admins"
)

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


def right_of_access(actor: Actor, app: TenantApplication, subject: str) -> str:
    """The basis on which `actor` may have the subject's export; ReadNotPermittedError for
    everyone else, the same whether or not the person exists (NotFoundError for an admin
    asking for nobody).

    It reads the event store, not a read model, so a caller may be refused before any wait
    for the subject index.
    """
    if actor.role == "admin":
        app.user(subject)  # an admin is told when there is no such person (404)
        return STATUTORY_TASK
    if actor.role == "student" and actor.subject == subject:
        age = app.age(subject)
        if age is not None and age >= SELF_ACCESS_AGE:
            return RIGHT_OF_ACCESS
    if actor.role == "guardian":
        child = app.find("users", subject)
        if isinstance(child, User) and actor.subject in child.guardians:
            age = app.age(subject)
            # As for consents: with the birth date unknown the guardian still acts.
            if age is None or age < AGE_OF_MAJORITY:
                return RIGHT_OF_ACCESS
    raise ReadNotPermittedError(REFUSED)


class SubjectExports(ReadService[SubjectIndexProjection]):
    """The right of access: a person's export (from the subject index and the event store),
    recorded as disclosed to its caller."""

    def export(
        self, app: TenantApplication, actor: Actor, subject: str, *, basis: str
    ) -> dict[str, Any]:
        """The export of `subject` for `actor`, recorded as disclosed on `basis`: what
        `right_of_access(actor, app, subject)` answered (callers check it first, so a
        refusal never waits for the index)."""
        document = subject_export(app, self.engine, self.projection, subject)
        self.disclose(
            actor,
            subjects=[subject],
            categories=[ALL],
            basis=basis,
        )
        return document


def subject_export(
    app: TenantApplication, engine: Engine, index: SubjectIndexProjection, subject: str
) -> dict[str, Any]:
    """The export of `subject` (a user's sourcedId in `app`'s tenant), as JSON-able data.

    Includes the disclosures recorded before it; the caller records this one.
    """
    # The index's tables are made when the projection runner first starts.
    with read_connection(
        engine, "the subject index is not available yet; try again shortly"
    ) as connection:
        indexed = aggregates_of(connection, index, tenant=app.tenant, subject=subject)
    sections: dict[str, list[dict[str, Any]]] = {s: [] for s in _SECTIONS.values()}
    for found in _with_deterministic_ids(app.tenant, subject, indexed):
        events = list(app.repository.event_store.get(found.aggregate_id))
        if events:
            sections[_SECTIONS[found.kind]].append(
                {
                    "kind": found.kind,
                    "id": str(found.aggregate_id),
                    "events": [_event(app, e, found.positions) for e in events],
                }
            )
    document: dict[str, Any] = {
        "subject": subject,
        "tenant": app.tenant,
        "generatedAt": app.clock().isoformat(),
        "storePosition": app.head_position(),
    }
    for name, aggregates in sections.items():
        aggregates.sort(key=lambda a: (a["events"][0]["occurredAt"], a["id"]))
        document[name] = (aggregates[0] if aggregates else None) if name in _SINGLE else aggregates
    document["disclosures"] = [d.as_json() for d in disclosures_of(engine, app.tenant, subject)]
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
        return ERASED_TEXT if isinstance(opened, Erased) else opened
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
