"""The guardian's view of a child, and the student's own, read through the real runtime."""

# ruff: noqa: F811 - the tests take the shared-runtime fixtures imported below as arguments

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.commands import Actor
from projections.reads.disclosures import STATUTORY_TASK, disclosures_of
from tests.builders import School, a_school, a_user, bearer, put
from tests.conftest import FakeClock
from tests.reads.school import (
    a_line_item,
    an_assessment_of,
    an_attainment_of,
    leaks_nothing,
    read,
)
from tests.reads.shared_runtime import (  # noqa: F401 - the fixtures of this module's tests
    backend,
    clock,
    container,
    running,
    shared_runtime,
    tenant,
)

CHILDREN = "/api/v1/guardians/me/children"
CHILD = f"{CHILDREN}/stu-1"


@pytest.fixture
def school(running: TestClient, container: Container, tenant: str) -> School:
    """a_school, with stu-1 (guardian grd-1) assessed in 4A on line item li-1."""
    built = a_school(running, container, tenant)
    a_line_item(running, built, "li-1", title="Murtoluvut")
    an_assessment_of(
        running,
        built,
        sourcedId="res-1",
        lineItem="li-1",
        score=17,
        grade="9",
        comment="Hyvää työtä murtoluvuissa.",
    )
    an_attainment_of(running, built, "stu-1", "MA.3-6.T5", 3, "2026-02-16", "li-1")
    an_assessment_of(
        running, built, student="stu-2", lineItem="li-1", score=9, comment="Eeron oma palaute"
    )
    return built


def _view(
    client: TestClient,
    container: Container,
    tenant: str,
    headers: dict[str, str],
    path: str = CHILD,
) -> dict[str, Any]:
    response = read(client, container, tenant, path, headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _consent(client: TestClient, school: School, **fields: Any) -> str:
    body = {
        "student": "stu-1",
        "grantedBy": "grd-1",
        "recipient": "matikka-app",
        "purposes": ["learning-app"],
        "categories": ["assessment"],
        **fields,
    }
    response = client.post("/api/v1/consents", json=body, headers=school.guardian)
    assert response.status_code == 201, response.text
    return str(response.json()["consentId"])


def test_a_guardian_sees_the_childs_classes_and_teachers_by_name(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    view = _view(running, container, tenant, school.guardian)

    assert view["student"] == {"sourcedId": "stu-1", "name": "Aino Virtanen"}
    assert view["classes"] == [
        {
            "sourcedId": "cls-4a",
            "title": "cls-4a",
            "course": {"sourcedId": "ma-4", "title": "Matematiikka 4"},
            "subjectCodes": ["MA"],
            "teachers": [{"sourcedId": "tch-1", "name": "Tiina Opettaja"}],
        }
    ]


def test_a_guardian_sees_results_with_the_teachers_verbal_feedback(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    view = _view(running, container, tenant, school.guardian)

    assert len(view["results"]) == 1
    result = view["results"][0]
    assert result["comment"] == "Hyvää työtä murtoluvuissa."
    assert (result["score"], result["grade"], result["lineItem"]["title"]) == (
        17.0,
        "9",
        "Murtoluvut",
    )
    assert result["assessor"] == {"sourcedId": "tch-1", "name": "Tiina Opettaja"}
    assert "Eeron" not in str(view)  # another child's feedback


def test_a_guardian_sees_attainment_per_objective_in_plain_language(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    view = _view(running, container, tenant, school.guardian)

    assert view["attainments"] == [
        {
            "objective": {
                "code": "MA.3-6.T5",
                "subject": "MA",
                "titles": {
                    "fi": "ohjata ja tukea oppilasta ongelmanratkaisutaitojen kehittämisessä",
                    "en": "Develop problem-solving skills",
                },
                "learnerTitles": {
                    "fi": "Osaan ratkaista ongelmia ja kokeilla eri tapoja.",
                    "sv": "Jag kan lösa problem och pröva olika sätt.",
                    "en": "I can solve problems and try different ways.",
                },
            },
            "class": {"sourcedId": "cls-4a", "title": "cls-4a"},
            "level": 3,
            "levelText": {"fi": "saavutettu hyvin", "en": "reached well"},
            "assessedAt": "2026-02-16",
            "evidence": [{"sourcedId": "li-1", "title": "Murtoluvut"}],
        }
    ]


def test_a_correction_replaces_the_earlier_result_and_feedback(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    an_assessment_of(
        running,
        school,
        sourcedId="res-1",
        lineItem="li-1",
        score=19,
        grade="10",
        comment="Korjattu: erinomaista työtä.",
    )

    view = _view(running, container, tenant, school.guardian)

    assert [(r["sourcedId"], r["grade"], r["comment"]) for r in view["results"]] == [
        ("res-1", "10", "Korjattu: erinomaista työtä.")
    ]


def test_consents_given_for_the_child_show_their_state(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    kept = _consent(running, school, recipient="matikka-app")
    revoked = _consent(running, school, recipient="kuva-app", categories=["photos"])
    assert running.delete(f"/api/v1/consents/{revoked}", headers=school.guardian).status_code == 200

    consents = {
        c["consentId"]: c for c in _view(running, container, tenant, school.guardian)["consents"]
    }

    assert consents[kept]["state"] == "granted"
    assert consents[kept]["recipient"] == "matikka-app"
    assert consents[kept]["grantedBy"] == "grd-1"
    assert consents[revoked]["state"] == "revoked"
    assert consents[revoked]["revokedAt"] is not None


def test_a_consent_past_its_valid_until_reads_as_expired_before_and_after_its_expiry_event(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    consent = _consent(running, school, validUntil="2026-03-10")
    clock.advance(days=10)  # 2026-03-12
    guardian = bearer(container, tenant, "guardian", "grd-1")

    before = _view(running, container, tenant, guardian)["consents"][0]
    container.tenants.get(tenant).expire_due_consents([consent])
    after = _view(running, container, tenant, guardian)["consents"][0]

    assert (before["state"], before["expiredOn"]) == ("expired", None)
    assert (after["state"], after["expiredOn"]) == ("expired", "2026-03-10")


def test_a_guardian_lists_their_own_children_only(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    put(
        running,
        school.admin,
        "users",
        "grd-2",
        "user",
        a_user("grd-2", "guardian", given="Toinen", family="Huoltaja"),
    )
    put(
        running,
        school.admin,
        "users",
        "stu-2",
        "user",
        a_user("stu-2", "student", given="Eero", family="Oppilas", agents=("grd-2",)),
    )

    mine = _view(running, container, tenant, school.guardian, CHILDREN)
    theirs = _view(
        running, container, tenant, bearer(container, tenant, "guardian", "grd-2"), CHILDREN
    )

    assert mine == {"children": [{"sourcedId": "stu-1", "name": "Aino Virtanen"}]}
    assert theirs == {"children": [{"sourcedId": "stu-2", "name": "Eero Oppilas"}]}


def test_a_guardian_of_another_child_is_refused_as_if_the_child_did_not_exist(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    other_child = read(running, container, tenant, f"{CHILDREN}/stu-2", school.guardian)
    nobody = read(running, container, tenant, f"{CHILDREN}/stu-404", school.guardian)

    assert other_child.status_code == nobody.status_code == 403
    assert other_child.json() == nobody.json()
    assert leaks_nothing(other_child)


def test_removing_the_guardian_link_ends_access_at_once(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    assert read(running, container, tenant, CHILD, school.guardian).status_code == 200

    unlinked = put(
        running,
        school.admin,
        "users",
        "stu-1",
        "user",
        a_user("stu-1", "student", given="Aino", family="Virtanen"),
    )
    position = unlinked.json()["position"]
    child = running.get(f"{CHILD}?min_position={position}", headers=school.guardian)
    children = running.get(f"{CHILDREN}?min_position={position}", headers=school.guardian)

    assert child.status_code == 403
    assert leaks_nothing(child)
    assert children.json() == {"children": []}


def test_a_child_who_turns_18_is_no_longer_visible_to_the_guardian(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    put(running, school.admin, "demographics", "stu-1", "demographics", {"birthDate": "2008-03-05"})
    assert read(running, container, tenant, CHILD, school.guardian).status_code == 200

    clock.advance(days=3)  # 2026-03-05: the 18th birthday
    guardian = bearer(container, tenant, "guardian", "grd-1")
    child = read(running, container, tenant, CHILD, guardian)
    children = read(running, container, tenant, CHILDREN, guardian)
    own = read(
        running,
        container,
        tenant,
        "/api/v1/students/me",
        bearer(container, tenant, "student", "stu-1"),
    )

    assert child.status_code == 403
    assert leaks_nothing(child)
    assert children.json() == {"children": []}
    assert own.status_code == 200  # the student, of age, still sees their own view


def test_a_student_sees_their_own_view_by_both_paths(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    student = bearer(container, tenant, "student", "stu-1")

    own = _view(running, container, tenant, student, "/api/v1/students/me")
    as_child = _view(running, container, tenant, student, CHILD)

    assert own == as_child
    assert own["results"][0]["comment"] == "Hyvää työtä murtoluvuissa."


def test_a_student_reading_another_student_is_refused(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    response = read(
        running, container, tenant, CHILD, bearer(container, tenant, "student", "stu-2")
    )

    assert response.status_code == 403
    assert leaks_nothing(response)


# Refused before any read: one backend is enough, and SQLite is the cheaper to build.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["teacher", "admin", "auditor", "service"])
def test_no_role_but_guardian_or_student_reads_a_childs_view(
    running: TestClient, container: Container, tenant: str, school: School, role: str
) -> None:
    headers = bearer(container, tenant, role, "grd-1")

    child = read(running, container, tenant, CHILD, headers)
    children = read(running, container, tenant, CHILDREN, headers)

    assert child.status_code == children.status_code == 403
    assert leaks_nothing(child) and leaks_nothing(children)


def test_a_guardian_of_another_tenant_is_refused_even_with_the_same_ids(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    read(running, container, tenant, CHILD, school.guardian)  # the child is projected
    other = tenant.removesuffix("a") + "b"
    container.tenants.create(other, name="Toinen kunta")
    guardian = bearer(container, other, "guardian", "grd-1")

    child = running.get(CHILD, headers=guardian)
    children = running.get(CHILDREN, headers=guardian)

    assert child.status_code == 403
    assert leaks_nothing(child)
    assert children.json() == {"children": []}


def test_an_expired_token_is_refused_as_unauthenticated_with_nothing_of_the_child(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    clock.advance(hours=9)

    response = running.get(CHILD, headers=school.guardian)

    assert response.status_code == 401
    assert leaks_nothing(response)


def test_erased_feedback_and_names_read_as_erased(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    container.tenants.get(tenant).erase(
        Actor(tenant, "admin", "dpo"), subject="stu-1", reason="Huoltajan pyyntö", basis=None
    )

    view = _view(running, container, tenant, school.guardian)

    assert view["student"]["name"] == "erased"
    assert view["results"][0]["comment"] == "erased"
    assert view["results"][0]["grade"] == "9"  # pseudonymous facts remain
    assert view["classes"][0]["teachers"][0]["name"] == "Tiina Opettaja"


def test_a_read_with_the_position_a_command_answered_includes_that_write(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    position = an_assessment_of(
        running, school, lineItem=None, grade="8", comment="Uusi palaute", assessedAt="2026-03-01"
    )

    response = running.get(f"{CHILD}?min_position={position}", headers=school.guardian)

    assert response.status_code == 200
    assert response.json()["results"][0]["comment"] == "Uusi palaute"


def test_a_childs_view_is_recorded_as_a_disclosure_to_the_guardian(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    _view(running, container, tenant, school.guardian)

    child = disclosures_of(container.engine, tenant, "stu-1")
    teacher = disclosures_of(container.engine, tenant, "tch-1")

    assert {(d.recipient, d.category) for d in child} >= {
        ("grd-1", "identity"),
        ("grd-1", "assessment"),
    }
    assert {(d.recipient, d.category, d.basis) for d in teacher} == {
        ("grd-1", "identity", STATUTORY_TASK)
    }
    assert disclosures_of(container.engine, tenant, "stu-2") == []
