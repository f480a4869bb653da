"""The demo tenant that `digione serve --demo` serves: a fictional municipality, seeded once.

Everything is recorded through `TenantApplication`'s command methods (an admin writes the
roster, each class's own teacher its gradebook, guardians their consents), so the demo
obeys every rule a real tenant does. The content is planned first from a seeded random
generator and the clock (the most recent completed school year), then executed, so a
seed is deterministic for a given day and scale.
"""

from __future__ import annotations

import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import (
    Actor,
    GrantConsent,
    Outcome,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutDemographics,
    PutEnrollment,
    PutLineItem,
    PutOrg,
    PutUser,
    RecordAssessment,
    RecordAttainment,
)
from domain.consent import DIGITAL_CONSENT_AGE, age_on
from domain.roster import ClassDetails, Role

DEMO_TENANT = "demo"
DEMO_TENANT_NAME = "Demo municipality"
DEMO_ADMIN = Actor(DEMO_TENANT, "admin", "demo-admin")
#: The district org is the marker of a seeded tenant: it is the first record written.
DISTRICT = "demo-district"
DISTRICT_NAME = "Kuusilahden kaupunki, kasvatus ja koulutus"
#: A learning app the families of a few pupils have allowed to receive their data.
CONSENT_RECIPIENT = "matikka-app"

_ACTIVE = "active"
#: What the progress bar shows while the steps of each kind are recorded.
_PHASES = {
    "orgs": "organisation",
    "academic sessions": "organisation",
    "courses": "organisation",
    "classes": "organisation",
    "teachers": "teachers",
    "guardians": "families",
    "students": "families",
    "demographics": "families",
    "enrollments": "enrollments",
    "line items": "gradebook",
    "results": "gradebook",
    "attainments": "gradebook",
    "consents": "consents",
}
_STUDENTS_PER_CLASS = (22, 28)
_SEED = "digione-demo-v1"


@dataclass(frozen=True)
class DemoSchool:
    sourced_id: str
    name: str
    #: Short form used in class and line-item sourcedIds ("aur" → "cls-aur-4a").
    short: str
    #: School number (oppilaitosnumero); fictional, in a range no real school uses.
    identifier: str
    email_domain: str
    class_codes: tuple[str, ...]


SCHOOLS = (
    DemoSchool(
        sourced_id="sch-aurinkokumpu",
        name="Aurinkokummun koulu",
        short="aur",
        identifier="99901",
        email_domain="aurinkokumpu.kuusilahti.example",
        class_codes=("3A", "3B", "4A", "5A", "5B", "6A"),
    ),
    DemoSchool(
        sourced_id="sch-kuusikko",
        name="Kuusikon koulu",
        short="kuu",
        identifier="99902",
        email_domain="kuusikko.kuusilahti.example",
        class_codes=("3A", "4A", "4B", "5A", "6A", "6B"),
    ),
)


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Common Finnish names; every person in the demo is a random, fictional combination.
GIRL_NAMES = _names(
    """
    Aino Aada Eevi Emma Helmi Sofia Olivia Lilja Ella Isla Venla Enni Pihla Linnea Elli Hilla
    Kerttu Iida Siiri Alisa Aurora Vilma Minea Nelli Emilia Ilona Lumi Saimi Martta Stella
    Oona Elsa Veera Anni Sara Milla Viivi Inka
    """
)
BOY_NAMES = _names(
    """
    Eino Väinö Leo Oliver Elias Onni Eeli Noel Leevi Vilho Toivo Niilo Eetu Veeti Aatu Otto
    Lenni Emil Hugo Oiva Joel Aleksi Luka Viljami Akseli Rasmus Valtteri Eemil Peetu Sisu
    Mikael Juho Arttu Kasper Eljas Topias Iivari Nooa
    """
)
GIRL_MIDDLE_NAMES = _names(
    """
    Maria Sofia Johanna Helena Kaarina Elina Aurora Emilia Inkeri Matilda Linnea Annikki
    Orvokki Kristiina
    """
)
BOY_MIDDLE_NAMES = _names(
    """
    Juhani Johannes Mikael Olavi Kalevi Ilmari Antero Henrik Tapani Aleksanteri Matias
    Kristian Oskari Valtteri
    """
)
WOMEN_NAMES = _names(
    """
    Anna Laura Maria Johanna Hanna Sanna Katja Heidi Elina Minna Jenni Riikka Satu Tiina Paula
    Maiju Emmi Niina Henna Anu Kaisa Suvi Outi Marjo Salla Reetta Noora Jaana Piia Essi
    """
)
MEN_NAMES = _names(
    """
    Mikko Jussi Antti Juha Timo Janne Sami Ville Tuomas Matti Jukka Markus Petri Teemu Lauri
    Joonas Olli Harri Tommi Pekka Ari Kimmo Marko Heikki Jari Aki Tero Juho Jani Risto
    """
)
FAMILY_NAMES = _names(
    """
    Virtanen Korhonen Mäkinen Nieminen Mäkelä Hämäläinen Laine Heikkinen Koskinen Järvinen
    Lehtonen Lehtinen Saarinen Salminen Heinonen Niemi Heikkilä Kinnunen Salonen Turunen Salo
    Laitinen Tuominen Rantanen Karjalainen Jokinen Mattila Savolainen Lahtinen Ahonen Hiltunen
    Kettunen Leinonen Miettinen Hirvonen Pesonen Kallio Toivonen Räsänen Aaltonen Manninen
    Peltonen Koivisto Honkanen Oksanen Anttila Väisänen Rautio Suominen Lampinen Kivelä
    Huttunen Seppälä Vainio Rissanen Kokkonen Halonen Partanen Pitkänen Nurmi Ojala Hakala
    Mustonen Jääskeläinen Parviainen Koponen Vartiainen Lindholm Backman Sundström
    """
)

# Verbal assessments (sanallinen arvio) by how well the work went: 1 weak … 4 excellent.
_COMMENTS = {
    4: (
        "Osaat asiat erinomaisesti ja perustelet ratkaisusi selkeästi. Upeaa työtä!",
        "Ratkaiset myös haastavia tehtäviä sinnikkäästi. Jatka samaan malliin!",
        "Työskentelet itsenäisesti ja tarkasti, ja autat mielelläsi myös muita.",
        "Hallitset aiheen varmasti. Kokeile seuraavaksi vaikeampia lisätehtäviä.",
    ),
    3: (
        "Hyvää työtä! Kirjoita ratkaisun välivaiheet näkyviin, niin vältät huolimattomuusvirheet.",
        "Työskentelet tunneilla aktiivisesti. Sanallisissa tehtävissä voit vielä kehittyä.",
        "Olet edistynyt mukavasti. Tarkista vastauksesi järkevyys arvioimalla ensin.",
        "Osaat aiheen hyvin. Harjoittele vielä päässälaskuja, niin laskeminen sujuu nopeammin.",
    ),
    2: (
        "Osaat perusasiat. Kertaa vielä laskutoimitusten järjestystä ja välivaiheita.",
        "Olet yrittänyt sinnikkäästi. Kysy rohkeasti apua, kun jokin on epäselvää.",
        "Välineiden käyttö auttaa sinua hahmottamaan tehtäviä, jatketaan niiden kanssa.",
    ),
    1: (
        "Tarvitset vielä harjoitusta aiheessa. Tehdään yhdessä tukisuunnitelma kevääksi.",
        "Keskity tunneilla tehtävien tekemiseen, niin osaamisesi vahvistuu.",
        "Kertaa kertotauluja kotona säännöllisesti; pienikin päivittäinen harjoitus auttaa.",
    ),
}
_PROJECT_COMMENTS = (
    "Projektityö oli huolellisesti tehty ja esitit tulokset selkeästi.",
    "Teit ryhmässä hyvää yhteistyötä ja kannoit vastuuta omasta osuudestasi.",
    "Työsi oli luova ja omaperäinen. Viimeistele vielä esityksen selitykset.",
    "Projekti jäi osin kesken; sovitaan yhdessä, miten saat sen valmiiksi.",
)
# Year-report verbal assessments (grade 3 has no numeric grade in this municipality).
_YEAR_OPENINGS = {
    4: "Olet edistynyt matematiikassa erinomaisesti tänä lukuvuonna.",
    3: "Olet edistynyt matematiikassa hyvin tänä lukuvuonna.",
    2: "Olet edistynyt matematiikassa tasaisesti tänä lukuvuonna.",
    1: "Matematiikan opiskelu on ollut sinulle tänä vuonna haastavaa, mutta olet yrittänyt.",
}
_YEAR_STRENGTHS = (
    "Kertotaulut sujuvat sinulta hyvin.",
    "Hahmotat lukualueen 0–1000 ja kymmenjärjestelmän.",
    "Tunnistat tasokuviot ja osaat kuvailla niiden ominaisuuksia.",
    "Osaat mitata ja valita sopivan mittayksikön.",
    "Osaat esittää ratkaisusi piirtäen ja kirjoittaen.",
)
_YEAR_GOALS = (
    "Ensi vuonna tavoitteena on vahvistaa sanallisten tehtävien ratkaisemista.",
    "Harjoittele kesällä vielä kertotauluja, niin syksy alkaa hyvin.",
    "Jatka huolellista työskentelyä myös neljännellä luokalla.",
    "Tavoitteena on laskea sujuvammin myös päässä.",
)

# Each year's topic of numbers, calculation, geometry and fractions by grade (POPS 2014).
_TOPICS = {
    3: ("Luvut 0–1000", "Kertotaulut", "Tasokuviot", "Murtoluvun käsite"),
    4: ("Luvut 0–10 000", "Jakolasku", "Kulmat ja monikulmiot", "Murtoluvut"),
    5: ("Desimaaliluvut", "Kerto- ja jakolasku", "Kappaleet ja tilavuus", "Murtolukulaskut"),
    6: ("Negatiiviset luvut", "Prosentit", "Piiri ja pinta-ala", "Murto- ja desimaaliluvut"),
}


def _objectives(*numbers: int) -> list[str]:
    return [f"MA.3-6.T{n}" for n in numbers]


@dataclass(frozen=True)
class _ItemPlan:
    """One line item of the year; offsets are days from the start of its term."""

    category: str
    title: str
    objectives: list[str]
    spring: bool
    assign_offset: int
    due_offset: int
    points: int | None = None


def _line_items_of(grade: int) -> list[_ItemPlan]:
    numbers, calculation, geometry, fractions = _TOPICS[grade]
    autumn, spring = False, True
    return [
        _ItemPlan("test", f"Koe: {numbers}", _objectives(8, 9), autumn, 21, 38, 30),
        _ItemPlan("project", "Mittausprojekti: koulun piha", _objectives(12, 4), autumn, 45, 66),
        _ItemPlan("test", f"Koe: {calculation}", _objectives(10, 6), autumn, 80, 94, 30),
        _ItemPlan("test", f"Koe: {geometry}", _objectives(11, 7), autumn, 103, 113, 24),
        _ItemPlan("project", "Tilastoprojekti: luokan kysely", _objectives(13, 4), spring, 21, 42),
        _ItemPlan("test", f"Koe: {fractions}", _objectives(9, 10, 5), spring, 56, 70, 30),
        _ItemPlan("project", "Ohjelmointi: oma peli", _objectives(14, 5), spring, 84, 105),
        # The year report is dated from the end of the year (see _Planner._line_items); it
        # covers every objective that affects the grade (T1 is self-assessment only).
        _ItemPlan("yearReport", "Lukuvuositodistus: matematiikka", _objectives(*range(2, 14)),
                  spring, 0, 0),
    ]


# -- the school year --------------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolYear:
    """A Finnish school year: mid-August to the Saturday of ISO week 22, two terms."""

    start_year: int
    start: date
    autumn_end: date
    spring_start: date
    end: date

    @property
    def sourced_id(self) -> str:
        return f"sy-{self.start_year}-{self.start_year + 1}"

    @property
    def autumn_id(self) -> str:
        return f"term-{self.start_year}-autumn"

    @property
    def spring_id(self) -> str:
        return f"term-{self.start_year + 1}-spring"


def school_year_starting(year: int) -> SchoolYear:
    """The school year that starts in August of `year`."""
    # Finnish schools start on the Monday of week 33 (±1) and end on the Saturday of
    # week 22; the autumn term ends before Christmas, the spring term starts after Epiphany.
    spring_start = date(year + 1, 1, 7)
    while spring_start.weekday() >= 5:
        spring_start += timedelta(days=1)
    return SchoolYear(
        start_year=year,
        start=date.fromisocalendar(year, 33, 1),
        autumn_end=date.fromisocalendar(year, 51, 6),
        spring_start=spring_start,
        end=date.fromisocalendar(year + 1, 22, 6),
    )


def last_completed_school_year(today: date) -> SchoolYear:
    """The most recent school year that has ended by `today`."""
    year = school_year_starting(today.year - 1)
    return year if year.end <= today else school_year_starting(today.year - 2)


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One command of the seed, with what it counts as and when it happened in the year."""

    kind: str
    actor: Actor
    command: object
    when: date
    idempotency_seed: str | None = None


@dataclass
class _Person:
    sourced_id: str
    given: str
    family: str
    sex: str


@dataclass
class _Family:
    guardians: list[_Person]
    family_name: str
    grades: set[int] = field(default_factory=set)


@dataclass
class _Student:
    person: _Person
    grade: int
    born: date
    ability: float
    trend: float
    guardians: list[str]


@dataclass
class _Class:
    sourced_id: str
    code: str
    grade: int
    school: DemoSchool
    teacher: str
    co_teacher: str | None = None
    students: list[_Student] = field(default_factory=list)


@dataclass
class DemoPlan:
    """Every command of a demo seed, in the order they are recorded."""

    school_year: SchoolYear
    steps: list[_Step]

    def counts(self) -> Counter[str]:
        return Counter(step.kind for step in self.steps)


def plan_demo(*, today: date, scale: float = 1.0) -> DemoPlan:
    """The demo's commands for `today`; `scale` multiplies the number of students per class."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return _Planner(today=today, scale=scale).plan()


class _Planner:
    def __init__(self, *, today: date, scale: float) -> None:
        self.today = today
        self.scale = scale
        self.rng = random.Random(_SEED)
        self.year = last_completed_school_year(today)
        self.steps: list[_Step] = []
        self.classes: list[_Class] = []
        self.students: list[_Student] = []
        self.families: dict[str, list[_Family]] = {}
        self._student_count = 0
        self._guardian_count = 0
        self._planned_guardians: set[str] = set()

    def plan(self) -> DemoPlan:
        self._plan_organisation()
        self._plan_teachers()
        self._plan_students()
        self._plan_enrollments()
        self._plan_gradebook()
        self._plan_consents()
        return DemoPlan(self.year, self.steps)

    def _add(
        self,
        kind: str,
        command: object,
        *,
        actor: Actor = DEMO_ADMIN,
        when: date | None = None,
        idempotency_seed: str | None = None,
    ) -> None:
        self.steps.append(_Step(kind, actor, command, when or self.year.start, idempotency_seed))

    # -- roster ----------------------------------------------------------------------------

    def _plan_organisation(self) -> None:
        year = self.year
        self._add("orgs", PutOrg(
            sourced_id=DISTRICT, status=_ACTIVE, name=DISTRICT_NAME, org_type="district",
            identifier="999", parent=None,
        ))
        for school in SCHOOLS:
            self._add("orgs", PutOrg(
                sourced_id=school.sourced_id, status=_ACTIVE, name=school.name,
                org_type="school", identifier=school.identifier, parent=DISTRICT,
            ))
        ends = str(year.start_year + 1)  # OneRoster schoolYear: the year the school year ends
        sessions = (
            (year.sourced_id, f"Lukuvuosi {year.start_year}–{ends}", "schoolYear",
             year.start, year.end, None),
            (year.autumn_id, f"Syyslukukausi {year.start_year}", "term",
             year.start, year.autumn_end, year.sourced_id),
            (year.spring_id, f"Kevätlukukausi {ends}", "term",
             year.spring_start, year.end, year.sourced_id),
        )
        for sourced_id, title, session_type, start, end, parent in sessions:
            self._add("academic sessions", PutAcademicSession(
                sourced_id=sourced_id, status=_ACTIVE, title=title, session_type=session_type,
                start_date=start, end_date=end, parent=parent, school_year=ends,
            ))
        for grade in _TOPICS:
            self._add("courses", PutCourse(
                sourced_id=self._course_id(grade), status=_ACTIVE,
                title=f"Matematiikka, {grade}. luokka", course_code=f"MA{grade}",
                school_year=year.sourced_id, org=DISTRICT, grades=[_grade_code(grade)],
                subjects=["Matematiikka"], subject_codes=["MA"],
            ))
        teacher_number = 0
        for school in SCHOOLS:
            for code in school.class_codes:
                teacher_number += 1
                school_class = _Class(
                    sourced_id=f"cls-{school.short}-{code.lower()}", code=code,
                    grade=int(code[0]), school=school, teacher=f"tch-{teacher_number:02d}",
                )
                self.classes.append(school_class)
                room = f"Luokka {self.rng.randint(1, 2)}{self.rng.randint(1, 30):02d}"
                self._add("classes", PutClass(
                    sourced_id=school_class.sourced_id,
                    status=_ACTIVE,
                    details=ClassDetails(
                        title=f"Matematiikka {code}", class_code=code, class_type="scheduled",
                        location=room, grades=[_grade_code(school_class.grade)],
                        subjects=["Matematiikka"], subject_codes=["MA"], periods=[],
                    ),
                    course=self._course_id(school_class.grade),
                    school=school.sourced_id,
                    terms=[year.autumn_id, year.spring_id],
                ))
        # One special-education teacher per school co-teaches its three youngest classes.
        for school in SCHOOLS:
            teacher_number += 1
            for school_class in [c for c in self.classes if c.school == school][:3]:
                school_class.co_teacher = f"tch-{teacher_number:02d}"

    def _course_id(self, grade: int) -> str:
        return f"crs-ma{grade}-{self.year.start_year}"

    def _plan_teachers(self) -> None:
        teachers: dict[str, DemoSchool] = {}
        for school_class in self.classes:
            teachers[school_class.teacher] = school_class.school
            if school_class.co_teacher:
                teachers[school_class.co_teacher] = school_class.school
        for teacher_id, school in sorted(teachers.items()):
            person = self._adult(teacher_id, self.rng.choice(FAMILY_NAMES))
            username = f"{_ascii(person.given)}.{_ascii(person.family)}"
            self._add("teachers", self._user(
                person, role="teacher", school=school, personal={
                    "email": f"{username}@{school.email_domain}", "username": username,
                },
            ))

    def _user(
        self,
        person: _Person,
        *,
        role: str,
        school: DemoSchool,
        personal: dict[str, Any],
        grades: list[str] | None = None,
        guardians: list[str] | None = None,
    ) -> PutUser:
        return PutUser(
            sourced_id=person.sourced_id,
            status=_ACTIVE,
            enabled=True,
            roles=[Role("primary", role, school.sourced_id)],
            primary_org=school.sourced_id,
            grades=grades or [],
            guardians=guardians or [],
            personal={"givenName": person.given, "familyName": person.family, **personal},
        )

    def _adult(self, sourced_id: str, family: str) -> _Person:
        sex = self.rng.choice(("female", "male"))
        names = WOMEN_NAMES if sex == "female" else MEN_NAMES
        return _Person(sourced_id, self.rng.choice(names), family, sex)

    def _plan_students(self) -> None:
        low, high = _STUDENTS_PER_CLASS
        for school_class in self.classes:
            size = max(1, round(self.scale * self.rng.randint(low, high)))
            for _ in range(size):
                self._plan_student(school_class)

    def _plan_student(self, school_class: _Class) -> None:
        rng = self.rng
        school = school_class.school
        family = self._family_for(school, school_class.grade)
        for guardian in family.guardians:
            if guardian.sourced_id not in self._planned_guardians:
                self._planned_guardians.add(guardian.sourced_id)
                mailbox = f"{_ascii(guardian.given)}.{_ascii(guardian.family)}{rng.randint(1, 99)}"
                self._add("guardians", self._user(
                    guardian, role="guardian", school=school,
                    personal={"email": f"{mailbox}@posti.example"},
                ))
        self._student_count += 1
        sex = rng.choice(("female", "male"))
        given_names = GIRL_NAMES if sex == "female" else BOY_NAMES
        middle_names = GIRL_MIDDLE_NAMES if sex == "female" else BOY_MIDDLE_NAMES
        person = _Person(
            f"stu-{self._student_count:04d}", rng.choice(given_names), family.family_name, sex
        )
        # Born in the year the pupil turns 7 + (grade − 1) in the autumn; a few started
        # school a year late (lykätty koulunaloitus), so some sixth-graders are already 13.
        birth_year = self.year.start_year - 6 - school_class.grade
        if rng.random() < 0.04:
            birth_year -= 1
        born = date(birth_year, 1, 1) + timedelta(days=rng.randrange(365))
        student = _Student(
            person=person,
            grade=school_class.grade,
            born=born,
            ability=min(0.99, max(0.25, rng.gauss(0.77, 0.12))),
            trend=rng.gauss(0.0, 0.05),
            guardians=[g.sourced_id for g in family.guardians],
        )
        school_class.students.append(student)
        self.students.append(student)
        personal: dict[str, Any] = {}
        if rng.random() < 0.8:
            personal["middleName"] = rng.choice(middle_names)
        self._add("students", self._user(
            person, role="student", school=school, personal=personal,
            grades=[_grade_code(school_class.grade)], guardians=student.guardians,
        ))
        country = "FI" if rng.random() < 0.93 else rng.choice(("SE", "EE", "NO", "DE"))
        self._add("demographics", PutDemographics(
            sourced_id=person.sourced_id,
            status=_ACTIVE,
            personal={"birthDate": born.isoformat(), "sex": sex, "countryOfBirthCode": country},
        ))

    def _family_for(self, school: DemoSchool, grade: int) -> _Family:
        """A new family, or (about one pupil in ten) the family of an older or younger sibling."""
        rng = self.rng
        families = self.families.setdefault(school.sourced_id, [])
        siblings = [f for f in families if grade not in f.grades and len(f.grades) < 2]
        if siblings and rng.random() < 0.1:
            family = rng.choice(siblings)
        else:
            family_name = rng.choice(FAMILY_NAMES)
            guardians = [self._new_guardian(family_name)]
            if rng.random() < 0.75:
                # Most second guardians share the family name; some kept their own.
                second = family_name if rng.random() < 0.7 else rng.choice(FAMILY_NAMES)
                guardians.append(self._new_guardian(second))
            family = _Family(guardians, family_name)
            families.append(family)
        family.grades.add(grade)
        return family

    def _new_guardian(self, family_name: str) -> _Person:
        self._guardian_count += 1
        return self._adult(f"grd-{self._guardian_count:04d}", family_name)

    def _plan_enrollments(self) -> None:
        # No end dates: `put_enrollment` takes a member whose enrollment has ended out of the
        # class, and its teacher could then no longer record the year's assessments.
        for school_class in self.classes:
            members = [(school_class.teacher, "teacher", True)]
            if school_class.co_teacher:
                members.append((school_class.co_teacher, "teacher", False))
            members += [(s.person.sourced_id, "student", False) for s in school_class.students]
            for user, role, primary in members:
                self._add("enrollments", PutEnrollment(
                    sourced_id=f"enr-{school_class.sourced_id.removeprefix('cls-')}-{user}",
                    status=_ACTIVE, user=user, school_class=school_class.sourced_id,
                    school=school_class.school.sourced_id, role=role, primary=primary,
                    begin_date=self.year.start, end_date=None,
                ))

    # -- gradebook -------------------------------------------------------------------------

    def _plan_gradebook(self) -> None:
        """Line items, results and attainments of every class, in the order of the year."""
        gradebook: list[tuple[date, int, int, _Step]] = []

        def add(kind: str, actor: Actor, command: object, when: date, priority: int) -> None:
            gradebook.append((when, priority, len(gradebook), _Step(kind, actor, command, when)))

        for school_class in self.classes:
            teacher = Actor(DEMO_TENANT, "teacher", school_class.teacher)
            items = self._line_items(school_class)
            for line_item in items:
                add("line items", teacher, line_item, line_item.assign_date.date(), 0)
            for student in school_class.students:
                for result in self._results(school_class, student, items):
                    add("results", teacher, result, result.assessed_at, 1)
                for attainment in self._attainments(school_class, student, items):
                    add("attainments", teacher, attainment, attainment.assessed_at, 2)
        # Line items before their results, results before the attainments they evidence.
        gradebook.sort(key=lambda entry: entry[:3])
        self.steps.extend(step for *_, step in gradebook)

    def _line_items(self, school_class: _Class) -> list[PutLineItem]:
        year = self.year
        shift = self.rng.randint(-3, 3)  # classes do not all test on the same day
        items = []
        for number, item in enumerate(_line_items_of(school_class.grade), start=1):
            if item.category == "yearReport":
                assign, due, period = year.end - timedelta(days=14), year.end, year.spring_id
            else:
                term_start = year.spring_start if item.spring else year.start
                assign = term_start + timedelta(days=item.assign_offset + shift)
                due = term_start + timedelta(days=item.due_offset + shift)
                period = year.spring_id if item.spring else year.autumn_id
            items.append(PutLineItem(
                sourced_id=f"li-{school_class.sourced_id.removeprefix('cls-')}-{number:02d}",
                status=_ACTIVE, title=item.title, description=None,
                school_class=school_class.sourced_id, category=item.category,
                assign_date=_morning(assign), due_date=_morning(due), grading_period=period,
                objectives=item.objectives,
                result_min=Decimal(0) if item.points else None,
                result_max=Decimal(item.points) if item.points else None,
            ))
        return items

    def _results(
        self, school_class: _Class, student: _Student, items: list[PutLineItem]
    ) -> Iterator[RecordAssessment]:
        rng = self.rng
        year = self.year
        grades: list[int] = []
        for item in items:
            sourced_id = f"res-{item.sourced_id.removeprefix('li-')}-{student.person.sourced_id}"
            if item.category == "yearReport":
                yield self._year_report(sourced_id, school_class, student, item, grades)
                continue
            due = item.due_date.date()
            share = self._performance(student, due)
            score = None
            if item.result_max is not None:
                score = Decimal(round(share * float(item.result_max) * 2)) / 2  # half points
            grade = _grade_of(share)
            grades.append(grade)
            comment = None
            if item.category == "project" and rng.random() < 0.35:
                comment = rng.choice(_PROJECT_COMMENTS)
            elif rng.random() < 0.12:
                comment = rng.choice(_COMMENTS[_level_of(share)])
            term_end = year.end if due > year.autumn_end else year.autumn_end
            yield RecordAssessment(
                sourced_id=sourced_id, student=student.person.sourced_id,
                school_class=school_class.sourced_id, line_item=item.sourced_id, score=score,
                grade=str(grade), comment=comment, objectives=[],
                assessed_at=min(due + timedelta(days=rng.randint(2, 9)), term_end),
                # About one in twenty handed in late; from the id, so the random stream
                # (and with it the rest of the demo) stays as it was.
                late=zlib.crc32(sourced_id.encode()) % 20 == 0,
            )

    def _year_report(
        self, sourced_id: str, school_class: _Class, student: _Student, item: PutLineItem,
        grades: list[int],
    ) -> RecordAssessment:
        rng = self.rng
        share = self._performance(student, self.year.end)
        grade: str | None = None
        if school_class.grade == 3:
            # A verbal year report in grade 3; numeric grades start in grade 4.
            comment: str | None = " ".join((
                _YEAR_OPENINGS[_level_of(share)], rng.choice(_YEAR_STRENGTHS),
                rng.choice(_YEAR_GOALS),
            ))
        else:
            recent = grades[len(grades) // 2:]  # the spring's work weighs double
            average = (sum(grades) + sum(recent)) / (len(grades) + len(recent))
            grade = str(min(10, max(4, round(average + rng.gauss(0, 0.3)))))
            comment = rng.choice(_COMMENTS[_level_of(share)]) if rng.random() < 0.3 else None
        return RecordAssessment(
            sourced_id=sourced_id, student=student.person.sourced_id,
            school_class=school_class.sourced_id, line_item=item.sourced_id, score=None,
            grade=grade, comment=comment, objectives=[], assessed_at=item.due_date.date(),
        )

    def _attainments(
        self, school_class: _Class, student: _Student, items: list[PutLineItem]
    ) -> Iterator[RecordAttainment]:
        """Four objectives per student, each assessed two or three times: trends to show."""
        year = self.year
        november = year.start + timedelta(days=100)
        march = year.spring_start + timedelta(days=75)
        may = year.end - timedelta(days=2)
        extra = self.rng.choice((11, 12, 13))
        schedule = {
            10: (november, march, may), 7: (november, march, may), 5: (march, may),
            extra: (march, may),
        }
        for number, days in schedule.items():
            objective = f"MA.3-6.T{number}"
            for day in days:
                evidence = [
                    item.sourced_id for item in items
                    if objective in item.objectives and item.due_date.date() <= day
                    and item.category != "yearReport"
                ]
                yield RecordAttainment(
                    student=student.person.sourced_id, school_class=school_class.sourced_id,
                    objective=objective, level=_level_of(self._performance(student, day)),
                    evidence=evidence, assessed_at=day,
                )

    def _performance(self, student: _Student, day: date) -> float:
        """The share of a task's points the student gets on `day`: ability, trend, luck."""
        progress = (day - self.year.start).days / max(1, (self.year.end - self.year.start).days)
        share = student.ability + student.trend * progress + self.rng.gauss(0.0, 0.08)
        return min(1.0, max(0.0, share))

    # -- consent ---------------------------------------------------------------------------

    def _plan_consents(self) -> None:
        """A few families allow the learning app; one pupil of 13 allows it themself."""
        rng = self.rng
        with_guardians = [s for s in self.students if s.guardians]
        count = min(len(with_guardians), max(1, round(8 * self.scale)))
        valid_until = date(self.year.start_year + 2, 7, 31)
        for number, student in enumerate(rng.sample(with_guardians, k=count), start=1):
            guardian = student.guardians[0]
            categories = ["roster", "assessment"] + (["attainment"] if number % 3 == 0 else [])
            self._add(
                "consents",
                GrantConsent(
                    student=student.person.sourced_id, granted_by=guardian,
                    recipient=CONSENT_RECIPIENT, purposes=["learning-app"],
                    categories=categories,
                    valid_until=valid_until if number % 2 else None,
                ),
                actor=Actor(DEMO_TENANT, "guardian", guardian),
                when=self.today,
                idempotency_seed=f"demo-consent-{number}",
            )
        # From 13 a pupil consents for themself (Data Protection Act 1050/2018, §5).
        of_age = [s for s in self.students if age_on(s.born, self.today) >= DIGITAL_CONSENT_AGE]
        if of_age:
            student_id = of_age[0].person.sourced_id
            self._add(
                "consents",
                GrantConsent(
                    student=student_id, granted_by=student_id, recipient=CONSENT_RECIPIENT,
                    purposes=["learning-app"], categories=["roster", "assessment"],
                    valid_until=None,
                ),
                actor=Actor(DEMO_TENANT, "student", student_id),
                when=self.today,
                idempotency_seed="demo-consent-self",
            )


def _grade_code(grade: int) -> str:
    """OneRoster grade levels (CEDS): "03" for the third grade."""
    return f"{grade:02d}"


def _grade_of(share: float) -> int:
    """A test grade from the share of points, as Finnish primary schools commonly scale it."""
    for grade, threshold in ((10, 0.95), (9, 0.85), (8, 0.73), (7, 0.60), (6, 0.48), (5, 0.35)):
        if share >= threshold:
            return grade
    return 4


def _level_of(share: float) -> int:
    """An attainment level (1 not yet reached … 4 excellent) from the share of points."""
    return 4 if share >= 0.88 else 3 if share >= 0.70 else 2 if share >= 0.50 else 1


def _morning(day: date) -> datetime:
    """The start of a school day in Finland (06:00 UTC is 08:00 there in winter)."""
    return datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)


def _ascii(name: str) -> str:
    return name.lower().translate(str.maketrans("äöåé", "aoae")).replace(" ", "")


# -- seeding ----------------------------------------------------------------------------------


class _RateColumn(ProgressColumn):
    """Commands per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} cmd/s", style="progress.data.speed")


def is_seeded(app: TenantApplication) -> bool:
    """True when the demo tenant holds its marker record (the district org)."""
    return app.find("orgs", DISTRICT) is not None


def seed_demo(container: Container, *, scale: float = 1.0, console: Console | None = None) -> bool:
    """Creates the demo tenant and seeds it once; False when it was seeded before."""
    console = console or Console(stderr=True)
    app = container.tenants.create(DEMO_TENANT, name=DEMO_TENANT_NAME)
    if is_seeded(app):
        return False
    plan = plan_demo(today=container.clock().date(), scale=scale)
    handlers = _handlers(app)
    started, first_position = time.perf_counter(), app.head_position()
    progress = Progress(
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("seeding demo", total=len(plan.steps))
        phase = ""
        for step in plan.steps:
            if _PHASES[step.kind] != phase:
                phase = _PHASES[step.kind]
                progress.update(task, description=phase)
            handlers[type(step.command)](step)
            progress.advance(task)
    elapsed = time.perf_counter() - started
    events = app.head_position() - first_position
    console.print(_summary(plan, events=events, seconds=elapsed))
    return True


def _handlers(app: TenantApplication) -> dict[type, Callable[[_Step], Outcome]]:
    def command(method: Callable[[Actor, Any], Outcome]) -> Callable[[_Step], Outcome]:
        return lambda step: method(step.actor, step.command)

    def consent(step: _Step) -> Outcome:
        assert isinstance(step.command, GrantConsent)
        return app.grant_consent(step.actor, step.command, idempotency_seed=step.idempotency_seed)

    return {
        PutOrg: command(app.put_org),
        PutAcademicSession: command(app.put_academic_session),
        PutCourse: command(app.put_course),
        PutClass: command(app.put_class),
        PutUser: command(app.put_user),
        PutEnrollment: command(app.put_enrollment),
        PutDemographics: command(app.put_demographics),
        PutLineItem: command(app.put_line_item),
        RecordAssessment: command(app.record_assessment),
        RecordAttainment: command(app.record_attainment),
        GrantConsent: consent,
    }


def _summary(plan: DemoPlan, *, events: int, seconds: float) -> str:
    counts = plan.counts()
    year = plan.school_year
    parts = " · ".join(f"{count:,} {kind}" for kind, count in counts.items())
    return (
        f"demo tenant [bold]{DEMO_TENANT}[/] seeded with school year "
        f"{year.start_year}–{year.start_year + 1} in {seconds:.1f} s "
        f"({events:,} events, {len(plan.steps) / max(seconds, 1e-9):,.0f} commands/s):\n{parts}"
    )
