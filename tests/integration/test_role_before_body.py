"""A caller whose role may never issue a command is refused 403 before its body is read:
whatever they send, even an incomplete or unparsable body, they learn none of its rules."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from tests.builders import a_school, bearer


@pytest.fixture
def backend() -> str:
    """A refusal by role comes before the body is read, whatever stores the events; SQLite,
    the embedded default, is the cheaper one to build per test."""
    return "sqlite"


#: (method, path, a role that may never issue the command)
COMMANDS = [
    ("PUT", "/api/v1/roster/users/stu-9", "guardian"),
    ("PUT", "/api/v1/roster/orgs/sch-9", "service"),  # a service without roster.createput
    ("DELETE", "/api/v1/roster/users/stu-1", "teacher"),
    ("PUT", "/api/v1/lineItems/li-9", "guardian"),
    ("POST", "/api/v1/assessments", "admin"),
    ("POST", "/api/v1/attainments", "student"),
    ("POST", "/api/v1/consents", "teacher"),
    ("POST", "/api/v1/erasures", "teacher"),
]
#: An incomplete body (every command's envelope or fields are missing) and no JSON at all.
MALFORMED: dict[str, dict[str, Any]] = {
    "incomplete": {"json": {"user": {"sourcedId": "stu-9"}}},
    "unparsable": {"content": b'{"not json', "headers": {"Content-Type": "application/json"}},
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=list(MALFORMED))
@pytest.mark.parametrize(("method", "path", "role"), COMMANDS)
def test_a_role_that_may_never_issue_a_command_is_refused_whatever_its_body(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    method: str,
    path: str,
    role: str,
    body: dict[str, Any],
) -> None:
    a_school(client, container, tenant)
    head = app.head_position()
    headers = {
        **bearer(container, tenant, role, "caller-1"),
        **body.get("headers", {}),
        "Idempotency-Key": "k-1",
    }

    response = client.request(
        method, path, json=body.get("json"), content=body.get("content"), headers=headers
    )

    assert response.status_code == 403
    assert response.json()["type"] == "urn:digione:problem:not-permitted"
    assert app.head_position() == head
    assert app.tables.find_answer(f"{role}:caller-1", "k-1") is None


def test_a_guardian_putting_an_incomplete_user_learns_no_field_of_it(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)

    response = client.put(
        "/api/v1/roster/users/stu-9",
        json={"user": {"sourcedId": "stu-9"}},
        headers=bearer(container, tenant, "guardian", "grd-1"),
    )

    assert response.status_code == 403
    assert "field" not in response.json()
    assert "givenName" not in response.text


def test_an_unparsable_command_without_a_token_is_refused_with_401(client: TestClient) -> None:
    response = client.post(
        "/api/v1/assessments",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 401


def test_a_permitted_role_still_gets_422_naming_the_missing_field(
    client: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(client, container, tenant)

    response = client.put(
        "/api/v1/roster/users/stu-9", json={"user": {"sourcedId": "stu-9"}}, headers=school.admin
    )

    assert response.status_code == 422
    assert response.json()["field"].startswith("user.")
