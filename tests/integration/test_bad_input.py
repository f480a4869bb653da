"""Bad input of every kind gets a 4xx problem naming the field, and records nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from tests.builders import a_school, a_user, an_assessment, bearer


@pytest.fixture
def backend() -> str:
    """Refusals happen before anything is stored, so the backend makes no difference here;
    SQLite, the embedded default, is the cheaper one to build per test. Hostile input on
    PostgreSQL is fuzzed in tests/hostile."""
    return "sqlite"


CONSENT = {
    "student": "stu-1",
    "grantedBy": "grd-1",
    "recipient": "matikka-app",
    "purposes": ["learning-app"],
    "categories": ["roster"],
}

# (who, method, path, body, expected status, expected field in the problem)
BAD_REQUESTS: list[tuple[str, str, str, Any, int, str | None]] = [
    ("admin", "PUT", "/api/v1/roster/orgs/o-1", "{not json", 422, None),
    ("admin", "PUT", "/api/v1/roster/orgs/o-1", {"org": {"type": "school"}}, 422, "org.name"),
    (
        "admin",
        "PUT",
        "/api/v1/roster/orgs/o-1",
        {"org": {"name": "X", "type": "galaxy", "identifier": "1"}},
        422,
        "type",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/orgs/o-1",
        {"org": {"sourcedId": "o-2", "name": "X", "type": "school"}},
        422,
        "org.sourcedId",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/orgs/o-1",
        {"org": {"name": "X", "type": "school", "parent": {"sourcedId": "nowhere"}}},
        422,
        "parent",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/users/u-9",
        {"user": a_user("u-9", "student", given="A", family="B", org="no-such-school")},
        422,
        "roles.org",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/users/u-9",
        {"user": a_user("u-9", "wizard", given="A", family="B")},
        422,
        "roles.role",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/users/u-9",
        {"user": {**a_user("u-9", "student", given="A", family="B"), "givenName": " "}},
        422,
        "givenName",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/academicSessions/y-1",
        {
            "academicSession": {
                "title": "Y",
                "type": "schoolYear",
                "startDate": "2026-08-01",
                "endDate": "2025-05-31",
                "schoolYear": "2026",
            }
        },
        422,
        "endDate",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/enrollments/enr-1",
        {
            "enrollment": {
                "user": {"sourcedId": "stu-2"},
                "class": {"sourcedId": "cls-4a"},
                "school": {"sourcedId": "sch-1"},
                "role": "student",
            }
        },
        409,
        "user",
    ),
    ("admin", "PUT", "/api/v1/roster/galaxies/g-1", {"galaxy": {}}, 404, None),
    ("admin", "DELETE", "/api/v1/roster/users/nobody", None, 404, None),
    ("teacher", "POST", "/api/v1/assessments", an_assessment(grade="11"), 422, "grade"),
    ("teacher", "POST", "/api/v1/assessments", an_assessment(student="stu-404"), 422, "student"),
    (
        "teacher",
        "POST",
        "/api/v1/assessments",
        an_assessment(objectives=["MA.9-9.T99"]),
        422,
        "objectives",
    ),
    (
        "teacher",
        "POST",
        "/api/v1/assessments",
        an_assessment(assessedAt="2031-01-01"),
        422,
        "assessedAt",
    ),
    (
        "teacher",
        "POST",
        "/api/v1/assessments",
        an_assessment(assessedAt="yesterday"),
        422,
        "assessedAt",
    ),
    (
        "teacher",
        "POST",
        "/api/v1/assessments",
        an_assessment(grade=None, comment=None),
        422,
        "score",
    ),
    ("teacher", "POST", "/api/v1/assessments", an_assessment(lineItem="li-404"), 422, "lineItem"),
    (
        "teacher",
        "POST",
        "/api/v1/attainments",
        {
            "student": "stu-1",
            "class": "cls-4a",
            "objective": "MA.3-6.T5",
            "level": 5,
            "assessedAt": "2026-01-01",
        },
        422,
        "level",
    ),
    (
        "teacher",
        "POST",
        "/api/v1/attainments",
        {
            "student": "stu-1",
            "class": "cls-4a",
            "objective": "MA.3-6.T5",
            "level": "high",
            "assessedAt": "2026-01-01",
        },
        422,
        "level",
    ),
    (
        "guardian",
        "POST",
        "/api/v1/consents",
        {**CONSENT, "categories": ["dreams"]},
        422,
        "categories",
    ),
    (
        "guardian",
        "POST",
        "/api/v1/consents",
        {**CONSENT, "validUntil": "2020-01-01"},
        422,
        "validUntil",
    ),
    ("guardian", "POST", "/api/v1/consents", {**CONSENT, "student": "stu-2"}, 403, "grantedBy"),
    (
        "student",
        "POST",
        "/api/v1/consents",
        {**CONSENT, "student": "stu-2", "grantedBy": "stu-2"},
        403,
        "grantedBy",
    ),
    ("guardian", "DELETE", "/api/v1/consents/not-a-uuid", None, 404, None),
    # Every text field has a maximum: one oversized value must never reach an event.
    (
        "admin",
        "PUT",
        "/api/v1/roster/users/u-9",
        {"user": a_user("u-9", "student", given="x" * 257, family="B")},
        422,
        "user.givenName",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/users/u-9",
        {"user": {**a_user("u-9", "student", given="A", family="B"), "email": "e" * 321}},
        422,
        "user.email",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/orgs/o-9",
        {"org": {"name": "N" * 257, "type": "school"}},
        422,
        "org.name",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/courses/c-9",
        {"course": {"title": "T" * 1025, "courseCode": "C"}},
        422,
        "course.title",
    ),
    ("teacher", "POST", "/api/v1/assessments", an_assessment(comment="k" * 20001), 422, "comment"),
    # PostgreSQL text refuses NUL characters: anywhere in the input they are bad input.
    (
        "admin",
        "PUT",
        "/api/v1/roster/users/u-9",
        {"user": a_user("u-9", "student", given="A\u0000B", family="B")},
        422,
        "user.givenName",
    ),
    (
        "teacher",
        "POST",
        "/api/v1/assessments",
        an_assessment(comment="hyvä\u0000työ"),
        422,
        "comment",
    ),
    (
        "admin",
        "PUT",
        "/api/v1/roster/users/u%009",
        {"user": a_user("u-9", "student", given="A", family="B")},
        422,
        "path",
    ),
    ("teacher", "GET", "/api/v1/dashboards/classes/cls-4a?term=y%00", None, 422, "term"),
]


@pytest.mark.parametrize(
    "who,method,path,body,status,field",
    BAD_REQUESTS,
    ids=[f"{m} {p} → {s} {f}" for _, m, p, _b, s, f in BAD_REQUESTS],
)
def test_bad_input_gets_a_problem_and_leaves_the_store_unchanged(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    who: str,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    school = a_school(client, container, tenant)
    headers = {
        "admin": school.admin,
        "teacher": school.teacher,
        "guardian": school.guardian,
        "student": bearer(container, tenant, "student", "stu-2"),
    }[who]
    head, keys = app.head_position(), app.tables.count_subject_keys()
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}

    response = client.request(
        method,
        path,
        headers={**headers, "Content-Type": "application/json"},
        **(kwargs if body is not None else {}),
    )

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["type"].startswith("urn:digione:problem:")
    assert problem["detail"]
    if field is not None:
        assert problem.get("field") == field, problem
    assert app.head_position() == head
    assert app.tables.count_subject_keys() == keys


def test_a_problem_never_echoes_the_personal_data_it_was_sent(
    client: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(client, container, tenant)
    user = a_user("u-7", "student", given="Zyxwvuta", family="Qqqpersonal", org="missing-school")

    response = client.put("/api/v1/roster/users/u-7", json={"user": user}, headers=school.admin)

    assert response.status_code == 422
    assert "Zyxwvuta" not in response.text and "Qqqpersonal" not in response.text
