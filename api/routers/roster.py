"""Roster commands: PUT and DELETE of OneRoster 1.2 records, one route per collection."""

# No `from __future__ import annotations` here: routes are built in a loop around body
# models created at run time, and FastAPI must see those types, not their names.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, create_model

from api.deps import (
    ActorDep,
    CommandRoute,
    IdempotencyKey,
    Permit,
    SourcedIdPath,
    TenantAppDep,
)
from api.idempotency import run_idempotently
from api.models import (
    COMMAND_ERRORS,
    USER_PERSONAL_FIELDS,
    AcademicSessionIn,
    ClassIn,
    CourseIn,
    DemographicsIn,
    EnrollmentIn,
    OrgIn,
    Problem,
    Record,
    RecordWritten,
    Ref,
    UserIn,
    record_written,
)
from api.problems import ProblemError
from domain.application import TenantApplication
from domain.command_roles import require_roster_writer
from domain.commands import (
    Outcome,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutDemographics,
    PutEnrollment,
    PutOrg,
    PutUser,
)
from domain.roster import ClassDetails, Role

router = APIRouter(prefix="/api/v1/roster", tags=["roster commands"], route_class=CommandRoute)
#: Checked before the body is read: the role alone decides who writes rosters.
_ROSTER_WRITER = [Depends(Permit(require_roster_writer))]


def _ref(ref: Ref | None) -> str | None:
    return None if ref is None else ref.sourcedId


def _org(sid: str, o: OrgIn) -> PutOrg:
    return PutOrg(sid, o.status, o.name, o.type, o.identifier, _ref(o.parent))


def _session(sid: str, s: AcademicSessionIn) -> PutAcademicSession:
    return PutAcademicSession(
        sid, s.status, s.title, s.type, s.startDate, s.endDate, _ref(s.parent), s.schoolYear
    )


def _course(sid: str, c: CourseIn) -> PutCourse:
    return PutCourse(
        sid,
        c.status,
        c.title,
        c.courseCode,
        _ref(c.schoolYear),
        _ref(c.org),
        c.grades,
        c.subjects,
        c.subjectCodes,
    )


def _class(sid: str, c: ClassIn) -> PutClass:
    details = ClassDetails(
        c.title,
        c.classCode,
        c.classType,
        c.location,
        c.grades,
        c.subjects,
        c.subjectCodes,
        c.periods,
    )
    return PutClass(
        sid,
        c.status,
        details,
        c.course.sourcedId,
        c.school.sourcedId,
        [t.sourcedId for t in c.terms],
    )


def _user(sid: str, u: UserIn) -> PutUser:
    dumped = u.model_dump(mode="json", include=set(USER_PERSONAL_FIELDS), exclude_none=True)
    if not dumped.get("userIds"):
        dumped.pop("userIds", None)
    roles = [Role(r.roleType, r.role, r.org.sourcedId, r.beginDate, r.endDate) for r in u.roles]
    return PutUser(
        sid,
        u.status,
        u.enabledUser,
        roles,
        _ref(u.primaryOrg),
        u.grades,
        [a.sourcedId for a in u.agents],
        dumped,
    )


def _enrollment(sid: str, e: EnrollmentIn) -> PutEnrollment:
    return PutEnrollment(
        sid,
        e.status,
        e.user.sourcedId,
        e.class_.sourcedId,
        e.school.sourcedId,
        e.role,
        e.primary,
        e.beginDate,
        e.endDate,
    )


def _demographics(sid: str, d: DemographicsIn) -> PutDemographics:
    personal = d.model_dump(
        mode="json", exclude={"sourcedId", "status", "dateLastModified"}, exclude_none=True
    )
    return PutDemographics(sid, d.status, personal)


# collection → (envelope key, body model, converter, application method)
ROSTER_BODIES: dict[str, tuple[str, type[Record], Callable[..., Any], Callable[..., Outcome]]] = {
    "orgs": ("org", OrgIn, _org, TenantApplication.put_org),
    "academicSessions": (
        "academicSession",
        AcademicSessionIn,
        _session,
        TenantApplication.put_academic_session,
    ),
    "courses": ("course", CourseIn, _course, TenantApplication.put_course),
    "classes": ("class", ClassIn, _class, TenantApplication.put_class),
    "users": ("user", UserIn, _user, TenantApplication.put_user),
    "enrollments": ("enrollment", EnrollmentIn, _enrollment, TenantApplication.put_enrollment),
    "demographics": (
        "demographics",
        DemographicsIn,
        _demographics,
        TenantApplication.put_demographics,
    ),
}


def _add_put_route(collection: str) -> None:
    envelope, model, convert, method = ROSTER_BODIES[collection]
    # The envelope is the OneRoster single-object shape: {"user": {...}}.
    fields: dict[str, Any] = {envelope: (model, ...)}
    envelope_model: type[BaseModel] = create_model(
        f"{model.__name__.removesuffix('In')}Envelope", **fields
    )

    def put_record(
        request: Request,
        sourcedId: SourcedIdPath,
        body: Annotated[envelope_model, Body()],  # type: ignore[valid-type]
        actor: ActorDep,
        app: TenantAppDep,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        record = getattr(body, envelope)
        if record.sourcedId is not None and record.sourcedId != sourcedId:
            raise ProblemError(
                422,
                "sourced-id-mismatch",
                "sourcedId mismatch",
                f"the body's sourcedId {record.sourcedId!r} differs from the path's {sourcedId!r}",
                field=f"{envelope}.sourcedId",
            )
        command = convert(sourcedId, record)
        return run_idempotently(
            app=app,
            actor=actor,
            key=idempotency_key,
            request_fingerprint=f"PUT {request.url.path} {record.model_dump_json()}",
            command=lambda _seed: method(app, actor, command),
            answer=record_written,
        )

    router.add_api_route(
        f"/{collection}/{{sourcedId}}",
        put_record,
        methods=["PUT"],
        dependencies=_ROSTER_WRITER,
        response_model=RecordWritten,
        responses={201: {"model": RecordWritten, "description": "Created"}, **COMMAND_ERRORS},
        summary=f"Create or update a {envelope} (OneRoster 1.2 {envelope} object)",
        name=f"put_{collection}",
    )

    def delete_record(sourcedId: SourcedIdPath, actor: ActorDep, app: TenantAppDep) -> JSONResponse:
        _created, body = record_written(app.mark_for_deletion(actor, collection, sourcedId))
        # Marking for deletion changes a record that exists: always 200.
        return JSONResponse(body, status_code=200)

    router.add_api_route(
        f"/{collection}/{{sourcedId}}",
        delete_record,
        methods=["DELETE"],
        dependencies=_ROSTER_WRITER,
        response_model=RecordWritten,
        responses={404: {"model": Problem, "description": "No such record"}, **COMMAND_ERRORS},
        summary=f"Mark a {envelope} tobedeleted (OneRoster never hard-deletes)",
        name=f"delete_{collection}",
    )


for _collection in ROSTER_BODIES:
    _add_put_route(_collection)
