"""Wire shapes of the command API: OneRoster 1.2 JSON, lenient on input.

References may carry only `sourcedId` (OneRoster GUIDRef's `href` and `type` are optional
here); OneRoster booleans may come as JSON booleans or as the strings "true"/"false".
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from domain.commands import Outcome

Status = Literal["active", "tobedeleted"]


def _oneroster_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


OneRosterBool = Annotated[bool, BeforeValidator(_oneroster_bool)]


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False  # numbers, dates, and nested shapes (they checked their own fields)


class Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text refuses NUL: stored in an event, it would fail every read model
        # the event reaches, so it is refused here as the caller's bad input.
        if _holds_nul(value):
            raise ValueError("NUL characters (U+0000) are not allowed")
        return value


class Ref(Shape):
    """A OneRoster GUIDRef: the sourcedId of a record of the same tenant."""

    sourcedId: str = Field(min_length=1, max_length=128)
    href: str | None = None
    type: str | None = None


class Record(Shape):
    sourcedId: str | None = Field(
        default=None, description="If given, must equal the sourcedId in the path."
    )
    status: Status = "active"
    dateLastModified: datetime | None = None


class OrgIn(Record):
    name: str
    type: str = Field(description="district, school, department, local, national, state, ext:…")
    identifier: str = ""
    parent: Ref | None = None


class AcademicSessionIn(Record):
    title: str
    type: str = Field(description="schoolYear, term, semester, gradingPeriod, ext:…")
    startDate: date
    endDate: date
    parent: Ref | None = None
    schoolYear: str = Field(description="The year the school year ends, e.g. 2026.")


class CourseIn(Record):
    title: str
    courseCode: str
    schoolYear: Ref | None = None
    org: Ref | None = None
    grades: list[str] = []
    subjects: list[str] = []
    subjectCodes: list[str] = []


class ClassIn(Record):
    title: str
    classCode: str | None = None
    classType: str | None = None
    location: str | None = None
    grades: list[str] = []
    subjects: list[str] = []
    subjectCodes: list[str] = []
    periods: list[str] = []
    course: Ref
    school: Ref
    terms: list[Ref]


class UserIdIn(Shape):
    type: str = Field(description="e.g. oppijanumero (national learner number)")
    identifier: str


class RoleIn(Shape):
    roleType: Literal["primary", "secondary"]
    role: str
    org: Ref
    beginDate: date | None = None
    endDate: date | None = None


class UserIn(Record):
    """A user. Every personal field is sealed under the user's own key before storing."""

    enabledUser: OneRosterBool = True
    givenName: str
    familyName: str
    middleName: str | None = None
    preferredFirstName: str | None = None
    preferredMiddleName: str | None = None
    preferredLastName: str | None = None
    pronouns: str | None = None
    username: str | None = None
    userMasterIdentifier: str | None = None
    identifier: str | None = None
    email: str | None = None
    sms: str | None = None
    phone: str | None = None
    userIds: list[UserIdIn] = []
    roles: list[RoleIn]
    primaryOrg: Ref | None = None
    agents: list[Ref] = Field(default=[], description="Guardians (and other agents) of the user.")
    grades: list[str] = []


#: Fields of a user that are personal data, sealed on write.
USER_PERSONAL_FIELDS = (
    "givenName",
    "familyName",
    "middleName",
    "preferredFirstName",
    "preferredMiddleName",
    "preferredLastName",
    "pronouns",
    "username",
    "userMasterIdentifier",
    "identifier",
    "email",
    "sms",
    "phone",
    "userIds",
)


class EnrollmentIn(Record):
    user: Ref
    class_: Ref = Field(alias="class")
    school: Ref
    role: str = Field(description="student, teacher, administrator, proctor, ext:…")
    primary: OneRosterBool = False
    beginDate: date | None = None
    endDate: date | None = None


class DemographicsIn(Record):
    """Demographics of the user with the same sourcedId; all of it is sealed."""

    model_config = ConfigDict(extra="allow")

    birthDate: date | None = None
    sex: str | None = None
    countryOfBirthCode: str | None = None
    cityOfBirth: str | None = None


class LearningObjectiveSet(Shape):
    source: str = "POPS2014"
    learningObjectiveIds: list[str]


class LineItemIn(Record):
    title: str
    description: str | None = None
    assignDate: datetime
    dueDate: datetime
    class_: Ref = Field(alias="class")
    category: Ref = Field(description="finalCertificate, yearReport or any local category.")
    gradingPeriod: Ref | None = None
    resultValueMin: Decimal | None = None
    resultValueMax: Decimal | None = None
    learningObjectiveSet: list[LearningObjectiveSet] = []


class AssessmentIn(Shape):
    """One assessment of one student in a class."""

    sourcedId: str | None = Field(
        default=None, description="Given: an existing result is corrected. Absent: generated."
    )
    student: str
    class_: str = Field(alias="class")
    lineItem: str | None = None
    score: Decimal | None = None
    grade: str | None = Field(default=None, description='"4"…"10", "S" or "H"')
    comment: str | None = Field(default=None, max_length=20000, description="Verbal assessment.")
    objectives: list[str] = Field(default=[], description="Curriculum objective codes.")
    scoreStatus: str = "fully graded"
    assessedAt: date
    late: bool = Field(
        default=False,
        description="Submitted past the line item's due date (OneRoster 1.2 Result.late).",
    )


class AttainmentIn(Shape):
    student: str
    class_: str = Field(alias="class")
    objective: str = Field(description="Curriculum objective code, e.g. MA.3-6.T5")
    level: int = Field(description="1 (not yet reached) … 4 (excellent)")
    evidence: list[str] = Field(default=[], description="Line item sourcedIds.")
    assessedAt: date


class ConsentIn(Shape):
    student: str
    grantedBy: str = Field(description="A guardian linked to the student, or the student (13+).")
    recipient: str = Field(description="The service id that may receive the data.")
    purposes: list[str]
    categories: list[str]
    validUntil: date | None = None


class RecordWritten(BaseModel):
    sourcedId: str
    position: int = Field(description="Store position of the command's last event.")
    changed: bool = True


class AttainmentWritten(BaseModel):
    id: str
    position: int


class ConsentWritten(BaseModel):
    consentId: str
    position: int
    state: str = "granted"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


#: The refusals every command may answer with, as OpenAPI documents them.
COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem, "description": d}
    for s, d in (
        (401, "No valid bearer token"),
        (403, "The caller may not write rosters"),
        (409, "Concurrent update or conflicting change"),
        (422, "Invalid body, unknown reference or broken rule; nothing was recorded"),
    )
}


def record_written(outcome: Outcome) -> tuple[int, dict[str, Any]]:
    """A record command's answer: 201 when it created the record, else 200, with its body."""
    body = RecordWritten(sourcedId=outcome.id, position=outcome.position, changed=outcome.changed)
    return (201 if outcome.created else 200), body.model_dump()
