"""Request heads over the limit are refused before any route runs: 431 for header fields,
414 for a path with its query; within the limit they are served as before."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import bearer


def test_header_fields_over_the_limit_are_refused_431_before_the_token_is_looked_at(
    client: TestClient, container: Container, tenant: str
) -> None:
    limit = container.settings.max_header_bytes
    admin = bearer(container, tenant, "admin", "admin-1")

    refused = client.get("/healthz", headers={**admin, "X-Padding": "a" * limit})
    # Not even a bad token is looked at: the head is refused first.
    unverified = client.get(
        "/api/v1/roster/users/u-1", headers={"Authorization": "Bearer " + "x" * limit}
    )
    served = client.get("/healthz", headers={**admin, "X-Padding": "a" * (limit // 2)})

    assert refused.status_code == unverified.status_code == 431
    assert refused.json()["type"].endswith("headers-too-large")
    assert str(limit) in refused.json()["detail"]
    assert served.status_code == 200


def test_a_query_over_the_limit_is_refused_414(
    client: TestClient, container: Container, tenant: str
) -> None:
    limit = container.settings.max_header_bytes
    admin = bearer(container, tenant, "admin", "admin-1")

    refused = client.get(f"/healthz?pad={'a' * limit}", headers=admin)

    assert refused.status_code == 414
    assert refused.json()["type"].endswith("uri-too-long")
