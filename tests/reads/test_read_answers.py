"""The read answers match the models /openapi.json documents, and the read services answer
callers without HTTP (the CLI and the OneRoster provider call them too)."""

# ruff: noqa: F811 - the tests take the shared-runtime fixtures imported below as arguments

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.bootstrap import Container
from api.deps import build_read_service
from api.read_answers import ChildrenAnswer, ChildViewAnswer, ClassDashboardAnswer
from domain.commands import Actor
from projections.reads.access import ReadNotPermittedError
from projections.reads.class_dashboard import ClassDashboardReads
from projections.reads.guardian_view import GuardianViewReads
from tests.builders import School, a_school
from tests.reads.school import a_line_item, an_assessment_of, an_attainment_of, read
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

#: Every test here reads the one school the module seeds.
pytestmark = reads_only

DASHBOARD = "/api/v1/dashboards/classes/cls-4a"
CHILDREN = "/api/v1/guardians/me/children"
CHILD = f"{CHILDREN}/stu-1"


@pytest.fixture
def school(
    running: TestClient, container: Container, tenant: str, shared_runtime: SharedRuntime
) -> School:
    """a_school with every part of an answer filled: a line item past due (stu-2's work is
    missing), stu-1's late result with feedback, attainments, and consents (seeded once)."""
    return shared_runtime.school_of(tenant, lambda: _seed(running, container, tenant))


def _seed(running: TestClient, container: Container, tenant: str) -> School:
    built = a_school(running, container, tenant)
    a_line_item(running, built, "li-1")
    an_assessment_of(
        running,
        built,
        sourcedId="res-1",
        lineItem="li-1",
        score=17,
        grade="9",
        comment="Hyvää työtä murtoluvuissa.",
        late=True,
    )
    an_attainment_of(running, built, "stu-1", "MA.3-6.T5", 3, "2026-02-16", "li-1")
    for recipient in ("matikka-app", "kuva-app"):
        granted = running.post(
            "/api/v1/consents",
            headers=built.guardian,
            json={
                "student": "stu-1",
                "grantedBy": "grd-1",
                "recipient": recipient,
                "purposes": ["learning-app"],
                "categories": ["assessment"],
                "validUntil": "2026-12-31",
            },
        )
        assert granted.status_code == 201, granted.text
    withdrawn = running.delete(
        f"/api/v1/consents/{granted.json()['consentId']}", headers=built.guardian
    )
    assert withdrawn.status_code == 200, withdrawn.text
    return built


def dashboard_reads(container: Container) -> ClassDashboardReads:
    return build_read_service(ClassDashboardReads, container, container.projections.class_dashboard)


def guardian_view_reads(container: Container) -> GuardianViewReads:
    return build_read_service(GuardianViewReads, container, container.projections.guardian_view)


def _answer(
    client: TestClient,
    container: Container,
    tenant: str,
    path: str,
    headers: dict[str, str],
    **params: Any,
) -> dict[str, Any]:
    response = read(client, container, tenant, path, headers, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _documented(model: type[BaseModel], answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as its model reads it back: equal to the answer when the model documents
    every field of it, with the type it has."""
    return model.model_validate(answer).model_dump(by_alias=True)


def test_a_dashboard_answer_is_exactly_what_its_model_documents(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    answer = _answer(running, container, tenant, DASHBOARD, school.teacher, term="year-2026")

    trend = answer["students"][0]["trend"]
    assert answer["lateWork"] and answer["missingWork"] and answer["filters"]["term"]
    assert trend["attainments"] and trend["grades"]
    assert _documented(ClassDashboardAnswer, answer) == answer


def test_a_childs_view_and_the_list_of_children_are_exactly_what_their_models_document(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    view = _answer(running, container, tenant, CHILD, school.guardian)
    children = _answer(running, container, tenant, CHILDREN, school.guardian)

    assert view["results"] and view["attainments"] and len(view["consents"]) == 2
    assert _documented(ChildViewAnswer, view) == view
    assert _documented(ChildrenAnswer, children) == children


def test_the_openapi_document_names_the_model_of_each_hot_read(running: TestClient) -> None:
    paths = running.get("/openapi.json").json()["paths"]

    def model_of(path: str) -> str:
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        return str(schema["$ref"]).rsplit("/", 1)[-1]

    assert model_of("/api/v1/dashboards/classes/{classSourcedId}") == "ClassDashboardAnswer"
    assert model_of("/api/v1/guardians/me/children") == "ChildrenAnswer"
    assert model_of("/api/v1/guardians/me/children/{studentSourcedId}") == "ChildViewAnswer"
    assert model_of("/api/v1/students/me") == "ChildViewAnswer"


def test_a_caller_the_read_refuses_is_refused_at_once_without_waiting_for_min_position(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    beyond = container.tenants.get(tenant).head_position() + 1000

    started = time.monotonic()
    guardian = running.get(f"{DASHBOARD}?min_position={beyond}", headers=school.guardian)
    teacher = running.get(f"{CHILD}?min_position={beyond}", headers=school.teacher)
    answered_in = time.monotonic() - started

    assert (guardian.status_code, teacher.status_code) == (403, 403)
    assert answered_in < 4  # waiting would take 5 s each, and end in 504s


def test_the_dashboard_read_answers_a_teacher_of_the_class_as_the_api_does(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    through_http = _answer(running, container, tenant, DASHBOARD, school.teacher)
    reads = dashboard_reads(container)

    direct = reads.dashboard(
        container.tenants.get(tenant), Actor(tenant, "teacher", "tch-1"), "cls-4a"
    )

    assert direct == through_http


# Refused before any read: one backend is enough, and SQLite is the cheaper to build.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "actor", [("teacher", "tch-2"), ("guardian", "grd-1"), ("admin", "admin-1")]
)
def test_the_dashboard_read_refuses_anyone_but_a_teacher_of_the_class(
    running: TestClient,
    container: Container,
    tenant: str,
    school: School,
    actor: tuple[str, str],
) -> None:
    _answer(running, container, tenant, DASHBOARD, school.teacher)  # the class is projected
    reads = dashboard_reads(container)

    with pytest.raises(ReadNotPermittedError):
        reads.dashboard(container.tenants.get(tenant), Actor(tenant, *actor), "cls-4a")


def test_the_child_view_read_answers_the_guardian_and_refuses_another_childs(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    through_http = _answer(running, container, tenant, CHILD, school.guardian)
    reads, app = guardian_view_reads(container), container.tenants.get(tenant)
    guardian = Actor(tenant, "guardian", "grd-1")

    direct = reads.child_view(app, guardian, "stu-1")

    assert direct == through_http
    with pytest.raises(ReadNotPermittedError):
        reads.child_view(app, guardian, "stu-2")
