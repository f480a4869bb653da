"""A Finnish personal identity code (henkilötunnus) is never stored: roster writes that
carry one in `userIds` are refused with a clear 422 and record nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.identity_codes import contains_identity_code, is_identity_code
from tests.builders import School, a_user


@pytest.mark.parametrize(
    "code",
    ["131052-308T", "010101A123N", "131052a308t", " 290200A1239 ", "010594Y9032"],
)
def test_valid_identity_codes_of_every_century_are_recognised(code: str) -> None:
    assert is_identity_code(code)


@pytest.mark.parametrize(
    "text",
    ["131052-308X", "321052-308T", "1310523080", "oid-1.2.246.562.24.123", "131052-30T"],
)
def test_codes_with_a_wrong_check_character_or_date_are_not_identity_codes(text: str) -> None:
    assert not is_identity_code(text)
    assert not contains_identity_code(text)


def test_an_identity_code_inside_a_longer_identifier_is_found() -> None:
    assert contains_identity_code("hetu:131052-308T")
    assert not contains_identity_code("x131052-308T9")


def test_native_put_user_with_an_identity_code_in_user_ids_is_refused_and_records_nothing(
    client: TestClient, container: Container, tenant: str, school: School
) -> None:
    user = a_user("stu-9", "student", given="Iida", family="Ikonen")
    user["userIds"] = [
        {"type": "oid", "identifier": "1.2.246.562.24.10000000001"},
        {"type": "hetu", "identifier": "131052-308T"},
    ]
    before = container.tenants.get(tenant).recorder.max_notification_id()
    response = client.put("/api/v1/roster/users/stu-9", json={"user": user}, headers=school.admin)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert "personal identity code" in problem["detail"]
    assert "userIds[1]" in str(problem)
    assert container.tenants.get(tenant).recorder.max_notification_id() == before

    user["userIds"] = [{"type": "oid", "identifier": "1.2.246.562.24.10000000001"}]
    accepted = client.put("/api/v1/roster/users/stu-9", json={"user": user}, headers=school.admin)
    assert accepted.status_code == 201, accepted.text
