"""What a demo plan is made of: its steps, and the people and classes it plans."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from api.demo.data import DemoSchool
from api.demo.school_year import SchoolYear
from domain.commands import Actor

__all__ = ["DemoClass", "DemoFamily", "DemoPerson", "DemoPlan", "DemoStep", "DemoStudent"]


@dataclass(frozen=True)
class DemoStep:
    """One command of the seed, with what it counts as and when it happened in the year."""

    kind: str
    actor: Actor
    command: object
    when: date
    idempotency_seed: str | None = None


@dataclass
class DemoPerson:
    """A person of the demo: a teacher, a guardian or a pupil."""

    sourced_id: str
    given: str
    family: str
    sex: str


@dataclass
class DemoFamily:
    """A pupil's guardians, the family name, and the grades its children are in."""

    guardians: list[DemoPerson]
    family_name: str
    grades: set[int] = field(default_factory=set)


@dataclass
class DemoStudent:
    """A pupil: who they are, their grade and birth date, how well they do, their guardians."""

    person: DemoPerson
    grade: int
    born: date
    ability: float
    trend: float
    guardians: list[str]


@dataclass
class DemoClass:
    """A class of the plan: its school, grade, teachers and pupils."""

    sourced_id: str
    code: str
    grade: int
    school: DemoSchool
    teacher: str
    co_teacher: str | None = None
    students: list[DemoStudent] = field(default_factory=list)


@dataclass
class DemoPlan:
    """Every command of a demo seed, in the order they are recorded."""

    school_year: SchoolYear
    steps: list[DemoStep]

    def counts(self) -> Counter[str]:
        """How many steps of each kind the plan has."""
        return Counter(step.kind for step in self.steps)
