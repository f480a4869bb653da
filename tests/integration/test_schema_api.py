"""Subscribers resolve the schema of any message they receive by its fingerprint."""

from __future__ import annotations

import fastavro
from eventsourcing.domain import Aggregate
from fastapi.testclient import TestClient

from api.bootstrap import Container
from streams import avro_encoding
from streams.codec import EventCodec
from streams.schemas import default_registry
from tests.builders import a_school


def test_the_fingerprint_in_a_message_resolves_to_its_schema_over_http(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)
    app = container.tenants.get(tenant)
    codec = EventCodec(default_registry(), topic_prefix="digione", partitions=3)
    notification = next(iter(app.recorder.select_notifications(start=1, limit=1)))
    event = app.mapper.to_domain_event(notification)
    assert isinstance(event, Aggregate.Event)
    message = codec.encode(tenant, notification.id, event)
    fingerprint = message.value[2:10].hex()

    listed = client.get("/api/v1/schemas").json()["schemas"]
    fetched = client.get(f"/api/v1/schemas/{fingerprint}")

    assert fingerprint in {s["fingerprint"] for s in listed}
    assert fetched.status_code == 200
    schema = fastavro.parse_schema(fetched.json()["schema"])
    record = avro_encoding.decode(message.value, lambda _: schema)
    assert record["name"] == "Testikunta"


def test_an_unknown_fingerprint_is_a_404_problem(client: TestClient, container: Container) -> None:
    response = client.get("/api/v1/schemas/00000000deadbeef")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
