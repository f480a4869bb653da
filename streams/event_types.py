"""The catalogue of event types: each domain event class, its type string and its family.

Type strings carry the major version, as the Avro full name of the event's schema:
`fi.digione.assessment.result.recorded.v1` is `Result.Recorded` of the assessment family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.agreements import Agreement
from domain.assessment import Category, LineItem, Result, ScoreScale
from domain.attainment import ObjectiveAttainment
from domain.audit_grants import AuditGrant
from domain.consent import Consent
from domain.privacy import Erasure, TenantOffboarding
from domain.roster import AcademicSession, Course, Demographics, Enrollment, Org, SchoolClass, User

NAMESPACE = "fi.digione"
MAJOR_VERSION = "v1"

#: Aggregate → (family, name in type strings). Families are the Kafka topics.
AGGREGATES: dict[type[Aggregate], tuple[str, str]] = {
    Org: ("roster", "org"),
    AcademicSession: ("roster", "academic_session"),
    Course: ("roster", "course"),
    SchoolClass: ("roster", "class"),
    User: ("roster", "user"),
    Enrollment: ("roster", "enrollment"),
    Demographics: ("roster", "demographics"),
    LineItem: ("assessment", "line_item"),
    Result: ("assessment", "result"),
    Category: ("assessment", "category"),
    ScoreScale: ("assessment", "score_scale"),
    ObjectiveAttainment: ("attainment", "objective_attainment"),
    Consent: ("consent", "consent"),
    Agreement: ("consent", "agreement"),
    Erasure: ("privacy", "erasure"),
    TenantOffboarding: ("privacy", "tenant"),
    AuditGrant: ("privacy", "audit_grant"),
}
FAMILIES = ("roster", "assessment", "attainment", "consent", "privacy")


@dataclass(frozen=True)
class EventType:
    """One kind of event: its class, its type string (= Avro full name) and its family."""

    event_class: type[Aggregate.Event]
    type_name: str
    family: str

    @property
    def topic(self) -> str:
        """The eventsourcing topic under which the event class is stored."""
        return get_topic(self.event_class)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _events_of(aggregate: type[Aggregate]) -> list[type[Aggregate.Event]]:
    return [
        value
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in ("Event", "Created")
    ]


@lru_cache(maxsize=1)
def catalogue() -> tuple[EventType, ...]:
    """Every event type the domain can record, in a stable order."""
    types = []
    for aggregate, (family, name) in AGGREGATES.items():
        for event_class in _events_of(aggregate):
            type_name = ".".join(
                (NAMESPACE, family, name, _snake(event_class.__name__), MAJOR_VERSION)
            )
            types.append(EventType(event_class, type_name, family))
    return tuple(types)


@lru_cache(maxsize=1)
def by_topic() -> dict[str, EventType]:
    """Event types by the eventsourcing topic of their class (as stored)."""
    return {t.topic: t for t in catalogue()}


@lru_cache(maxsize=1)
def by_type_name() -> dict[str, EventType]:
    return {t.type_name: t for t in catalogue()}
