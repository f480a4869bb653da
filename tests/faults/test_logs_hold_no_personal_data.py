"""A school's whole day through `digione serve` at DEBUG: its log holds no personal value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import bootstrap
from api.settings import Settings
from tests.builders import a_school, a_user
from tests.faults.scenario import wait_until_healthy_and_current
from tests.faults.serve_process import serving
from tests.reads.school import a_line_item, an_assessment_of, an_attainment_of

pytestmark = [pytest.mark.broker]

TENANT = "logcheck"
STUDENT = ("Ainomarjatta", "Virtasalo")
FEEDBACK = "Ainomarjatta jaksaa harjoitella murtolukuja sinnikkäästi"
REFUSED_NAME = "Salaperäinenkin"
BIRTH_DATE = "2016-05-04"
ERASURE_REASON = "Huoltajan kirjallinen pyyntö poistaa tiedot"

#: Every personal value the scenario enters: names, e-mail addresses, birth date, feedback.
PERSONAL = (
    *STUDENT,
    "Greta",
    "Huoltaja",
    "Eero",
    "Oppilas",
    "Tiina",
    "Pekka",
    "grd-1@example.invalid",
    "stu-1@example.invalid",
    "stu-2@example.invalid",
    "tch-1@example.invalid",
    BIRTH_DATE,
    FEEDBACK,
    REFUSED_NAME,
    ERASURE_REASON,
)


def _forms(value: str) -> list[bytes]:
    """The value as it could appear in a log: UTF-8, and JSON-escaped."""
    return [value.encode(), json.dumps(value)[1:-1].encode()]


def test_a_full_school_run_at_debug_leaves_no_personal_value_in_the_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    container = bootstrap(Settings.explicit(data_dir=data_dir))
    try:
        container.tenants.create(TENANT, name="Log municipality")
        settings = {"data_dir": str(data_dir), "log_level": "DEBUG"}
        with (
            serving(settings, tmp_path / "serve.log") as served,
            served.client() as http,
        ):
            client = cast(TestClient, http)  # the builders speak httpx's interface
            school = a_school(client, container, TENANT, student_name=STUDENT)
            demographics = client.put(
                "/api/v1/roster/demographics/stu-1",
                json={"demographics": {"birthDate": BIRTH_DATE}},
                headers=school.admin,
            )
            assert demographics.status_code in (200, 201), demographics.text
            a_line_item(client, school, "li-1")
            an_assessment_of(client, school, lineItem="li-1", grade="9", comment=FEEDBACK)
            attained = an_attainment_of(client, school, "stu-1", "MA.3-6.T5", 3, "2026-02-21")
            # Read after the last write: the teacher's enrolment, a roster change projected
            # before it, is what lets the teacher see the class.
            results = client.get(
                f"/api/v1/dashboards/classes/cls-4a?min_position={attained}",
                headers=school.teacher,
            )
            assert results.status_code == 200, results.text
            consent = client.post(
                "/api/v1/consents",
                headers=school.guardian,
                json={
                    "student": "stu-1",
                    "grantedBy": "grd-1",
                    "recipient": "matikka-app",
                    "purposes": ["learning-app"],
                    "categories": ["roster"],
                },
            )
            assert consent.status_code == 201, consent.text
            # Refused by the request's schema, and by the domain's rules.
            for role, roles in (("student", "not a list"), ("pupil", None)):
                user = a_user("stu-9", role, given=REFUSED_NAME, family="X")
                if roles is not None:
                    user["roles"] = roles
                refused = client.put(
                    "/api/v1/roster/users/stu-9", json={"user": user}, headers=school.admin
                )
                assert refused.status_code == 422, refused.text
            health = wait_until_healthy_and_current(client, school.admin, TENANT, within=90)
            assert health.get("status") == "ok", health
            head = health["stores"][TENANT]["position"]
            for path, who in (
                ("/api/v1/guardians/me/children", school.guardian),
                ("/api/v1/guardians/me/children/stu-1", school.guardian),
                ("/api/v1/dashboards/classes/cls-4a", school.teacher),
                ("/api/v1/subjects/stu-1/export", school.admin),
                ("/api/v1/roster/users/stu-1", school.admin),
            ):
                answer = client.get(f"{path}?min_position={head}", headers=who)
                assert answer.status_code == 200, (path, answer.text)
            assert (
                STUDENT[0] in client.get("/api/v1/roster/users/stu-1", headers=school.admin).text
            ), "the scenario must really enter the names"
            erasure = client.post(
                "/api/v1/erasures",
                headers=school.admin,
                json={"subject": "stu-2", "reason": ERASURE_REASON},
            )
            assert erasure.status_code == 202, erasure.text
            wait_until_healthy_and_current(client, school.admin, TENANT, within=90)
            assert served.terminate() == 0
        log = (tmp_path / "serve.log").read_bytes()
    finally:
        container.close()

    assert b'"level":"DEBUG"' in log, "the log was not written at DEBUG"
    found = [value for value in PERSONAL if any(form in log for form in _forms(value))]
    assert found == [], f"personal values in the log: {found}"
