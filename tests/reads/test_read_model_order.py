"""The read models do not depend on the order events of different aggregates arrive in.

Kafka keeps one aggregate's events in order (one key, one partition) and nothing more: a
result may come before its line item, an erasure before the user it erases. Here the same
events go through the handlers in store order and in the worst order a runner could see
(whole aggregates, newest first), and both read models must be the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from eventsourcing.domain import Aggregate
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import Actor
from projections.base import Projection
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from streams.codec import EventCodec, EventEnvelope
from streams.kafka_transport import ReceivedMessage
from streams.schemas import default_registry
from tests.builders import a_school, a_user, put
from tests.reads.school import a_line_item, an_assessment_of, an_attainment_of, read_model_rows

KINDS: list[type[ClassDashboardProjection | GuardianViewProjection]] = [
    ClassDashboardProjection,
    GuardianViewProjection,
]


@pytest.fixture
def built(container: Container) -> Iterator[list[Projection]]:
    """Two instances of each read projection, under names of this test, tables created."""
    made: list[Projection] = [
        kind(name=f"o{uuid.uuid4().hex[:8]}") for kind in KINDS for _ in range(2)
    ]
    for projection in made:
        projection.metadata.create_all(container.engine)
    yield made
    for projection in made:
        projection.metadata.drop_all(container.engine)


def _envelopes(app: TenantApplication) -> list[EventEnvelope]:
    """The tenant's events as a consumer decodes them from the topics."""
    codec = EventCodec(default_registry(), topic_prefix="digione", partitions=1)
    envelopes = []
    for n in app.recorder.select_notifications(1, limit=1_000_000):
        message = codec.encode(
            app.tenant, n.id, cast(Aggregate.Event, app.mapper.to_domain_event(n))
        )
        envelopes.append(
            codec.decode(
                ReceivedMessage(
                    topic=message.topic,
                    partition=0,
                    offset=n.id,
                    key=message.key,
                    value=message.value,
                    headers=tuple(message.headers),
                    timestamp_ms=0,
                )
            )
        )
    return envelopes


def _worst_order(envelopes: list[EventEnvelope]) -> list[EventEnvelope]:
    """Whole aggregates, the last created first; each aggregate's own events in order."""
    first_seen: dict[Any, int] = {}
    for index, e in enumerate(envelopes):
        first_seen.setdefault(e.aggregate_id, index)
    return sorted(envelopes, key=lambda e: (-first_seen[e.aggregate_id], e.aggregate_version))


def _apply(container: Container, projection: Projection, envelopes: list[EventEnvelope]) -> None:
    for envelope in envelopes:
        handler = projection.handlers.get(envelope.event_type)
        if handler is not None:
            with container.engine.begin() as connection:
                handler(connection, envelope)


def test_read_models_are_the_same_whatever_order_different_aggregates_arrive_in(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    built: list[Projection],
) -> None:
    school = a_school(client, container, tenant)
    put(client, school.admin, "demographics", "stu-1", "demographics", {"birthDate": "2016-05-04"})
    a_line_item(client, school, "li-1")
    an_assessment_of(
        client, school, sourcedId="res-1", lineItem="li-1", score=12, comment="Ensimmäinen"
    )
    an_assessment_of(
        client, school, sourcedId="res-1", lineItem="li-1", score=16, comment="Korjattu"
    )
    an_assessment_of(
        client, school, sourcedId="res-2", student="stu-2", lineItem="li-1", score=9, comment="Eero"
    )
    an_assessment_of(client, school, sourcedId="res-2", student="stu-2", lineItem="li-1", score=13)
    an_attainment_of(client, school, "stu-1", "MA.3-6.T5", 2, "2025-10-01")
    an_attainment_of(client, school, "stu-1", "MA.3-6.T5", 3, "2026-02-16", "li-1")
    client.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={
            "student": "stu-1",
            "grantedBy": "grd-1",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["assessment"],
        },
    )
    put(
        client,
        school.admin,
        "users",
        "stu-1",
        "user",
        a_user("stu-1", "student", given="Aino", family="Virtanen"),
    )
    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-2", reason="Pyyntö", basis=None)
    in_store_order = _envelopes(app)

    for first, second in zip(built[::2], built[1::2], strict=True):
        _apply(container, first, in_store_order)
        _apply(container, second, _worst_order(in_store_order))

    for first, second in zip(built[::2], built[1::2], strict=True):
        assert read_model_rows(container, first, tenant) == read_model_rows(
            container, second, tenant
        )
        assert read_model_rows(container, first, tenant)["_results"]
