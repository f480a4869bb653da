"""Roster aggregates (OneRoster 1.2 rostering): orgs, sessions, courses, classes, users,
enrollments and demographics. References to other records are sourcedIds of the tenant.

Each change is its own event (a user's details corrected, a role assigned, a guardian
linked); nothing is recorded as a generic "updated" blob.

The module is longer than most and stays one: stored events name their class by its
module (`domain.roster:User.Registered`), so moving an aggregate would rename its events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.record import SourcedRecord
from domain.sealing import SealedValue

# OneRoster 1.2 enumerations (Org.type, AcademicSession.type, Role.role, Enrollment.role).
ORG_TYPES = frozenset({"department", "district", "local", "national", "school", "state"})
SESSION_TYPES = frozenset({"gradingPeriod", "semester", "schoolYear", "term"})
USER_ROLES = frozenset(
    {
        "aide",
        "counselor",
        "districtAdministrator",
        "guardian",
        "parent",
        "principal",
        "proctor",
        "relative",
        "siteAdministrator",
        "student",
        "systemAdministrator",
        "teacher",
    }
)
ENROLLMENT_ROLES = frozenset({"administrator", "proctor", "student", "teacher"})
GUARDIAN_ROLES = frozenset({"guardian", "parent", "relative"})


def is_extension(value: str) -> bool:
    """OneRoster allows `ext:`-prefixed values in extensible enumerations."""
    return value.startswith("ext:") and len(value) > 4


class Org(SourcedRecord):
    """A municipality (`district`), a school or another organisation."""

    class Registered(Aggregate.Created):
        sourced_id: str
        name: str
        org_type: str
        identifier: str
        parent: str | None

    @event(Registered)
    def __init__(
        self, sourced_id: str, name: str, org_type: str, identifier: str, parent: str | None
    ) -> None:
        self.sourced_id = sourced_id
        self.name = name
        self.org_type = org_type
        self.identifier = identifier
        self.parent = parent

    class Renamed(Aggregate.Event):
        name: str

    @event(Renamed)
    def _renamed(self, name: str) -> None:
        self.name = name

    class Reclassified(Aggregate.Event):
        org_type: str
        identifier: str

    @event(Reclassified)
    def _reclassified(self, org_type: str, identifier: str) -> None:
        self.org_type = org_type
        self.identifier = identifier

    class Reparented(Aggregate.Event):
        parent: str | None

    @event(Reparented)
    def _reparented(self, parent: str | None) -> None:
        self.parent = parent

    def revise(self, *, name: str, org_type: str, identifier: str, parent: str | None) -> None:
        if name != self.name:
            self._renamed(name)
        if (org_type, identifier) != (self.org_type, self.identifier):
            self._reclassified(org_type, identifier)
        if parent != self.parent:
            self._reparented(parent)


class AcademicSession(SourcedRecord):
    """A school year, term, semester or grading period."""

    class Registered(Aggregate.Created):
        sourced_id: str
        title: str
        session_type: str
        start_date: date
        end_date: date
        parent: str | None
        school_year: str

    @event(Registered)
    def __init__(
        self,
        sourced_id: str,
        title: str,
        session_type: str,
        start_date: date,
        end_date: date,
        parent: str | None,
        school_year: str,
    ) -> None:
        self.sourced_id = sourced_id
        self.title = title
        self.session_type = session_type
        self.start_date = start_date
        self.end_date = end_date
        self.parent = parent
        self.school_year = school_year

    class Retitled(Aggregate.Event):
        title: str

    @event(Retitled)
    def _retitled(self, title: str) -> None:
        self.title = title

    class Rescheduled(Aggregate.Event):
        start_date: date
        end_date: date

    @event(Rescheduled)
    def _rescheduled(self, start_date: date, end_date: date) -> None:
        self.start_date = start_date
        self.end_date = end_date

    class Reclassified(Aggregate.Event):
        session_type: str
        parent: str | None
        school_year: str

    @event(Reclassified)
    def _reclassified(self, session_type: str, parent: str | None, school_year: str) -> None:
        self.session_type = session_type
        self.parent = parent
        self.school_year = school_year

    def revise(
        self,
        *,
        title: str,
        session_type: str,
        start_date: date,
        end_date: date,
        parent: str | None,
        school_year: str,
    ) -> None:
        if title != self.title:
            self._retitled(title)
        if (start_date, end_date) != (self.start_date, self.end_date):
            self._rescheduled(start_date, end_date)
        if (session_type, parent, school_year) != (
            self.session_type,
            self.parent,
            self.school_year,
        ):
            self._reclassified(session_type, parent, school_year)


class Course(SourcedRecord):
    """A course of study, e.g. mathematics for grade 4 in a school year."""

    class Registered(Aggregate.Created):
        sourced_id: str
        title: str
        course_code: str
        school_year: str | None
        org: str | None
        grades: list[str]
        subjects: list[str]
        subject_codes: list[str]

    @event(Registered)
    def __init__(
        self,
        sourced_id: str,
        title: str,
        course_code: str,
        school_year: str | None,
        org: str | None,
        grades: list[str],
        subjects: list[str],
        subject_codes: list[str],
    ) -> None:
        self.sourced_id = sourced_id
        self.title = title
        self.course_code = course_code
        self.school_year = school_year
        self.org = org
        self.grades = grades
        self.subjects = subjects
        self.subject_codes = subject_codes

    class Retitled(Aggregate.Event):
        title: str
        course_code: str

    @event(Retitled)
    def _retitled(self, title: str, course_code: str) -> None:
        self.title = title
        self.course_code = course_code

    class CurriculumChanged(Aggregate.Event):
        grades: list[str]
        subjects: list[str]
        subject_codes: list[str]

    @event(CurriculumChanged)
    def _curriculum_changed(
        self, grades: list[str], subjects: list[str], subject_codes: list[str]
    ) -> None:
        self.grades = grades
        self.subjects = subjects
        self.subject_codes = subject_codes

    class Moved(Aggregate.Event):
        org: str | None
        school_year: str | None

    @event(Moved)
    def _moved(self, org: str | None, school_year: str | None) -> None:
        self.org = org
        self.school_year = school_year

    def revise(
        self,
        *,
        title: str,
        course_code: str,
        school_year: str | None,
        org: str | None,
        grades: list[str],
        subjects: list[str],
        subject_codes: list[str],
    ) -> None:
        if (title, course_code) != (self.title, self.course_code):
            self._retitled(title, course_code)
        if (grades, subjects, subject_codes) != (self.grades, self.subjects, self.subject_codes):
            self._curriculum_changed(grades, subjects, subject_codes)
        if (org, school_year) != (self.org, self.school_year):
            self._moved(org, school_year)


@dataclass(frozen=True)
class ClassDetails:
    """The descriptive fields of a class (OneRoster Class), compared as one value."""

    title: str
    class_code: str | None
    class_type: str | None
    location: str | None
    grades: list[str]
    subjects: list[str]
    subject_codes: list[str]
    periods: list[str]


class SchoolClass(SourcedRecord):
    """A class (OneRoster Class): a group of students and teachers in a school and terms.

    It also keeps its membership (which users are enrolled as what), so commands can check
    that only a class's teachers assess its students.
    """

    class Registered(Aggregate.Created):
        sourced_id: str
        title: str
        class_code: str | None
        class_type: str | None
        location: str | None
        grades: list[str]
        subjects: list[str]
        subject_codes: list[str]
        periods: list[str]
        course: str
        school: str
        terms: list[str]

    @event(Registered)
    def __init__(
        self,
        sourced_id: str,
        title: str,
        class_code: str | None,
        class_type: str | None,
        location: str | None,
        grades: list[str],
        subjects: list[str],
        subject_codes: list[str],
        periods: list[str],
        course: str,
        school: str,
        terms: list[str],
    ) -> None:
        self.sourced_id = sourced_id
        self.details = ClassDetails(
            title, class_code, class_type, location, grades, subjects, subject_codes, periods
        )
        self.course = course
        self.school = school
        self.terms = terms
        # enrollment sourcedId → (user, role, begin date, end date)
        self.members: dict[str, tuple[str, str, date | None, date | None]] = {}

    class DetailsCorrected(Aggregate.Event):
        title: str
        class_code: str | None
        class_type: str | None
        location: str | None
        grades: list[str]
        subjects: list[str]
        subject_codes: list[str]
        periods: list[str]

    @event(DetailsCorrected)
    def _details_corrected(
        self,
        title: str,
        class_code: str | None,
        class_type: str | None,
        location: str | None,
        grades: list[str],
        subjects: list[str],
        subject_codes: list[str],
        periods: list[str],
    ) -> None:
        self.details = ClassDetails(
            title, class_code, class_type, location, grades, subjects, subject_codes, periods
        )

    class TermsChanged(Aggregate.Event):
        terms: list[str]

    @event(TermsChanged)
    def _terms_changed(self, terms: list[str]) -> None:
        self.terms = terms

    class Moved(Aggregate.Event):
        course: str
        school: str

    @event(Moved)
    def _moved(self, course: str, school: str) -> None:
        self.course = course
        self.school = school

    class MemberJoined(Aggregate.Event):
        """A user's enrollment in the class, as student, teacher, …, for these dates."""

        enrollment: str
        user: str
        role: str
        begin_date: date | None
        end_date: date | None

    @event(MemberJoined)
    def _member_joined(
        self, enrollment: str, user: str, role: str, begin_date: date | None, end_date: date | None
    ) -> None:
        self.members[enrollment] = (user, role, begin_date, end_date)

    class MemberLeft(Aggregate.Event):
        enrollment: str

    @event(MemberLeft)
    def _member_left(self, enrollment: str) -> None:
        self.members.pop(enrollment, None)

    @property
    def title(self) -> str:
        return self.details.title

    def revise(self, *, details: ClassDetails, course: str, school: str, terms: list[str]) -> None:
        if details != self.details:
            self._details_corrected(**details.__dict__)
        if terms != self.terms:
            self._terms_changed(terms)
        if (course, school) != (self.course, self.school):
            self._moved(course, school)

    def join(
        self,
        *,
        enrollment: str,
        user: str,
        role: str,
        begin_date: date | None,
        end_date: date | None,
    ) -> None:
        if self.members.get(enrollment) != (user, role, begin_date, end_date):
            self._member_joined(enrollment, user, role, begin_date, end_date)

    def leave(self, *, enrollment: str) -> None:
        if enrollment in self.members:
            self._member_left(enrollment)

    def has_member(self, user: str, role: str, *, on: date | None = None) -> bool:
        """True when `user` is enrolled as `role` (on the given day, if one is given)."""
        for member, member_role, begin, end in self.members.values():
            if (member, member_role) != (user, role):
                continue
            if on is None or ((begin is None or begin <= on) and (end is None or on <= end)):
                return True
        return False


@dataclass(frozen=True)
class Role:
    """A user's role in an organisation (OneRoster Role); references are sourcedIds."""

    role_type: str
    role: str
    org: str
    begin_date: date | None = None
    end_date: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "role_type": self.role_type,
            "role": self.role,
            "org": self.org,
            "begin_date": self.begin_date,
            "end_date": self.end_date,
        }


class User(SourcedRecord):
    """A person: student, teacher, guardian or staff. Personal fields are sealed.

    The user's aggregate id is also their data-subject id: it names the keys under which
    their personal data is sealed.
    """

    class Registered(Aggregate.Created):
        sourced_id: str
        enabled: bool
        roles: list[dict[str, Any]]
        primary_org: str | None
        grades: list[str]
        personal: SealedValue

    @event(Registered)
    def __init__(
        self,
        sourced_id: str,
        enabled: bool,
        roles: list[dict[str, Any]],
        primary_org: str | None,
        grades: list[str],
        personal: SealedValue,
    ) -> None:
        self.sourced_id = sourced_id
        self.enabled = enabled
        self.roles = {(r["role"], r["org"]): r for r in roles}
        self.primary_org = primary_org
        self.grades = grades
        self.personal = personal
        self.guardians: list[str] = []

    class PersonalDetailsCorrected(Aggregate.Event):
        personal: SealedValue

    @event(PersonalDetailsCorrected)
    def _personal_details_corrected(self, personal: SealedValue) -> None:
        self.personal = personal

    class RoleAssigned(Aggregate.Event):
        role: dict[str, Any]

    @event(RoleAssigned)
    def _role_assigned(self, role: dict[str, Any]) -> None:
        self.roles[(role["role"], role["org"])] = role

    class RoleRemoved(Aggregate.Event):
        role: str
        org: str

    @event(RoleRemoved)
    def _role_removed(self, role: str, org: str) -> None:
        self.roles.pop((role, org), None)

    class GuardianLinked(Aggregate.Event):
        guardian: str

    @event(GuardianLinked)
    def _guardian_linked(self, guardian: str) -> None:
        self.guardians.append(guardian)

    class GuardianUnlinked(Aggregate.Event):
        guardian: str

    @event(GuardianUnlinked)
    def _guardian_unlinked(self, guardian: str) -> None:
        self.guardians.remove(guardian)

    class Enabled(Aggregate.Event):
        pass

    @event(Enabled)
    def _enabled(self) -> None:
        self.enabled = True

    class Disabled(Aggregate.Event):
        pass

    @event(Disabled)
    def _disabled(self) -> None:
        self.enabled = False

    class PlacementChanged(Aggregate.Event):
        primary_org: str | None
        grades: list[str]

    @event(PlacementChanged)
    def _placement_changed(self, primary_org: str | None, grades: list[str]) -> None:
        self.primary_org = primary_org
        self.grades = grades

    def has_role(self, role: str) -> bool:
        return any(r == role for r, _ in self.roles)

    @property
    def is_student(self) -> bool:
        return self.has_role("student")

    def correct_personal_details(self, personal: SealedValue) -> None:
        self._personal_details_corrected(personal)

    def revise(
        self,
        *,
        enabled: bool,
        roles: list[Role],
        primary_org: str | None,
        grades: list[str],
        guardians: list[str],
    ) -> None:
        if enabled != self.enabled:
            self._enabled() if enabled else self._disabled()
        wanted = {(r.role, r.org): r.as_dict() for r in roles}
        for key in [k for k in self.roles if k not in wanted]:
            self._role_removed(*key)
        for key, role in wanted.items():
            if self.roles.get(key) != role:
                self._role_assigned(role)
        if (primary_org, grades) != (self.primary_org, self.grades):
            self._placement_changed(primary_org, grades)
        for guardian in [g for g in self.guardians if g not in guardians]:
            self._guardian_unlinked(guardian)
        for guardian in guardians:
            if guardian not in self.guardians:
                self._guardian_linked(guardian)


class Enrollment(SourcedRecord):
    """A user's membership of a class as student, teacher, … with begin and end dates."""

    class Started(Aggregate.Created):
        sourced_id: str
        user: str
        school_class: str
        school: str
        role: str
        primary: bool
        begin_date: date | None
        end_date: date | None

    @event(Started)
    def __init__(
        self,
        sourced_id: str,
        user: str,
        school_class: str,
        school: str,
        role: str,
        primary: bool,
        begin_date: date | None,
        end_date: date | None,
    ) -> None:
        self.sourced_id = sourced_id
        self.user = user
        self.school_class = school_class
        self.school = school
        self.role = role
        self.primary = primary
        self.begin_date = begin_date
        self.end_date = end_date

    created_event_name = "Started"

    class Ended(Aggregate.Event):
        end_date: date

    @event(Ended)
    def _ended(self, end_date: date) -> None:
        self.end_date = end_date

    class Rescheduled(Aggregate.Event):
        begin_date: date | None
        end_date: date | None

    @event(Rescheduled)
    def _rescheduled(self, begin_date: date | None, end_date: date | None) -> None:
        self.begin_date = begin_date
        self.end_date = end_date

    class PrimaryChanged(Aggregate.Event):
        primary: bool

    @event(PrimaryChanged)
    def _primary_changed(self, primary: bool) -> None:
        self.primary = primary

    def revise(self, *, primary: bool, begin_date: date | None, end_date: date | None) -> None:
        if begin_date == self.begin_date and end_date != self.end_date and end_date is not None:
            self._ended(end_date)
        elif (begin_date, end_date) != (self.begin_date, self.end_date):
            self._rescheduled(begin_date, end_date)
        if primary != self.primary:
            self._primary_changed(primary)


class Demographics(SourcedRecord):
    """A user's demographics (OneRoster): all of it is personal, so all of it is sealed."""

    class Recorded(Aggregate.Created):
        sourced_id: str
        personal: SealedValue

    @event(Recorded)
    def __init__(self, sourced_id: str, personal: SealedValue) -> None:
        self.sourced_id = sourced_id
        self.personal = personal

    created_event_name = "Recorded"

    class Corrected(Aggregate.Event):
        personal: SealedValue

    @event(Corrected)
    def _corrected(self, personal: SealedValue) -> None:
        self.personal = personal

    def correct(self, personal: SealedValue) -> None:
        self._corrected(personal)


#: Collections of the roster command API and the aggregate class holding each.
ROSTER_COLLECTIONS: dict[str, type[SourcedRecord]] = {
    "orgs": Org,
    "academicSessions": AcademicSession,
    "courses": Course,
    "classes": SchoolClass,
    "users": User,
    "enrollments": Enrollment,
    "demographics": Demographics,
}
