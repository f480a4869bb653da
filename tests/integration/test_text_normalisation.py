"""Text is stored in one Unicode spelling (NFC): the NFD spelling of a name is the same name."""

from __future__ import annotations

import unicodedata

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from tests.builders import a_school, a_user, bearer


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_the_nfd_spelling_of_a_stored_name_changes_nothing(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    user = a_user("stu-9", "student", given="Äänä", family="Mäkelä")
    client.put("/api/v1/roster/users/stu-9", json={"user": user}, headers=school.admin)
    head = app.head_position()
    nfd = {**user, "givenName": _nfd("Äänä"), "familyName": _nfd("Mäkelä")}
    assert nfd["familyName"] != user["familyName"]

    response = client.put("/api/v1/roster/users/stu-9", json={"user": nfd}, headers=school.admin)

    assert response.status_code == 200, response.text
    assert response.json()["changed"] is False
    assert app.head_position() == head


def test_a_name_sent_in_nfd_is_stored_in_nfc(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    admin = bearer(container, tenant, "admin", "a")
    org = {"name": _nfd("Jyväskylän kaupunki"), "type": "district"}
    client.put("/api/v1/roster/orgs/dist-1", json={"org": org}, headers=admin)
    head = app.head_position()

    response = client.put(
        "/api/v1/roster/orgs/dist-1",
        json={"org": {**org, "name": "Jyväskylän kaupunki"}},
        headers=admin,
    )

    assert response.json()["changed"] is False
    assert app.head_position() == head
