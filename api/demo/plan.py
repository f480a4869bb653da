"""The demo's plan: every command of the seed, from a seeded random generator and the clock."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from api.demo.data import (
    ACTIVE,
    BOY_MIDDLE_NAMES,
    BOY_NAMES,
    CONSENT_RECIPIENT,
    DEMO_ADMIN,
    DEMO_TENANT,
    DISTRICT,
    DISTRICT_NAME,
    FAMILY_NAMES,
    GIRL_MIDDLE_NAMES,
    GIRL_NAMES,
    MEN_NAMES,
    SCHOOLS,
    TOPICS,
    WOMEN_NAMES,
    DemoSchool,
)
from api.demo.gradebook import GradebookPlanner
from api.demo.planned import DemoClass, DemoFamily, DemoPerson, DemoPlan, DemoStep, DemoStudent
from api.demo.school_year import last_completed_school_year
from domain.commands import (
    Actor,
    GrantConsent,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutDemographics,
    PutEnrollment,
    PutOrg,
    PutUser,
)
from domain.consent import DIGITAL_CONSENT_AGE, age_on
from domain.roster import ClassDetails, Role

__all__ = ["plan_demo"]

_STUDENTS_PER_CLASS = (22, 28)
_SEED = "digione-demo-v1"


def plan_demo(*, today: date, scale: float = 1.0) -> DemoPlan:
    """The demo's commands for `today`; `scale` multiplies the number of students per class."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return _Planner(today=today, scale=scale).plan()


class _Planner:
    """Plans the roster, the gradebook and the consents, in the order they are recorded."""

    def __init__(self, *, today: date, scale: float) -> None:
        self.today = today
        self.scale = scale
        self.rng = random.Random(_SEED)
        self.year = last_completed_school_year(today)
        self.steps: list[DemoStep] = []
        self.classes: list[DemoClass] = []
        self.students: list[DemoStudent] = []
        self.families: dict[str, list[DemoFamily]] = {}
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
        self.steps.append(DemoStep(kind, actor, command, when or self.year.start, idempotency_seed))

    # -- roster ----------------------------------------------------------------------------

    def _plan_organisation(self) -> None:
        year = self.year
        self._add(
            "orgs",
            PutOrg(
                sourced_id=DISTRICT,
                status=ACTIVE,
                name=DISTRICT_NAME,
                org_type="district",
                identifier="999",
                parent=None,
            ),
        )
        for school in SCHOOLS:
            self._add(
                "orgs",
                PutOrg(
                    sourced_id=school.sourced_id,
                    status=ACTIVE,
                    name=school.name,
                    org_type="school",
                    identifier=school.identifier,
                    parent=DISTRICT,
                ),
            )
        ends = str(year.start_year + 1)  # OneRoster schoolYear: the year the school year ends
        sessions = (
            (
                year.sourced_id,
                f"Lukuvuosi {year.start_year}–{ends}",
                "schoolYear",
                year.start,
                year.end,
                None,
            ),
            (
                year.autumn_id,
                f"Syyslukukausi {year.start_year}",
                "term",
                year.start,
                year.autumn_end,
                year.sourced_id,
            ),
            (
                year.spring_id,
                f"Kevätlukukausi {ends}",
                "term",
                year.spring_start,
                year.end,
                year.sourced_id,
            ),
        )
        for sourced_id, title, session_type, start, end, parent in sessions:
            self._add(
                "academic sessions",
                PutAcademicSession(
                    sourced_id=sourced_id,
                    status=ACTIVE,
                    title=title,
                    session_type=session_type,
                    start_date=start,
                    end_date=end,
                    parent=parent,
                    school_year=ends,
                ),
            )
        for grade in TOPICS:
            self._add(
                "courses",
                PutCourse(
                    sourced_id=self._course_id(grade),
                    status=ACTIVE,
                    title=f"Matematiikka, {grade}. luokka",
                    course_code=f"MA{grade}",
                    school_year=year.sourced_id,
                    org=DISTRICT,
                    grades=[_grade_code(grade)],
                    subjects=["Matematiikka"],
                    subject_codes=["MA"],
                ),
            )
        teacher_number = 0
        for school in SCHOOLS:
            for code in school.class_codes:
                teacher_number += 1
                school_class = DemoClass(
                    sourced_id=f"cls-{school.short}-{code.lower()}",
                    code=code,
                    grade=int(code[0]),
                    school=school,
                    teacher=f"tch-{teacher_number:02d}",
                )
                self.classes.append(school_class)
                room = f"Luokka {self.rng.randint(1, 2)}{self.rng.randint(1, 30):02d}"
                self._add(
                    "classes",
                    PutClass(
                        sourced_id=school_class.sourced_id,
                        status=ACTIVE,
                        details=ClassDetails(
                            title=f"Matematiikka {code}",
                            class_code=code,
                            class_type="scheduled",
                            location=room,
                            grades=[_grade_code(school_class.grade)],
                            subjects=["Matematiikka"],
                            subject_codes=["MA"],
                            periods=[],
                        ),
                        course=self._course_id(school_class.grade),
                        school=school.sourced_id,
                        terms=[year.autumn_id, year.spring_id],
                    ),
                )
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
            self._add(
                "teachers",
                self._user(
                    person,
                    role="teacher",
                    school=school,
                    personal={
                        "email": f"{username}@{school.email_domain}",
                        "username": username,
                    },
                ),
            )

    def _user(
        self,
        person: DemoPerson,
        *,
        role: str,
        school: DemoSchool,
        personal: dict[str, Any],
        grades: list[str] | None = None,
        guardians: list[str] | None = None,
    ) -> PutUser:
        return PutUser(
            sourced_id=person.sourced_id,
            status=ACTIVE,
            enabled=True,
            roles=[Role("primary", role, school.sourced_id)],
            primary_org=school.sourced_id,
            grades=grades or [],
            guardians=guardians or [],
            personal={"givenName": person.given, "familyName": person.family, **personal},
        )

    def _adult(self, sourced_id: str, family: str) -> DemoPerson:
        sex = self.rng.choice(("female", "male"))
        names = WOMEN_NAMES if sex == "female" else MEN_NAMES
        return DemoPerson(sourced_id, self.rng.choice(names), family, sex)

    def _plan_students(self) -> None:
        low, high = _STUDENTS_PER_CLASS
        for school_class in self.classes:
            size = max(1, round(self.scale * self.rng.randint(low, high)))
            for _ in range(size):
                self._plan_student(school_class)

    def _plan_student(self, school_class: DemoClass) -> None:
        rng = self.rng
        school = school_class.school
        family = self._family_for(school, school_class.grade)
        for guardian in family.guardians:
            if guardian.sourced_id not in self._planned_guardians:
                self._planned_guardians.add(guardian.sourced_id)
                mailbox = f"{_ascii(guardian.given)}.{_ascii(guardian.family)}{rng.randint(1, 99)}"
                self._add(
                    "guardians",
                    self._user(
                        guardian,
                        role="guardian",
                        school=school,
                        personal={"email": f"{mailbox}@posti.example"},
                    ),
                )
        self._student_count += 1
        sex = rng.choice(("female", "male"))
        given_names = GIRL_NAMES if sex == "female" else BOY_NAMES
        middle_names = GIRL_MIDDLE_NAMES if sex == "female" else BOY_MIDDLE_NAMES
        person = DemoPerson(
            f"stu-{self._student_count:04d}", rng.choice(given_names), family.family_name, sex
        )
        # Born in the year the pupil turns 7 + (grade − 1) in the autumn; a few started
        # school a year late (lykätty koulunaloitus), so some sixth-graders are already 13.
        birth_year = self.year.start_year - 6 - school_class.grade
        if rng.random() < 0.04:
            birth_year -= 1
        born = date(birth_year, 1, 1) + timedelta(days=rng.randrange(365))
        student = DemoStudent(
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
        self._add(
            "students",
            self._user(
                person,
                role="student",
                school=school,
                personal=personal,
                grades=[_grade_code(school_class.grade)],
                guardians=student.guardians,
            ),
        )
        country = "FI" if rng.random() < 0.93 else rng.choice(("SE", "EE", "NO", "DE"))
        self._add(
            "demographics",
            PutDemographics(
                sourced_id=person.sourced_id,
                status=ACTIVE,
                personal={"birthDate": born.isoformat(), "sex": sex, "countryOfBirthCode": country},
            ),
        )

    def _family_for(self, school: DemoSchool, grade: int) -> DemoFamily:
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
            family = DemoFamily(guardians, family_name)
            families.append(family)
        family.grades.add(grade)
        return family

    def _new_guardian(self, family_name: str) -> DemoPerson:
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
                self._add(
                    "enrollments",
                    PutEnrollment(
                        sourced_id=f"enr-{school_class.sourced_id.removeprefix('cls-')}-{user}",
                        status=ACTIVE,
                        user=user,
                        school_class=school_class.sourced_id,
                        school=school_class.school.sourced_id,
                        role=role,
                        primary=primary,
                        begin_date=self.year.start,
                        end_date=None,
                    ),
                )

    # -- gradebook -------------------------------------------------------------------------

    # -- gradebook -------------------------------------------------------------------------

    def _plan_gradebook(self) -> None:
        # It draws from the same generator, after the roster and before the consents, so
        # every draw (and with it every id and name of the demo) stays where it was.
        self.steps.extend(GradebookPlanner(rng=self.rng, year=self.year).steps(self.classes))

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
                    student=student.person.sourced_id,
                    granted_by=guardian,
                    recipient=CONSENT_RECIPIENT,
                    purposes=["learning-app"],
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
                    student=student_id,
                    granted_by=student_id,
                    recipient=CONSENT_RECIPIENT,
                    purposes=["learning-app"],
                    categories=["roster", "assessment"],
                    valid_until=None,
                ),
                actor=Actor(DEMO_TENANT, "student", student_id),
                when=self.today,
                idempotency_seed="demo-consent-self",
            )


def _grade_code(grade: int) -> str:
    """OneRoster grade levels (CEDS): "03" for the third grade."""
    return f"{grade:02d}"


def _ascii(name: str) -> str:
    """A name as an e-mail address or username spells it: lower case, no Finnish letters."""
    return name.lower().translate(str.maketrans("äöåé", "aoae")).replace(" ", "")
