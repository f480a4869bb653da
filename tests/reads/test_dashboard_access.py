"""Who may read a class dashboard: only a teacher of the class; every other caller is refused
with nothing of the class in the answer."""

# ruff: noqa: F811 - the tests take the shared-runtime fixtures imported below as arguments

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import School, a_school, bearer, put
from tests.conftest import FakeClock
from tests.reads.school import a_line_item, an_assessment_of, leaks_nothing, read
from tests.reads.shared_runtime import (  # noqa: F401 - the fixtures of this module's tests
    SharedRuntime,
    backend,
    clock,
    container,
    reads_only,
    running,
    shared_runtime,
    tenant,
)

DASHBOARD = "/api/v1/dashboards/classes/cls-4a"


@pytest.fixture
def school(
    running: TestClient, container: Container, tenant: str, shared_runtime: SharedRuntime
) -> School:
    """a_school with a graded line item in 4A, so there is data to leak (seeded once for
    the `reads_only` tests)."""
    return shared_runtime.school_of(tenant, lambda: _seed(running, container, tenant))


def _seed(running: TestClient, container: Container, tenant: str) -> School:
    built = a_school(running, container, tenant)
    a_line_item(running, built, "li-1")
    an_assessment_of(
        running, built, lineItem="li-1", score=17, grade="9", comment="Hyvää työtä murtoluvuissa."
    )
    return built


@reads_only
def test_the_teacher_of_the_class_reads_its_dashboard(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    response = read(running, container, tenant, DASHBOARD, school.teacher)

    assert response.status_code == 200
    assert response.json()["students"][0]["name"] == "Aino Virtanen"


@reads_only
def test_a_teacher_of_another_class_is_refused_with_nothing_of_the_class(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    response = read(running, container, tenant, DASHBOARD, school.other_teacher)

    assert response.status_code == 403
    assert leaks_nothing(response)


@reads_only
def test_a_class_that_does_not_exist_is_refused_exactly_as_one_not_taught(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    missing = read(
        running, container, tenant, "/api/v1/dashboards/classes/cls-9z", school.other_teacher
    )
    not_taught = read(running, container, tenant, DASHBOARD, school.other_teacher)

    assert missing.status_code == not_taught.status_code == 403
    assert missing.json() == not_taught.json()


# Refused before any read: one backend is enough, and SQLite is the cheaper to build.
@reads_only
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["guardian", "student", "admin", "auditor", "service"])
def test_no_role_but_teacher_reads_a_class_dashboard(
    running: TestClient, container: Container, tenant: str, school: School, role: str
) -> None:
    headers = bearer(container, tenant, role, "tch-1" if role != "student" else "stu-1")

    response = read(running, container, tenant, DASHBOARD, headers)

    assert response.status_code == 403
    assert leaks_nothing(response)


def test_a_teacher_of_another_tenant_is_refused_even_with_the_same_ids(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    other = tenant.removesuffix("a") + "b"
    container.tenants.create(other, name="Toinen kunta")

    read(running, container, tenant, DASHBOARD, school.teacher)  # the class is projected

    response = running.get(DASHBOARD, headers=bearer(container, other, "teacher", "tch-1"))

    assert response.status_code == 403
    assert leaks_nothing(response)


@reads_only
def test_a_token_of_a_tenant_that_does_not_exist_is_refused(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    response = running.get(DASHBOARD, headers=bearer(container, "nosuchcity", "teacher", "tch-1"))

    assert response.status_code == 403
    assert leaks_nothing(response)


@reads_only
def test_an_expired_token_is_refused_as_unauthenticated_with_nothing_of_the_class(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    clock.advance(hours=9)

    response = running.get(DASHBOARD, headers=school.teacher)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert leaks_nothing(response)


def test_a_teacher_whose_enrollment_in_the_class_ended_is_refused(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    put(
        running,
        school.admin,
        "enrollments",
        "enr-3",
        "enrollment",
        {
            "user": {"sourcedId": "tch-1"},
            "class": {"sourcedId": "cls-4a"},
            "school": {"sourcedId": "sch-1"},
            "role": "teacher",
            "endDate": "2026-02-28",
        },
    )

    response = read(running, container, tenant, DASHBOARD, school.teacher)

    assert response.status_code == 403
    assert leaks_nothing(response)


def test_a_teacher_whose_enrollment_was_marked_for_deletion_is_refused(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    deleted = running.delete("/api/v1/roster/enrollments/enr-3", headers=school.admin)
    assert deleted.status_code == 200, deleted.text

    response = read(running, container, tenant, DASHBOARD, school.teacher)

    assert response.status_code == 403
