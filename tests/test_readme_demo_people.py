"""The people the README names to try the demo with are in the demo `make run` seeds, as the
README says: the teacher teaches the class, the student is in it, the guardian is theirs."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from api.demo import DemoPlan, plan_demo
from domain.commands import PutClass, PutEnrollment, PutUser

README = Path(__file__).resolve().parent.parent / "README.md"
#: A day in the school year and one in the summer holiday: the README says the ids are the
#: same in every seed, whatever day it is made on.
SEED_DAYS = (date(2026, 12, 3), date(2027, 7, 1))


def readme_people() -> dict[str, str]:
    """The README's table of demo people: who (teacher, class, student, guardian) → id."""
    rows = re.findall(
        r"^\| (teacher|class|student|guardian) \| `([^`]+)` \|", README.read_text(), re.MULTILINE
    )
    people = dict(rows)
    assert people.keys() == {"teacher", "class", "student", "guardian"}, (
        "the README's table of demo people to try first lost a row"
    )
    return people


@pytest.mark.parametrize("day", SEED_DAYS, ids=str)
def test_the_people_the_readme_names_are_in_the_demo_as_it_says(day: date) -> None:
    people = readme_people()
    # The scale `make run` seeds (seed_demo's default).
    plan: DemoPlan = plan_demo(today=day)
    commands = [step.command for step in plan.steps]
    users = {c.sourced_id: c for c in commands if isinstance(c, PutUser)}
    classes = {c.sourced_id: c for c in commands if isinstance(c, PutClass)}
    members = {
        (c.user, c.role, c.primary)
        for c in commands
        if isinstance(c, PutEnrollment)
        if c.school_class == people["class"]
    }

    assert people["class"] in classes
    assert classes[people["class"]].details.title in README.read_text()
    assert (people["teacher"], "teacher", True) in members
    assert (people["student"], "student", False) in members
    assert people["guardian"] in users[people["student"]].guardians
    assert {r.role for r in users[people["guardian"]].roles} == {"guardian"}
    assert {r.role for r in users[people["teacher"]].roles} == {"teacher"}
