"""Wire shapes of the command API: OneRoster 1.2 JSON, lenient on input.

References may carry only `sourcedId` (OneRoster GUIDRef's `href` and `type` are optional
here); OneRoster booleans may come as JSON booleans or as the strings "true"/"false".
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from domain.commands import Outcome

Status = Literal["active", "tobedeleted"]


def _oneroster_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


OneRosterBool = Annotated[bool, BeforeValidator(_oneroster_bool)]


def _nfc(value: Any) -> Any:
    # The NFD and NFC spellings of a name are one name: stored as they came, a re-sent
    # NFD "Mäkelä" would differ from the stored NFC one and be recorded as a change.
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


# Maxima of the free-text fields. OneRoster 1.2 sets none; these hold every real value with
# margin and keep one oversized value from filling an event (the limit applies to the
# NFC form that is stored). A reference is a sourcedId, as long as a path's may be.
REFERENCE_MAX = 128
CODE_MAX = 256
NAME_MAX = 256
EMAIL_MAX = 320  # RFC 5321: a 64-character local part, "@", a 255-character domain
PHONE_MAX = 64
TITLE_MAX = 1024
DESCRIPTION_MAX = 4096
VERBAL_ASSESSMENT_MAX = 20000

# The length is checked on the normalised value, the one stored (the maximum first: after
# the validator it would be checked as a generic "items" constraint).
_NFC = BeforeValidator(_nfc)

#: A sourcedId of a record of the tenant.
Reference = Annotated[str, Field(max_length=REFERENCE_MAX), _NFC]
#: A code or an identifier: a type, a role, a course code, a grade, an objective.
Code = Annotated[str, Field(max_length=CODE_MAX), _NFC]
#: A person's or an organisation's name, a username, pronouns.
Name = Annotated[str, Field(max_length=NAME_MAX), _NFC]
Email = Annotated[str, Field(max_length=EMAIL_MAX), _NFC]
Phone = Annotated[str, Field(max_length=PHONE_MAX), _NFC]
Title = Annotated[str, Field(max_length=TITLE_MAX), _NFC]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX), _NFC]
VerbalAssessment = Annotated[str, Field(max_length=VERBAL_ASSESSMENT_MAX), _NFC]


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

    sourcedId: Reference = Field(min_length=1)
    href: Title | None = None
    type: Code | None = None


class Record(Shape):
    sourcedId: Reference | None = Field(
        default=None, description="If given, must equal the sourcedId in the path."
    )
    status: Status = "active"
    dateLastModified: datetime | None = None


class OrgIn(Record):
    name: Name
    type: Code = Field(description="district, school, department, local, national, state, ext:…")
    identifier: Code = ""
    parent: Ref | None = None


class AcademicSessionIn(Record):
    title: Title
    type: Code = Field(description="schoolYear, term, semester, gradingPeriod, ext:…")
    startDate: date
    endDate: date
    parent: Ref | None = None
    schoolYear: Code = Field(description="The year the school year ends, e.g. 2026.")


class CourseIn(Record):
    title: Title
    courseCode: Code
    schoolYear: Ref | None = None
    org: Ref | None = None
    grades: list[Code] = []
    subjects: list[Code] = []
    subjectCodes: list[Code] = []


class ClassIn(Record):
    title: Title
    classCode: Code | None = None
    classType: Code | None = None
    location: Title | None = None
    grades: list[Code] = []
    subjects: list[Code] = []
    subjectCodes: list[Code] = []
    periods: list[Code] = []
    course: Ref
    school: Ref
    terms: list[Ref]


class UserIdIn(Shape):
    type: Code = Field(description="e.g. oppijanumero (national learner number)")
    identifier: Code


class RoleIn(Shape):
    roleType: Literal["primary", "secondary"]
    role: Code
    org: Ref
    beginDate: date | None = None
    endDate: date | None = None


class UserIn(Record):
    """A user. Every personal field is sealed under the user's own key before storing."""

    enabledUser: OneRosterBool = True
    givenName: Name
    familyName: Name
    middleName: Name | None = None
    preferredFirstName: Name | None = None
    preferredMiddleName: Name | None = None
    preferredLastName: Name | None = None
    pronouns: Name | None = None
    username: Name | None = None
    userMasterIdentifier: Code | None = None
    identifier: Code | None = None
    email: Email | None = None
    sms: Phone | None = None
    phone: Phone | None = None
    userIds: list[UserIdIn] = []
    roles: list[RoleIn]
    primaryOrg: Ref | None = None
    agents: list[Ref] = Field(default=[], description="Guardians (and other agents) of the user.")
    grades: list[Code] = []


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
    role: Code = Field(description="student, teacher, administrator, proctor, ext:…")
    primary: OneRosterBool = False
    beginDate: date | None = None
    endDate: date | None = None


class DemographicsIn(Record):
    """Demographics of the user with the same sourcedId; all of it is sealed."""

    model_config = ConfigDict(extra="allow")

    birthDate: date | None = None
    sex: Code | None = None
    countryOfBirthCode: Code | None = None
    cityOfBirth: Name | None = None

    @model_validator(mode="after")
    def _other_fields_are_short_nfc_text(self) -> DemographicsIn:
        # OneRoster's other demographics (the race flags, publicSchoolResidenceStatus, …)
        # come as extra fields: they get the same normalisation and a code's maximum.
        extra = self.__pydantic_extra__ or {}
        for name, value in extra.items():
            if isinstance(value, str):
                if len(value) > CODE_MAX:
                    raise ValueError(f"{name} should have at most {CODE_MAX} characters")
                extra[name] = _nfc(value)
        return self


class LearningObjectiveSet(Shape):
    source: Code = "POPS2014"
    learningObjectiveIds: list[Code]


class LineItemIn(Record):
    title: Title
    description: Description | None = None
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

    sourcedId: Reference | None = Field(
        default=None, description="Given: an existing result is corrected. Absent: generated."
    )
    student: Reference
    class_: Reference = Field(alias="class")
    lineItem: Reference | None = None
    score: Decimal | None = None
    grade: Code | None = Field(default=None, description='"4"…"10", "S" or "H"')
    comment: VerbalAssessment | None = Field(default=None, description="Verbal assessment.")
    objectives: list[Code] = Field(default=[], description="Curriculum objective codes.")
    scoreStatus: Code = "fully graded"
    assessedAt: date
    late: bool = Field(
        default=False,
        description="Submitted past the line item's due date (OneRoster 1.2 Result.late).",
    )


class AttainmentIn(Shape):
    student: Reference
    class_: Reference = Field(alias="class")
    objective: Code = Field(description="Curriculum objective code, e.g. MA.3-6.T5")
    level: int = Field(description="1 (not yet reached) … 4 (excellent)")
    evidence: list[Reference] = Field(default=[], description="Line item sourcedIds.")
    assessedAt: date


class ConsentIn(Shape):
    student: Reference
    grantedBy: Reference = Field(
        description="A guardian linked to the student, or the student (13+)."
    )
    recipient: Code = Field(description="The service id that may receive the data.")
    purposes: list[Code]
    categories: list[Code]
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
