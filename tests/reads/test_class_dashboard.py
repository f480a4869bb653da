"""The teacher's class dashboard, read through the real runtime on SQLite and PostgreSQL."""

# ruff: noqa: F811 - the tests take the shared-runtime fixtures imported below as arguments

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.commands import Actor
from projections.reads.disclosures import STATUTORY_TASK, disclosures_of
from tests.builders import School, a_school, put
from tests.reads.school import (
    a_line_item,
    an_assessment_of,
    an_attainment_of,
    another_student,
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

DASHBOARD = "/api/v1/dashboards/classes/cls-4a"


@pytest.fixture
def school(running: TestClient, container: Container, tenant: str) -> School:
    """Class 4A with four students: stu-1 and stu-2 of a_school, stu-3 and stu-4."""
    built = a_school(running, container, tenant)
    another_student(running, built, "stu-3", given="Sanni", family="Kolmas")
    another_student(running, built, "stu-4", given="Veeti", family="Neljäs")
    return built


def _dashboard(
    client: TestClient, container: Container, tenant: str, school: School, **params: Any
) -> dict[str, Any]:
    response = read(client, container, tenant, DASHBOARD, school.teacher, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _line_item(body: dict[str, Any], sourced_id: str) -> dict[str, Any]:
    return next(i for i in body["lineItems"] if i["sourcedId"] == sourced_id)


def _student(body: dict[str, Any], sourced_id: str) -> dict[str, Any]:
    return next(s for s in body["students"] if s["sourcedId"] == sourced_id)


def test_each_line_item_shows_the_class_distribution_of_scores_and_grades(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1")
    for student, score, grade in (
        ("stu-1", 12, "7"),
        ("stu-2", 15, "8"),
        ("stu-3", 18, "9"),
        ("stu-4", 20, "10"),
    ):
        an_assessment_of(
            running, school, student=student, lineItem="li-1", score=score, grade=grade
        )

    body = _dashboard(running, container, tenant, school)

    item = _line_item(body, "li-1")
    # Scores 12, 15, 18, 20: mean 65 / 4 = 16.25; median (15 + 18) / 2 = 16.5; deviations
    # -4.25, -1.25, 1.75, 3.75 square to 18.0625 + 1.5625 + 3.0625 + 14.0625 = 36.75, and
    # the population standard deviation is sqrt(36.75 / 4) = sqrt(9.1875) = 3.0311.
    assert item["scores"] == {
        "count": 4,
        "mean": 16.25,
        "median": 16.5,
        "spread": pytest.approx(3.031, abs=0.001),
        "min": 12.0,
        "max": 20.0,
    }
    # Grades 7, 8, 9, 10: mean 8.5, median 8.5, sqrt((2.25 + 0.25 + 0.25 + 2.25) / 4) = 1.118.
    assert item["grades"] == {
        "count": 4,
        "mean": 8.5,
        "median": 8.5,
        "spread": pytest.approx(1.118, abs=0.001),
        "min": 7.0,
        "max": 10.0,
    }
    assert item["results"] == 4
    assert _student(body, "stu-3")["results"]["li-1"]["score"] == 18.0


def test_a_correction_replaces_the_earlier_result_in_the_cell_and_the_distribution(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1")
    an_assessment_of(running, school, sourcedId="res-1", student="stu-1", lineItem="li-1", score=12)
    an_assessment_of(running, school, sourcedId="res-2", student="stu-2", lineItem="li-1", score=10)

    an_assessment_of(running, school, sourcedId="res-1", student="stu-1", lineItem="li-1", score=16)
    an_assessment_of(running, school, sourcedId="res-2", student="stu-2", lineItem="li-1", score=18)
    body = _dashboard(running, container, tenant, school)

    assert _student(body, "stu-1")["results"]["li-1"]["score"] == 16.0
    assert _student(body, "stu-1")["results"]["li-1"]["sourcedId"] == "res-1"
    assert _student(body, "stu-2")["results"]["li-1"]["score"] == 18.0
    # (16 + 18) / 2 = 17; sqrt((1 + 1) / 2) = 1.
    assert _line_item(body, "li-1")["scores"] == {
        "count": 2,
        "mean": 17.0,
        "median": 17.0,
        "spread": 1.0,
        "min": 16.0,
        "max": 18.0,
    }


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # HTTP only: one backend
def test_a_teacher_holding_the_current_page_gets_304_and_a_changed_page_in_full(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1")
    an_assessment_of(running, school, sourcedId="res-1", student="stu-1", lineItem="li-1", score=12)
    first = read(running, container, tenant, DASHBOARD, school.teacher)
    tag = first.headers["ETag"]

    same = read(running, container, tenant, DASHBOARD, {**school.teacher, "If-None-Match": tag})
    stranger = read(running, container, tenant, DASHBOARD, {**school.admin, "If-None-Match": tag})
    an_assessment_of(running, school, sourcedId="res-1", student="stu-1", lineItem="li-1", score=16)
    changed = read(running, container, tenant, DASHBOARD, {**school.teacher, "If-None-Match": tag})

    assert first.status_code == 200 and "private" in first.headers["Cache-Control"]
    assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == tag
    assert stranger.status_code == 403  # authorised on every request, whatever it holds
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert _student(changed.json(), "stu-1")["results"]["li-1"]["score"] == 16.0
    recorded = [
        d.count
        for d in disclosures_of(container.engine, tenant, "stu-1")
        if d.category == "identity"
    ]
    assert recorded == [3]  # the 304 is a read of the page too


def test_the_matrix_shows_each_students_latest_level_with_its_date_and_evidence(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1")
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 2, "2025-10-01")
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 3, "2026-02-16", "li-1")
    an_attainment_of(running, school, "stu-2", "MA.3-6.T10", 4, "2026-02-17")

    body = _dashboard(running, container, tenant, school)

    assert _student(body, "stu-1")["attainments"] == {
        "MA.3-6.T5": {"level": 3, "assessedAt": "2026-02-16", "evidence": ["li-1"]}
    }
    assert _student(body, "stu-2")["attainments"]["MA.3-6.T10"]["level"] == 4
    assert _student(body, "stu-3")["attainments"] == {}
    assert _student(body, "stu-1")["name"] == "Aino Virtanen"


def test_each_students_trend_lists_levels_and_grades_over_the_year_in_date_order(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1")
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 3, "2026-02-01")
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 1, "2025-10-01")  # backdated
    an_assessment_of(
        running, school, student="stu-1", lineItem="li-1", grade="8", assessedAt="2026-02-20"
    )
    an_assessment_of(running, school, student="stu-1", grade="7", assessedAt="2025-12-15")

    trend = _student(_dashboard(running, container, tenant, school), "stu-1")["trend"]

    assert trend["attainments"] == [
        {"date": "2025-10-01", "objective": "MA.3-6.T5", "level": 1},
        {"date": "2026-02-01", "objective": "MA.3-6.T5", "level": 3},
    ]
    assert trend["grades"] == [
        {"date": "2025-12-15", "grade": 7, "lineItem": None},
        {"date": "2026-02-20", "grade": 8, "lineItem": "li-1"},
    ]


def test_missing_work_is_a_past_due_line_item_without_a_result_or_not_submitted(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1", due="2026-02-14T16:00:00Z")
    a_line_item(running, school, "li-2", due="2026-03-20T16:00:00Z")  # not due yet
    an_assessment_of(running, school, student="stu-1", lineItem="li-1", score=14)
    an_assessment_of(
        running, school, student="stu-2", lineItem="li-1", score=0, scoreStatus="not submitted"
    )
    # stu-4 joined after li-1 was due: it was never theirs to hand in.
    put(
        running,
        school.admin,
        "enrollments",
        "enr-stu-4",
        "enrollment",
        {
            "user": {"sourcedId": "stu-4"},
            "class": {"sourcedId": "cls-4a"},
            "school": {"sourcedId": "sch-1"},
            "role": "student",
            "beginDate": "2026-02-20",
        },
    )

    body = _dashboard(running, container, tenant, school)

    assert [
        (m["student"], [(i["sourcedId"], i["reason"]) for i in m["lineItems"]])
        for m in body["missingWork"]
    ] == [
        ("stu-2", [("li-1", "not submitted")]),
        ("stu-3", [("li-1", "no result")]),
    ]
    assert body["missingWork"][1]["name"] == "Sanni Kolmas"
    # A score of work not submitted says nothing of how the work went.
    assert _line_item(body, "li-1")["scores"]["count"] == 1
    assert _line_item(body, "li-1")["scoreStatuses"] == {"fully graded": 1, "not submitted": 1}


def test_late_work_lists_the_students_whose_result_was_handed_in_after_the_due_date(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1", title="Murtoluvut", due="2026-02-14T16:00:00Z")
    a_line_item(running, school, "li-2", title="Kertotaulu", due="2026-02-21T16:00:00Z")
    an_assessment_of(running, school, student="stu-1", lineItem="li-1", score=14, late=True)
    an_assessment_of(running, school, student="stu-2", lineItem="li-1", score=12)
    an_assessment_of(
        running,
        school,
        student="stu-1",
        lineItem="li-2",
        score=9,
        late=True,
        assessedAt="2026-02-25",
    )
    # A correction that clears the flag takes the work off the list.
    result = _student(_dashboard(running, container, tenant, school), "stu-2")["results"]
    an_assessment_of(
        running, school, student="stu-3", lineItem="li-2", score=10, late=True, sourcedId="res-3"
    )
    an_assessment_of(
        running, school, student="stu-3", lineItem="li-2", score=10, late=False, sourcedId="res-3"
    )

    body = _dashboard(running, container, tenant, school)

    assert result["li-1"]["late"] is False
    assert [
        (
            w["student"],
            w["name"],
            [(i["sourcedId"], i["title"], i["assessedAt"]) for i in w["lineItems"]],
        )
        for w in body["lateWork"]
    ] == [
        (
            "stu-1",
            "Aino Virtanen",
            [("li-1", "Murtoluvut", "2026-02-20"), ("li-2", "Kertotaulu", "2026-02-25")],
        ),
    ]
    assert _student(body, "stu-1")["results"]["li-1"]["late"] is True
    # Late work is handed in: it is not missing.
    assert "stu-1" not in {m["student"] for m in body["missingWork"]}


def test_late_without_a_line_item_is_refused_with_422_and_nothing_recorded(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    head = container.tenants.get(tenant).head_position()

    response = running.post(
        "/api/v1/assessments",
        headers=school.teacher,
        json={
            "student": "stu-1",
            "class": "cls-4a",
            "assessedAt": "2026-02-20",
            "score": 3,
            "late": True,
        },
    )

    assert response.status_code == 422
    assert response.json()["field"] == "late"
    assert container.tenants.get(tenant).head_position() == head


def test_objectives_of_the_class_subjects_nobody_was_assessed_on_are_listed(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    an_attainment_of(running, school, "stu-2", "MA.3-6.T5", 2, "2026-02-01")

    body = _dashboard(running, container, tenant, school)

    # The class names no subject; its course ma-4 is MA, so MA's grade 3–6 objectives.
    codes = [o["code"] for o in body["objectives"]]
    assert codes == [f"MA.3-6.T{n}" for n in range(1, 15)]
    assert body["unassessedObjectives"] == [c for c in codes if c != "MA.3-6.T5"]
    assert body["objectives"][4]["titles"]["en"] == "Develop problem-solving skills"


def test_students_are_paged_by_sourced_id_with_the_total(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1")

    body = _dashboard(running, container, tenant, school, limit=2, offset=1)

    assert [s["sourcedId"] for s in body["students"]] == ["stu-2", "stu-3"]
    assert body["page"] == {"limit": 2, "offset": 1, "total": 4}
    assert [i["sourcedId"] for i in body["lineItems"]] == ["li-1"]


def _terms(client: TestClient, school: School) -> None:
    for sourced_id, title, start, end in (
        ("autumn", "Syyslukukausi", "2025-08-11", "2025-12-21"),
        ("spring", "Kevätlukukausi", "2026-01-05", "2026-05-30"),
    ):
        put(
            client,
            school.admin,
            "academicSessions",
            sourced_id,
            "academicSession",
            {
                "title": title,
                "type": "term",
                "startDate": start,
                "endDate": end,
                "parent": {"sourcedId": "year-2026"},
                "schoolYear": "2026",
            },
        )


def test_the_term_filter_keeps_line_items_and_assessments_dated_within_the_term(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    _terms(running, school)
    a_line_item(
        running, school, "li-autumn", assigned="2025-10-01T08:00:00Z", due="2025-10-15T16:00:00Z"
    )
    a_line_item(running, school, "li-spring")
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 2, "2025-10-20", "li-autumn")
    an_attainment_of(running, school, "stu-1", "MA.3-6.T5", 3, "2026-02-16", "li-spring")
    an_assessment_of(
        running, school, student="stu-1", lineItem="li-autumn", grade="7", assessedAt="2025-10-20"
    )
    an_assessment_of(running, school, student="stu-1", lineItem="li-spring", grade="9")

    autumn = _dashboard(running, container, tenant, school, term="autumn")
    spring = _dashboard(running, container, tenant, school, term="spring")

    assert [i["sourcedId"] for i in autumn["lineItems"]] == ["li-autumn"]
    assert _student(autumn, "stu-1")["attainments"]["MA.3-6.T5"]["level"] == 2
    assert [p["grade"] for p in _student(autumn, "stu-1")["trend"]["grades"]] == [7]
    assert autumn["filters"]["term"]["startDate"] == "2025-08-11"
    assert [i["sourcedId"] for i in spring["lineItems"]] == ["li-spring"]
    assert _student(spring, "stu-1")["attainments"]["MA.3-6.T5"]["level"] == 3
    assert [p["level"] for p in _student(spring, "stu-1")["trend"]["attainments"]] == [3]


def test_a_term_that_is_no_academic_session_is_refused_with_422(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    response = read(running, container, tenant, DASHBOARD, school.teacher, term="no-such-term")

    assert response.status_code == 422
    assert response.json()["field"] == "term"


def test_the_subject_filter_keeps_that_subjects_objectives_and_what_is_linked_to_them(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1", objectives=("MA.3-6.T5",))
    a_line_item(running, school, "li-2", objectives=())

    mathematics = _dashboard(running, container, tenant, school, subject="MA")
    biology = _dashboard(running, container, tenant, school, subject="BI")
    unknown = read(running, container, tenant, DASHBOARD, school.teacher, subject="QQ")

    assert [i["sourcedId"] for i in mathematics["lineItems"]] == ["li-1", "li-2"]
    assert len(mathematics["objectives"]) == 14
    assert biology["lineItems"] == [] and biology["objectives"] == []
    assert unknown.status_code == 422 and unknown.json()["field"] == "subject"


def test_an_erased_students_name_reads_as_erased(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    app = container.tenants.get(tenant)
    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-2", reason="Huoltajan pyyntö", basis=None)

    body = _dashboard(running, container, tenant, school)

    assert _student(body, "stu-2")["name"] == "erased"
    assert _student(body, "stu-1")["name"] == "Aino Virtanen"
    assert "Eero" not in str(body)


def test_a_read_with_the_position_a_command_answered_includes_that_write(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    a_line_item(running, school, "li-1")
    position = an_assessment_of(running, school, student="stu-3", lineItem="li-1", score=11)

    response = running.get(f"{DASHBOARD}?min_position={position}", headers=school.teacher)

    assert response.status_code == 200
    assert _student(response.json(), "stu-3")["results"]["li-1"]["score"] == 11.0


# The same code whatever stores the events: one backend is enough.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_read_asking_for_a_position_not_yet_reached_answers_504(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    head = container.tenants.get(tenant).head_position()

    response = running.get(f"{DASHBOARD}?min_position={head + 1000}", headers=school.teacher)

    assert response.status_code == 504
    assert "reached store position" in response.json()["detail"]
    assert "Aino" not in response.text


def test_a_dashboard_read_is_recorded_as_a_disclosure_of_each_student_on_the_page(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    _dashboard(running, container, tenant, school, limit=1)

    first = disclosures_of(container.engine, tenant, "stu-1")
    second = disclosures_of(container.engine, tenant, "stu-2")

    assert {(d.recipient, d.category, d.basis) for d in first} == {
        ("tch-1", category, STATUTORY_TASK)
        for category in ("identity", "roster", "assessment", "attainment")
    }
    assert second == []  # not on the page
