"""A consent-based OneRoster client sees only the students whose families consented."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from projections.reads.disclosures import disclosures_of
from tests.builders import School
from tests.oneroster.conftest import ClientFactory, Project

ROSTER = "/ims/oneroster/rostering/v1p2"
GRADEBOOK = "/ims/oneroster/gradebook/v1p2"
#: The backend matters only where the consent's dates meet the record's (SQLite keeps
#: date-times as text): that test runs on both.
postgres_only = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def _grant(
    client: TestClient, school: School, categories: list[str], purpose: str = "learning-app"
) -> str:
    granted = client.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={"student": "stu-1", "grantedBy": "grd-1", "recipient": "consentapp",
              "purposes": [purpose], "categories": categories},
    )  # fmt: skip
    assert granted.status_code == 201, granted.text
    consent_id: str = granted.json()["consentId"]
    return consent_id


def _consent_client(vendor: ClientFactory) -> dict[str, str]:
    return vendor(
        "consentapp",
        scopes=("roster.readonly", "gradebook.readonly"),
        categories=("identity",),
        basis="consent",
    )


def _users(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = client.get(f"{ROSTER}/users", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    users: list[dict[str, Any]] = answer.json()["users"]
    return users


@postgres_only
def test_a_consent_based_client_without_consents_sees_no_people(
    client: TestClient, school: School, vendor: ClientFactory
) -> None:
    headers = _consent_client(vendor)

    users = client.get(f"{ROSTER}/users", headers=headers)
    enrollments = client.get(f"{ROSTER}/enrollments", headers=headers)
    results = client.get(f"{GRADEBOOK}/results", headers=headers)
    classes = client.get(f"{ROSTER}/classes", headers=headers)

    assert users.json()["users"] == [] and users.headers["X-Total-Count"] == "0"
    assert enrollments.json()["enrollments"] == []
    assert results.json()["results"] == []
    assert {c["sourcedId"] for c in classes.json()["classes"]} >= {"cls-4a", "cls-5b"}


@postgres_only
def test_a_consented_student_is_visible_and_the_unconsented_classmate_is_not_even_by_or(
    client: TestClient, container: Container, tenant: str, school: School,
    vendor: ClientFactory, project: Project,
) -> None:  # fmt: skip
    headers = _consent_client(vendor)
    _grant(client, school, ["roster", "identity"])
    project()

    users = _users(client, headers)
    escaping = _users(client, headers, filter="sourcedId='stu-2' OR sourcedId='stu-1'")
    enrollments = client.get(f"{ROSTER}/classes/cls-4a/students", headers=headers)
    classmate = client.get(f"{ROSTER}/users/stu-2", headers=headers)

    assert [(u["sourcedId"], u["givenName"]) for u in users] == [("stu-1", "Aino")]
    assert [u["sourcedId"] for u in escaping] == ["stu-1"]
    assert [u["sourcedId"] for u in enrollments.json()["users"]] == ["stu-1"]
    assert classmate.status_code == 404
    disclosed = disclosures_of(container.engine, tenant=tenant, subject="stu-1")
    assert any(d.recipient == "consentapp" and d.basis != "statutory task" for d in disclosed)


@postgres_only
def test_a_consent_for_another_purpose_shows_the_client_nobody(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = _consent_client(vendor)  # its agreement's purpose: learning-app
    _grant(client, school, ["roster", "identity"], purpose="research")
    project()

    assert _users(client, headers) == []
    assert client.get(f"{ROSTER}/users/stu-1", headers=headers).status_code == 404


@postgres_only
def test_a_client_sees_only_the_personal_fields_both_its_agreement_and_the_consent_name(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = _consent_client(vendor)
    _grant(client, school, ["roster"])
    project()

    user = client.get(f"{ROSTER}/users/stu-1", headers=headers).json()["user"]
    by_name = _users(client, headers, filter="givenName='Aino'")

    assert user["givenName"] == "" and user["status"] == "active"
    assert by_name == []


def test_a_revoked_consent_makes_the_student_read_tobedeleted_with_a_newer_date(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    headers = _consent_client(vendor)
    consent = _grant(client, school, ["roster", "identity", "assessment"])
    project()
    before = client.get(f"{ROSTER}/users/stu-1", headers=headers).json()["user"]

    revoked = client.delete(f"/api/v1/consents/{consent}", headers=school.guardian)
    assert revoked.status_code in (200, 202, 204), revoked.text
    project()
    since = before["dateLastModified"]
    delta = _users(client, headers, filter=f"dateLastModified>'{since}'")
    enrollments = client.get(
        f"{ROSTER}/enrollments", params={"filter": "status='tobedeleted'"}, headers=headers
    ).json()["enrollments"]

    assert [(u["sourcedId"], u["status"]) for u in delta] == [("stu-1", "tobedeleted")]
    assert delta[0]["dateLastModified"] > since
    assert delta[0]["givenName"] == ""
    assert [e["user"]["sourcedId"] for e in enrollments] == ["stu-1"]
