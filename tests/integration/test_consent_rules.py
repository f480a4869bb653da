"""Who may grant a consent: linked guardians for minors, students themselves from 13."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from domain.application import TenantApplication
from domain.commands import Actor, GrantConsent
from domain.errors import ConsentNotAllowedError
from tests.builders import School, put


def _grant(app: TenantApplication, role: str, by: str, student: str = "stu-1") -> str:
    outcome = app.grant_consent(
        Actor(app.tenant, role, by),
        GrantConsent(student, by, "matikka-app", ["learning-app"], ["roster"], None),
    )
    return outcome.id


def _born(client: TestClient, school: School, student: str, birth_date: str) -> None:
    put(
        client,
        school.admin,
        "demographics",
        student,
        "demographics",
        {"birthDate": birth_date},
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_twelve_year_old_cannot_grant_their_own_consent(
    client: TestClient, app: TenantApplication, school: School
) -> None:
    _born(client, school, "stu-1", "2013-06-01")  # 12 on 2026-03-02

    with pytest.raises(ConsentNotAllowedError, match="digital-consent age"):
        _grant(app, "student", "stu-1")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_student_whose_birth_date_is_unknown_cannot_self_grant(
    app: TenantApplication, school: School
) -> None:
    with pytest.raises(ConsentNotAllowedError, match="birth date is not known"):
        _grant(app, "student", "stu-1")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_student_turning_thirteen_today_can_grant(
    client: TestClient, app: TenantApplication, school: School
) -> None:
    _born(client, school, "stu-1", "2013-03-02")

    assert _grant(app, "student", "stu-1")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_guardianship_ends_when_the_student_comes_of_age(
    client: TestClient, app: TenantApplication, school: School
) -> None:
    _born(client, school, "stu-1", "2008-01-01")  # 18 on 2026-03-02

    with pytest.raises(ConsentNotAllowedError, match="of age"):
        _grant(app, "guardian", "grd-1")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_guardian_not_linked_to_the_student_cannot_grant(
    app: TenantApplication, school: School
) -> None:
    with pytest.raises(ConsentNotAllowedError, match="not a guardian linked"):
        _grant(app, "guardian", "grd-1", student="stu-2")
