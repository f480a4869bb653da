"""What the fault tests send: roster users, one event each, and the checks on the store."""

from __future__ import annotations

import time
from typing import Any

import httpx

from api.bootstrap import Container
from domain.ids import aggregate_id
from tests.builders import a_user


def put_school(client: httpx.Client, admin: dict[str, str]) -> None:
    """The org every user of the fault tests belongs to."""
    response = client.put(
        "/api/v1/roster/orgs/sch-1",
        json={"org": {"name": "Koivukylän koulu", "type": "school", "identifier": "01"}},
        headers=admin,
    )
    assert response.status_code in (200, 201), response.text


def put_user(client: httpx.Client, admin: dict[str, str], sourced_id: str) -> httpx.Response:
    record: dict[str, Any] = a_user(sourced_id, "student", given="Aino", family="Virtanen")
    return client.put(f"/api/v1/roster/users/{sourced_id}", json={"user": record}, headers=admin)


def events_of_user(container: Container, tenant: str, sourced_id: str) -> int:
    """How many events the store holds for the user: 1 for a user put once."""
    app = container.tenants.get(tenant)
    return len(list(app.recorder.select_events(aggregate_id(tenant, "users", sourced_id))))


def keys_of_user(container: Container, tenant: str, sourced_id: str) -> int:
    """How many live subject keys the store holds for the user (one per retention class
    their personal data is sealed in); 0 for a user never recorded."""
    app = container.tenants.get(tenant)
    return len(app.tables.subject_retention_classes(aggregate_id(tenant, "users", sourced_id)))


def wait_until_healthy_and_current(
    client: httpx.Client, admin: dict[str, str], tenant: str, *, within: float
) -> dict[str, Any]:
    """Polls /healthz until it says ok with every loop running, the relay at the store head
    and every projection of the tenant at it; the last answer either way."""
    deadline, health = time.monotonic() + within, {}
    while time.monotonic() < deadline:
        try:
            answer = client.get("/healthz", headers=admin)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            health = dict(answer.json())
            head = health["stores"].get(tenant, {}).get("position")
            if (
                health["status"] == "ok"
                and all(loop["running"] for loop in health["loops"].values())
                and health["relay"].get(tenant, {}).get("published") == head
                and health["projections"]
                and all(p["position"] == head and p["lag"] == 0 for p in health["projections"])
            ):
                return health
        time.sleep(0.2)
    return health
