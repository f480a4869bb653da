"""Response models of the read API: what /openapi.json documents each read to answer.

The read services (projections/reads/) shape their answers as plain JSON values; these
models describe those shapes, field for field and in the same order. Dates and times are
ISO strings already, so they are typed as strings with their format.

The hot reads (a class dashboard, a child's view) are encoded once with orjson and sent as
a Response (`document`): their routes name the model as `response_model` for the document
only, and FastAPI skips validating a Response. The other reads return their dict and are
validated against the model as usual.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChildViewAnswer",
    "ChildrenAnswer",
    "ClassDashboardAnswer",
    "ErasureReceiptAnswer",
    "IfNoneMatch",
    "RosterRecordAnswer",
    "SubjectExportAnswer",
    "document",
    "encoded_document",
]

#: A hot read's `If-None-Match`: the ETag of the answer the caller holds (see `document`).
IfNoneMatch = Annotated[
    str | None,
    Header(
        max_length=1024,
        description="The ETag of the answer the caller holds: 304 and no body while the "
        "answer is the same (the read is authorised and recorded all the same).",
    ),
]

IsoDate = Annotated[str, Field(json_schema_extra={"format": "date"})]
IsoDateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


def document(content: Mapping[str, Any], if_none_match: str | None = None) -> Response:
    """A read's answer, already plain JSON values, encoded once with orjson and sent.

    A route that returns a dict has FastAPI walk it with jsonable_encoder first; for a
    dashboard page (~150 kB) that walk costs more than reading it from the read model.

    The answer carries an ETag (a digest of its bytes); a caller whose `If-None-Match`
    names it gets 304 and no body. The read ran in full all the same (authorised and
    recorded as disclosed): only the bytes are not sent again.
    """
    return encoded_document(orjson.dumps(content), if_none_match)


def encoded_document(body: bytes, if_none_match: str | None = None) -> Response:
    """A read's answer encoded already (a pre-rendered page), sent as `document` sends one:
    the same ETag for the same bytes, whichever way they were made."""
    tag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
    # Personal data: no shared cache may keep it, and the caller asks again each time.
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and _names(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _names(if_none_match: str, tag: str) -> bool:
    """Whether an If-None-Match header names `tag` (weak comparison, RFC 9110 13.1.2)."""
    listed = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in listed or tag in listed


class Answer(BaseModel):
    """A part of a read's answer; `class` is a keyword in Python, so fields may alias it."""

    model_config = ConfigDict(populate_by_name=True)


class Titles(Answer):
    """A curriculum objective's titles (None for a code the curriculum lacks)."""

    fi: str | None
    en: str | None


class LearnerTitles(Answer):
    """An objective as the learner would say it ("Osaan …", "Jag kan …", "I can …"), in the
    languages it has one (the project's own wording); empty where none is written yet."""

    fi: str | None
    sv: str | None
    en: str | None


class Person(Answer):
    sourcedId: str
    #: As people use it (preferred names first); "erased" once erased.
    name: str | None


# -- a class dashboard ---------------------------------------------------------------------


class DashboardClass(Answer):
    sourcedId: str
    title: str
    classCode: str | None
    course: str
    school: str
    subjectCodes: list[str]
    grades: list[str]
    terms: list[str]


class TermFilter(Answer):
    sourcedId: str
    title: str
    startDate: IsoDate
    endDate: IsoDate


class DashboardFilters(Answer):
    term: TermFilter | None
    subject: str | None


class DashboardPage(Answer):
    limit: int
    offset: int
    total: int = Field(description="Students in the class.")


class ObjectiveColumn(Answer):
    code: str
    subject: str
    titles: Titles
    assessed: bool = Field(description="Whether anyone in the class has been assessed on it.")


class Distribution(Answer):
    """Population statistics of a line item's values in the class (None when none)."""

    count: int
    mean: float | None
    median: float | None
    spread: float | None = Field(description="The population standard deviation.")
    min: float | None
    max: float | None


class DashboardLineItem(Answer):
    sourcedId: str
    title: str
    category: str
    assignDate: IsoDateTime
    dueDate: IsoDateTime
    objectives: list[str]
    resultValueMin: float | None
    resultValueMax: float | None
    results: int
    scoreStatuses: dict[str, int]
    scores: Distribution
    grades: Distribution


class AttainmentCell(Answer):
    level: int
    assessedAt: IsoDate
    evidence: list[str]


class ResultCell(Answer):
    sourcedId: str
    score: float | None
    grade: str | None
    scoreStatus: str
    assessedAt: IsoDate
    late: bool


class LevelPoint(Answer):
    date: IsoDate
    objective: str
    level: int


class GradePoint(Answer):
    date: IsoDate
    grade: int
    lineItem: str | None


class Trend(Answer):
    attainments: list[LevelPoint]
    grades: list[GradePoint]


class DashboardStudent(Answer):
    sourcedId: str
    name: str | None
    attainments: dict[str, AttainmentCell] = Field(description="By objective code.")
    results: dict[str, ResultCell] = Field(description="By line item sourcedId.")
    trend: Trend


class LateLineItem(Answer):
    sourcedId: str
    title: str
    dueDate: IsoDateTime
    assessedAt: IsoDate


class LateWork(Answer):
    student: str
    name: str | None
    lineItems: list[LateLineItem]


class MissingLineItem(Answer):
    sourcedId: str
    title: str
    dueDate: IsoDateTime
    reason: str = Field(description='"no result" or "not submitted".')


class MissingWork(Answer):
    student: str
    name: str | None
    lineItems: list[MissingLineItem]


class ClassDashboardAnswer(Answer):
    """One page of a class's dashboard."""

    class_: DashboardClass = Field(alias="class")
    filters: DashboardFilters
    page: DashboardPage
    objectives: list[ObjectiveColumn]
    unassessedObjectives: list[str]
    lineItems: list[DashboardLineItem]
    students: list[DashboardStudent]
    lateWork: list[LateWork]
    missingWork: list[MissingWork]


# -- a guardian's children, a child's view -------------------------------------------------


class ChildrenAnswer(Answer):
    """The caller's children under 18."""

    children: list[Person]


class CourseRef(Answer):
    sourcedId: str
    title: str | None


class ClassRef(Answer):
    sourcedId: str
    title: str | None


class ChildClass(Answer):
    sourcedId: str
    title: str
    course: CourseRef
    subjectCodes: list[str]
    teachers: list[Person]


class ResultLineItem(Answer):
    sourcedId: str
    title: str | None
    category: str | None
    dueDate: IsoDateTime | None
    resultValueMax: float | None = Field(
        default=None, description="The highest score of the line item, when it has one."
    )


class ObjectiveRef(Answer):
    code: str
    titles: Titles
    learnerTitles: LearnerTitles


class ChildResult(Answer):
    sourcedId: str
    class_: ClassRef = Field(alias="class")
    lineItem: ResultLineItem | None
    score: float | None
    grade: str | None
    scoreStatus: str
    late: bool
    assessedAt: IsoDate
    objectives: list[ObjectiveRef]
    assessor: Person
    comment: str | None = Field(description='The verbal assessment; "erased" once erased.')


class AttainedObjective(Answer):
    code: str
    subject: str
    titles: Titles
    learnerTitles: LearnerTitles


class Evidence(Answer):
    sourcedId: str
    title: str | None


class ChildAttainment(Answer):
    objective: AttainedObjective
    class_: ClassRef = Field(alias="class")
    level: int
    levelText: dict[str, str] = Field(description="The level in plain language, by language.")
    assessedAt: IsoDate
    evidence: list[Evidence]


class ChildConsent(Answer):
    consentId: str
    recipient: str
    purposes: list[str]
    categories: list[str]
    grantedBy: str
    grantorRelation: str
    grantedAt: IsoDateTime
    validUntil: IsoDate | None
    state: str = Field(description="granted, revoked or expired")
    revokedAt: IsoDateTime | None
    expiredOn: IsoDate | None


class ChildViewAnswer(Answer):
    """A child's classes, teachers, results with verbal feedback, attainments, consents."""

    student: Person
    classes: list[ChildClass]
    results: list[ChildResult]
    attainments: list[ChildAttainment]
    consents: list[ChildConsent]


# -- a roster record -----------------------------------------------------------------------


class RosterRecordAnswer(Answer):
    """A roster record as the read model holds it: the fields every record has, then its
    collection's own (OneRoster names, camelCase) with personal fields unsealed, or
    `"personal": "erased"` once erased."""

    model_config = ConfigDict(extra="allow")

    sourcedId: str
    status: str
    dateLastModified: datetime


# -- a person's export ---------------------------------------------------------------------


class ExportedEvent(Answer):
    type: str = Field(description="The event type, e.g. fi.digione.roster.user.registered.v1")
    occurredAt: IsoDateTime
    position: int | None = Field(description="Its store position, once the index applied it.")
    fields: dict[str, Any] = Field(
        description="Named as in its Avro schema; sealed ones opened "
        '("erased" where erasure destroyed the key).'
    )


class ExportedAggregate(Answer):
    kind: str
    id: str
    events: list[ExportedEvent]


class DisclosureAnswer(Answer):
    """Who received which category of the person's data on a day, and on what basis."""

    recipient: str
    recipientRole: str
    category: str
    basis: str
    day: IsoDate
    firstAt: IsoDateTime
    lastAt: IsoDateTime
    count: int


class SubjectExportAnswer(Answer):
    """Everything held about a person (GDPR art. 15), with the disclosures recorded."""

    subject: str
    tenant: str
    generatedAt: IsoDateTime
    storePosition: int
    user: ExportedAggregate | None
    demographics: ExportedAggregate | None
    enrollments: list[ExportedAggregate]
    results: list[ExportedAggregate]
    attainments: list[ExportedAggregate]
    consents: list[ExportedAggregate]
    erasures: list[ExportedAggregate]
    disclosures: list[DisclosureAnswer]


# -- an erasure receipt --------------------------------------------------------------------


class ShreddedClass(Answer):
    retentionClass: str
    shreddedAt: IsoDateTime


class KeptClass(Answer):
    retentionClass: str
    until: IsoDate | None
    permanent: bool
    ground: str


class ProjectionConfirmation(Answer):
    projection: str
    confirmedAt: IsoDateTime | None


class ErasureReceiptAnswer(Answer):
    """What was shredded when, what is kept until when and why, and when each projection
    blanked what it derived from the subject."""

    erasureId: str
    subject: str
    basis: str | None
    reason: str | None = Field(description="Why; null once the reason itself was erased.")
    requestedBy: str
    requestedAt: list[IsoDateTime]
    shredded: list[ShreddedClass]
    kept: list[KeptClass]
    projections: list[ProjectionConfirmation]
    allProjectionsConfirmedAt: IsoDateTime | None
