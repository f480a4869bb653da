"""Who may do what: wrong tenant, wrong role, wrong class, bad tokens are all refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from tests.builders import a_school, a_user, an_assessment, bearer


def test_a_request_without_a_token_is_refused_with_401(client: TestClient, tenant: str) -> None:
    response = client.post("/api/v1/assessments", json=an_assessment())

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_tampered_token_is_refused(client: TestClient, container: Container, tenant: str) -> None:
    token = container.tokens.issue(tenant=tenant, role="admin", subject="a")
    header, payload, signature = token.split(".")

    response = client.put(
        "/api/v1/roster/orgs/x",
        json={"org": {"name": "X", "type": "school"}},
        headers={"Authorization": f"Bearer {header}.{payload}.{signature[::-1]}"},
    )

    assert response.status_code == 401


def test_an_expired_token_is_refused(
    client: TestClient, container: Container, tenant: str, clock: object
) -> None:
    headers = bearer(container, tenant, "admin", "a")
    clock.advance(hours=9)  # type: ignore[attr-defined]

    response = client.put(
        "/api/v1/roster/orgs/x", json={"org": {"name": "X", "type": "school"}}, headers=headers
    )

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_of_an_unknown_tenant_is_refused(client: TestClient, container: Container) -> None:
    headers = bearer(container, "nosuchcity", "admin", "a")

    response = client.put(
        "/api/v1/roster/orgs/x", json={"org": {"name": "X", "type": "school"}}, headers=headers
    )

    assert response.status_code == 403


def test_another_tenants_token_cannot_reach_this_tenants_records(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    a_school(client, container, tenant)
    other = tenant.removesuffix("a") + "b"
    container.tenants.create(other, name="Other municipality")
    other_app = container.tenants.get(other)
    head, other_head = app.head_position(), other_app.head_position()

    as_other_admin = client.put(
        "/api/v1/roster/users/stu-1",
        json={"user": a_user("stu-1", "student", given="Hijack", family="Attempt")},
        headers=bearer(container, other, "admin", "admin-1"),
    )
    as_other_teacher = client.post(
        "/api/v1/assessments",
        json=an_assessment(),
        headers=bearer(container, other, "teacher", "tch-1"),
    )

    assert as_other_admin.status_code == 422  # sch-1 does not exist in the other tenant
    assert as_other_teacher.status_code == 422  # nor does cls-4a
    assert (app.head_position(), other_head) == (head, other_app.head_position())
    assert app.personal_details("stu-1")["givenName"] == "Aino"  # type: ignore[index]


def test_only_admins_and_the_roster_service_write_rosters(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)
    body = {"org": {"name": "Uusi koulu", "type": "school", "identifier": "02"}}

    answers = {
        role: client.put(
            "/api/v1/roster/orgs/sch-2", json=body, headers=bearer(container, tenant, role, "x")
        ).status_code
        for role in ("teacher", "guardian", "student", "auditor", "service")
    }
    sis = client.put(
        "/api/v1/roster/orgs/sch-3",
        json=body,
        headers=bearer(container, tenant, "service", "primus-sis", "roster.createput"),
    )

    assert answers == {r: 403 for r in answers}
    assert sis.status_code == 201


def test_only_a_teacher_of_the_class_records_its_assessments(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    head = app.head_position()

    other_teacher = client.post(
        "/api/v1/assessments", json=an_assessment(), headers=school.other_teacher
    )
    admin = client.post("/api/v1/assessments", json=an_assessment(), headers=school.admin)
    guardian = client.post("/api/v1/assessments", json=an_assessment(), headers=school.guardian)
    student = client.post(
        "/api/v1/assessments",
        json=an_assessment(),
        headers=bearer(container, tenant, "student", "stu-1"),
    )

    assert [r.status_code for r in (other_teacher, admin, guardian, student)] == [403] * 4
    assert app.head_position() == head


def test_a_guardian_cannot_grant_for_someone_elses_name(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)

    response = client.post(
        "/api/v1/consents",
        json={
            "student": "stu-1",
            "grantedBy": "grd-1",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["roster"],
        },
        headers=bearer(container, tenant, "guardian", "grd-2"),
    )

    assert response.status_code == 403


def test_a_stranger_cannot_withdraw_a_consent(
    client: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(client, container, tenant)
    granted = client.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={
            "student": "stu-1",
            "grantedBy": "grd-1",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["roster"],
        },
    )

    response = client.delete(
        f"/api/v1/consents/{granted.json()['consentId']}",
        headers=bearer(container, tenant, "guardian", "grd-999"),
    )

    assert response.status_code == 403
