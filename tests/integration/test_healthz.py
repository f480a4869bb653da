"""/healthz: a status for anyone, a tenant's positions for that tenant's admin alone."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import a_school, bearer
from tests.conftest import FakeClock


def _another_tenant(container: Container, tenant: str) -> str:
    other = tenant.removesuffix("a") + "b"
    container.tenants.create(other, name="Other municipality")
    return other


def test_an_unauthenticated_healthz_names_no_tenant(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert tenant not in response.text


def test_an_admin_sees_the_store_head_and_projections_of_their_own_tenant_only(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)
    other = _another_tenant(container, tenant)

    health = client.get("/healthz", headers=bearer(container, tenant, "admin", "ops-1")).json()

    assert health["status"] == "ok"
    assert health["stores"] == {tenant: {"position": container.tenants.get(tenant).head_position()}}
    assert health["projections"]
    assert {p["tenant"] for p in health["projections"]} == {tenant}
    assert other not in str(health)


def test_a_teacher_on_healthz_gets_only_the_status(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)

    response = client.get("/healthz", headers=bearer(container, tenant, "teacher", "tch-1"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_an_expired_admin_token_on_healthz_is_refused_with_401(
    client: TestClient, container: Container, tenant: str, clock: FakeClock
) -> None:
    headers = bearer(container, tenant, "admin", "ops-1")
    clock.advance(hours=9)

    response = client.get("/healthz", headers=headers)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert tenant not in response.text


def test_a_forged_token_on_healthz_is_refused_with_401(
    client: TestClient, container: Container, tenant: str
) -> None:
    token = container.tokens.issue(tenant=tenant, role="admin", subject="ops-1")

    response = client.get("/healthz", headers={"Authorization": f"Bearer {token[:-4]}abcd"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
