"""Commands: what a caller asks the domain to record, already parsed from its wire shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.roster import ClassDetails, Role

#: Roles a bearer token can carry.
ROLES = frozenset({"teacher", "guardian", "student", "admin", "auditor", "service"})


@dataclass(frozen=True)
class Actor:
    """Who asks: the tenant, the role and the subject (a user sourcedId or a service id)."""

    tenant: str
    role: str
    subject: str
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    """What a command did: the record's id and the store position of its last event."""

    id: str
    position: int
    created: bool = False
    changed: bool = True
    #: The record's state after the command, for records that have one (a consent's).
    state: str | None = None


@dataclass(frozen=True)
class PutOrg:
    sourced_id: str
    status: str
    name: str
    org_type: str
    identifier: str
    parent: str | None


@dataclass(frozen=True)
class PutAcademicSession:
    sourced_id: str
    status: str
    title: str
    session_type: str
    start_date: date
    end_date: date
    parent: str | None
    school_year: str


@dataclass(frozen=True)
class PutCourse:
    sourced_id: str
    status: str
    title: str
    course_code: str
    school_year: str | None
    org: str | None
    grades: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    subject_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PutClass:
    sourced_id: str
    status: str
    details: ClassDetails
    course: str
    school: str
    terms: list[str]


@dataclass(frozen=True)
class PutUser:
    sourced_id: str
    status: str
    enabled: bool
    roles: list[Role]
    primary_org: str | None
    grades: list[str]
    guardians: list[str]
    #: OneRoster personal fields (givenName, familyName, email, userIds, …); sealed on write.
    personal: dict[str, Any]


@dataclass(frozen=True)
class PutEnrollment:
    sourced_id: str
    status: str
    user: str
    school_class: str
    school: str
    role: str
    primary: bool
    begin_date: date | None
    end_date: date | None


@dataclass(frozen=True)
class PutDemographics:
    sourced_id: str
    status: str
    #: birthDate, sex, countryOfBirthCode, …: all personal, sealed on write.
    personal: dict[str, Any]


@dataclass(frozen=True)
class PutLineItem:
    sourced_id: str
    status: str
    title: str
    description: str | None
    school_class: str
    category: str
    assign_date: datetime
    due_date: datetime
    grading_period: str | None
    objectives: list[str]
    result_min: Decimal | None
    result_max: Decimal | None


@dataclass(frozen=True)
class PutCategory:
    sourced_id: str
    status: str
    title: str
    weight: Decimal | None


@dataclass(frozen=True)
class PutScoreScale:
    sourced_id: str
    status: str
    title: str
    scale_type: str
    school_class: str
    course: str | None
    #: (itemValueLHS, itemValueRHS) pairs, in order.
    values: list[tuple[str, str]]


@dataclass(frozen=True)
class RecordAssessment:
    sourced_id: str | None
    student: str
    school_class: str
    line_item: str | None
    score: Decimal | None
    grade: str | None
    comment: str | None
    objectives: list[str]
    assessed_at: date
    score_status: str = "fully graded"
    #: Submitted past the line item's due date (OneRoster 1.2 Result.late).
    late: bool = False


@dataclass(frozen=True)
class RecordAttainment:
    student: str
    school_class: str
    objective: str
    level: int
    evidence: list[str]
    assessed_at: date


@dataclass(frozen=True)
class GrantConsent:
    student: str
    granted_by: str
    recipient: str
    purposes: list[str]
    categories: list[str]
    valid_until: date | None
