"""Point in time: a read model rebuilt as it stood at a store position, and what a view
showed then (`digione replay --as-of`, `digione audit show --as-of`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from domain.commands import Actor
from projections.reads.disclosures import disclosures_of
from tests.builders import School, a_school
from tests.projections.test_admin import environment
from tests.reads.school import a_line_item, an_assessment_of, another_student, read

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

DASHBOARD = "/api/v1/dashboards/classes/cls-4a"


def _show(settings: Settings, tenant: str, position: int, auditor: str, *view: str) -> Any:
    result = CliRunner().invoke(
        cli.app,
        ["audit", "show", "--as-of", str(position), "--auditor", auditor, "--tenant", tenant,
         *view],
        env=environment(settings),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _dashboard_at_a_position(
    running: TestClient, container: Container, tenant: str
) -> tuple[School, int, dict[str, Any]]:
    """A school with a scored line item: the position of the score, and the dashboard the
    teacher was shown then."""
    school = a_school(running, container, tenant)
    a_line_item(running, school, "li-1")
    position = an_assessment_of(running, school, student="stu-1", lineItem="li-1", score=11)
    shown = read(running, container, tenant, DASHBOARD, school.teacher)
    assert shown.status_code == 200, shown.text
    return school, position, shown.json()


def test_the_class_dashboard_as_of_a_position_equals_what_the_teacher_was_shown_then(
    running: TestClient,
    container: Container,
    app: TenantApplication,
    tenant: str,
    settings: Settings,
) -> None:
    school, position, shown_then = _dashboard_at_a_position(running, container, tenant)
    for student in ("stu-1", "stu-2"):
        app.grant_auditor(
            Actor(tenant, "admin", "dpo"), auditor="aud-1", subject=student, reason="valitus"
        )
    an_assessment_of(running, school, student="stu-2", lineItem="li-1", score=19)
    shown_now = read(running, container, tenant, DASHBOARD, school.teacher).json()

    as_of = _show(
        settings, tenant, position, "aud-1", "class-dashboard", "--class", "cls-4a",
        "--teacher", "tch-1",
    )  # fmt: skip

    assert as_of == shown_then
    assert as_of != shown_now
    assert any(
        d.recipient == "aud-1" and d.recipient_role == "auditor"
        for d in disclosures_of(container.engine, tenant, "stu-1")
    )


def test_without_a_grant_the_view_as_of_a_position_shows_names_sealed(
    running: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    _, position, shown_then = _dashboard_at_a_position(running, container, tenant)

    as_of = _show(
        settings, tenant, position, "aud-2", "class-dashboard", "--class", "cls-4a",
        "--teacher", "tch-1",
    )  # fmt: skip

    assert {s["name"] for s in as_of["students"]} == {"sealed"}
    assert [s["sourcedId"] for s in as_of["students"]] == [
        s["sourcedId"] for s in shown_then["students"]
    ]
    assert as_of["lineItems"] == shown_then["lineItems"]
    assert not any(
        d.recipient == "aud-2" for d in disclosures_of(container.engine, tenant, "stu-1")
    )


def test_replay_as_of_rebuilds_a_read_model_into_its_own_sqlite_file_up_to_the_position(
    running: TestClient, container: Container, tenant: str, settings: Settings, tmp_path: Path
) -> None:
    school, position, _ = _dashboard_at_a_position(running, container, tenant)
    an_assessment_of(running, school, student="stu-2", lineItem="li-1", score=19)
    out = tmp_path / "roster-then.sqlite"

    result = CliRunner().invoke(
        cli.app,
        ["replay", "--tenant", tenant, "--as-of", str(position), "--projection", "roster",
         "--out", str(out)],
        env=environment(settings),
    )  # fmt: skip
    again = CliRunner().invoke(
        cli.app,
        ["replay", "--tenant", tenant, "--as-of", str(position), "--projection", "roster",
         "--out", str(out)],
        env=environment(settings),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    engine = sa.create_engine(f"sqlite:///{out}")
    with engine.connect() as connection:
        users = connection.execute(sa.text("SELECT sourced_id FROM roster_users")).scalars()
        assert {"stu-1", "stu-2", "tch-1"} <= set(users)
    engine.dispose()
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_a_oneroster_collection_as_of_a_position_lists_what_was_rostered_then(
    running: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    school = a_school(running, container, tenant)
    position = container.tenants.get(tenant).head_position()
    another_student(running, school, "stu-3", given="Sanni", family="Kolmas")

    students = _show(settings, tenant, position, "aud-1", "oneroster", "/classes/cls-4a/students")

    assert {u["sourcedId"] for u in students["users"]} == {"stu-1", "stu-2"}
    assert {u["givenName"] for u in students["users"]} == {""}  # personal fields withheld
    assert "Aino" not in json.dumps(students)


def test_a_guardians_view_as_of_a_position_equals_what_the_guardian_was_shown_then(
    running: TestClient,
    container: Container,
    app: TenantApplication,
    tenant: str,
    settings: Settings,
) -> None:
    school, position, _ = _dashboard_at_a_position(running, container, tenant)
    child = "/api/v1/guardians/me/children/stu-1"
    shown_then = read(running, container, tenant, child, school.guardian).json()
    for subject in ("stu-1", "tch-1"):
        app.grant_auditor(
            Actor(tenant, "admin", "dpo"), auditor="aud-1", subject=subject, reason="kantelu"
        )
    a_line_item(running, school, "li-2")
    an_assessment_of(running, school, student="stu-1", lineItem="li-2", score=17)

    as_of = _show(
        settings, tenant, position, "aud-1", "guardian-view", "--guardian", "grd-1",
        "--student", "stu-1",
    )  # fmt: skip

    assert as_of == shown_then
    assert len(read(running, container, tenant, child, school.guardian).json()["results"]) == 2
