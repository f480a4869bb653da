"""The demo tenant of `digione serve --demo`: seeded once, on the embedded SQLite default."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from api.bootstrap import Container, bootstrap
from api.demo import (
    BOY_NAMES,
    DEMO_TENANT,
    FAMILY_NAMES,
    GIRL_NAMES,
    MEN_NAMES,
    WOMEN_NAMES,
    last_completed_school_year,
    plan_demo,
    seed,
    seed_demo,
)
from api.settings import Settings
from domain.application import TenantApplication
from domain.assessment import FINNISH_GRADES, Result
from domain.commands import RecordAssessment, RecordAttainment
from domain.roster import AcademicSession, Org, SchoolClass

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SCALE = 0.1
SCHOOLS = {"sch-aurinkokumpu": "aur", "sch-kuusikko": "kuu"}
CLASSES = {
    "sch-aurinkokumpu": ["3a", "3b", "4a", "5a", "5b", "6a"],
    "sch-kuusikko": ["3a", "4a", "4b", "5a", "6a", "6b"],
}
CLASS_IDS = [f"cls-{SCHOOLS[school]}-{code}" for school, codes in CLASSES.items() for code in codes]
LINE_ITEMS_PER_CLASS = 8


def a_container(data_dir: Path) -> Container:
    settings = Settings.explicit(
        data_dir=data_dir, database_url=None, master_key_file=data_dir / "master.key"
    )
    return bootstrap(settings, clock=lambda: NOW)


def quiet() -> Console:
    return Console(file=io.StringIO())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TenantApplication]:
    container = a_container(tmp_path_factory.mktemp("demo"))
    assert seed_demo(container, scale=SCALE, console=quiet())
    yield container.tenants.get(DEMO_TENANT)
    container.close()


def students_of(app: TenantApplication, class_id: str) -> list[str]:
    school_class = app.find("classes", class_id)
    assert isinstance(school_class, SchoolClass)
    return sorted(m[0] for m in school_class.members.values() if m[1] == "student")


def test_the_demo_has_a_district_and_two_schools(demo: TenantApplication) -> None:
    district = demo.find("orgs", "demo-district")
    schools = [demo.find("orgs", school) for school in SCHOOLS]

    assert isinstance(district, Org) and district.org_type == "district"
    assert all(isinstance(s, Org) and s.org_type == "school" for s in schools)
    assert {s.parent for s in schools if isinstance(s, Org)} == {"demo-district"}


def test_each_school_has_its_six_classes_with_teachers_and_students(
    demo: TenantApplication,
) -> None:
    for school, codes in CLASSES.items():
        for code in codes:
            school_class = demo.find("classes", f"cls-{SCHOOLS[school]}-{code}")

            assert isinstance(school_class, SchoolClass)
            assert school_class.school == school
            assert school_class.details.class_code == code.upper()
            roles = Counter(member[1] for member in school_class.members.values())
            assert roles["teacher"] >= 1 and roles["student"] >= 1


def test_the_school_year_is_the_most_recent_completed_one(demo: TenantApplication) -> None:
    year = demo.find("academicSessions", "sy-2025-2026")

    assert isinstance(year, AcademicSession)
    assert (year.start_date, year.end_date) == (date(2025, 8, 11), date(2026, 5, 30))
    assert demo.find("academicSessions", "term-2025-autumn") is not None
    assert demo.find("academicSessions", "term-2026-spring") is not None


def test_before_the_end_of_may_the_completed_year_is_the_one_before() -> None:
    assert last_completed_school_year(date(2026, 5, 29)).start_year == 2024
    assert last_completed_school_year(date(2026, 5, 30)).start_year == 2025


def test_every_student_has_at_least_one_guardian_linked(demo: TenantApplication) -> None:
    students = [s for class_id in CLASS_IDS for s in students_of(demo, class_id)]

    assert len(students) >= len(CLASS_IDS)
    for student in students:
        guardians = demo.user(student).guardians
        assert 1 <= len(guardians) <= 2, student
        assert all(demo.user(g).has_role("guardian") for g in guardians)


def test_every_student_has_a_result_for_every_line_item_of_their_class(
    demo: TenantApplication,
) -> None:
    for class_id in CLASS_IDS:
        prefix = class_id.removeprefix("cls-")
        for number in range(1, LINE_ITEMS_PER_CLASS + 1):
            assert demo.find("lineItems", f"li-{prefix}-{number:02d}") is not None
            for student in students_of(demo, class_id):
                result = demo.find("results", f"res-{prefix}-{number:02d}-{student}")

                assert isinstance(result, Result), (class_id, number, student)
                assert result.grade in FINNISH_GRADES or result.comment is not None


def test_the_seeded_names_are_readable(demo: TenantApplication) -> None:
    student = demo.personal_details("stu-0001")
    guardian = demo.personal_details(demo.user("stu-0001").guardians[0])
    teacher = demo.personal_details("tch-01")

    assert isinstance(student, dict) and isinstance(guardian, dict) and isinstance(teacher, dict)
    assert student["givenName"] in GIRL_NAMES + BOY_NAMES
    assert guardian["givenName"] in WOMEN_NAMES + MEN_NAMES
    assert teacher["givenName"] in WOMEN_NAMES + MEN_NAMES
    assert {student["familyName"], teacher["familyName"]} <= set(FAMILY_NAMES)


def test_the_log_holds_every_planned_result_attainment_and_consent(
    demo: TenantApplication,
) -> None:
    planned = plan_demo(today=NOW.date(), scale=SCALE).counts()

    events = demo.recorder.select_notifications(start=1, limit=1_000_000)
    topics = Counter(n.topic.split(":")[-1] for n in events)

    assert topics["Result.Recorded"] == planned["results"]
    attainments = topics["ObjectiveAttainment.Assessed"] + topics["ObjectiveAttainment.Reassessed"]
    assert attainments == planned["attainments"]
    assert topics["Consent.Granted"] == planned["consents"] >= 2


def test_seeding_again_after_a_restart_records_nothing(tmp_path: Path) -> None:
    first = a_container(tmp_path)
    assert seed_demo(first, scale=SCALE, console=quiet())
    head = first.tenants.get(DEMO_TENANT).head_position()
    first.close()

    restarted = a_container(tmp_path)
    seeded_again = seed_demo(restarted, scale=SCALE, console=quiet())
    head_after = restarted.tenants.get(DEMO_TENANT).head_position()
    restarted.close()

    assert seeded_again is False
    assert head_after == head > 0


def test_the_plan_is_deterministic_and_gives_attainment_trends() -> None:
    plan = plan_demo(today=NOW.date(), scale=SCALE)
    attainments = Counter(
        (s.command.student, s.command.objective)
        for s in plan.steps
        if isinstance(s.command, RecordAttainment)
    )

    assert plan == plan_demo(today=NOW.date(), scale=SCALE)
    assert set(attainments.values()) == {2, 3}
    assert plan.counts()["classes"] == len(CLASS_IDS)


def test_some_demo_work_was_handed_in_late_so_the_dashboards_show_late_work() -> None:
    results = [
        s.command
        for s in plan_demo(today=NOW.date(), scale=SCALE).steps
        if isinstance(s.command, RecordAssessment)
    ]
    late = [r for r in results if r.late]

    assert 0 < len(late) < len(results) / 10
    assert all(r.line_item is not None for r in late)


def _recorded(app: TenantApplication) -> tuple[dict[tuple[str, int], Any], list[str]]:
    """Each stored event's state (by aggregate and version) without what differs between two
    seeds (the instant it was stored, sealed values' random nonces), and the order in which
    the aggregates first appear in the log."""

    def comparable(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("_type_") == "sealed":
                return "sealed"
            return {k: comparable(v) for k, v in value.items() if k != "timestamp"}
        if isinstance(value, list):
            return [comparable(v) for v in value]
        return value

    events = app.recorder.select_notifications(start=1, limit=1_000_000)
    states = {
        (str(n.originator_id), n.originator_version): (n.topic, comparable(json.loads(n.state)))
        for n in events
    }
    return states, list(dict.fromkeys(str(n.originator_id) for n in events))


def test_the_seed_saved_in_batches_records_what_saving_each_command_alone_records(
    demo: TenantApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed, "_BATCH", 1)
    alone = a_container(tmp_path)
    assert seed_demo(alone, scale=SCALE, console=quiet())
    one_by_one = _recorded(alone.tenants.get(DEMO_TENANT))
    alone.close()

    states, first_seen = _recorded(demo)

    assert states == one_by_one[0]
    assert first_seen == one_by_one[1]
