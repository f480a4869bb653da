"""The OneRoster 1.2 rostering service: all 41 read operations of the official OpenAPI
file under /ims/oneroster/rostering/v1p2, for service clients with an agreement.

Routes are declared from one table (path, operation, entity, what it selects, scopes);
every one reads through RosteringReads (projections/reads/oneroster_rostering.py), which
limits each query by the caller's tenant and agreement before the caller's filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.sql.elements import ColumnElement

from api.bootstrap import Container
from api.deps import ContainerDep, MinPosition, wait_until_fresh
from api.oneroster.agreements import AgreementTerms
from api.oneroster.status_info import OneRosterError
from api.request_threads import in_request_thread
from api.tokens import TokenError
from domain.agreement_commands import SCOPE_PREFIX
from domain.commands import Actor
from projections.reads.oneroster_fields import InvalidFilterFieldError, InvalidSortFieldError
from projections.reads.oneroster_rostering import (
    CORE,
    DEMOGRAPHICS,
    FULL,
    ClientView,
    InvalidSelectionFieldError,
    RosteringReads,
    RosterQuery,
    Selection,
)
from projections.roster import RosterTables

__all__ = ["BASE_PATH", "OPERATIONS", "bearer", "router", "service_caller"]

BASE_PATH = "/ims/oneroster/rostering/v1p2"
router = APIRouter(prefix=BASE_PATH, tags=["OneRoster 1.2 rostering"])
bearer = HTTPBearer(auto_error=False, description="A token from POST /oauth/token.")

# -- the caller ----------------------------------------------------------------------------


async def get_client(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ClientView:
    """The service client calling, with its agreement as recorded now (an ended agreement
    stops its tokens at once)."""
    return (await service_caller(container, credentials))[0]


async def service_caller(
    container: Container, credentials: HTTPAuthorizationCredentials | None
) -> tuple[ClientView, Actor]:
    """The service client calling and the actor its token names (the gradebook's writes
    run as that actor); TokenError when there is none or its agreement has ended.

    On the event loop: the token is verified as every route's is (the look at the announced
    changes shared with the requests verified at the same time), and the agreement is the
    one held in memory (api/oneroster/agreements.py), read on the thread pool only when
    none is held: after an agreement changed, or for a client not seen yet.
    """
    if credentials is None:
        raise TokenError("no bearer token: get one from POST /oauth/token")
    actor = await container.tokens.verify_async(credentials.credentials)
    if actor.role != "service":
        raise TokenError("OneRoster is served to service clients: get a token from /oauth/token")
    terms = None
    if container.tenants.opened(actor.tenant) is not None:
        terms = container.agreements.held(actor.tenant, actor.subject)
    if terms is None:
        terms = await in_request_thread(_read_terms, container, actor)
    if terms is None:
        raise TokenError("the client's agreement has ended or does not exist")
    granted = {s.removeprefix(SCOPE_PREFIX) for s in actor.scopes & terms.scopes}
    view = ClientView(
        tenant=actor.tenant,
        service=terms.service,
        role=actor.role,
        scopes=frozenset(granted),
        categories=terms.categories,
        basis=terms.basis,
        schools=terms.schools,
        purpose=terms.purpose,
    )
    return view, actor


def _read_terms(container: Container, actor: Actor) -> AgreementTerms | None:
    return container.agreements.terms(container.tenants.get(actor.tenant), actor.subject)


ClientDep = Annotated[ClientView, Depends(get_client)]


def _reads(container: Container) -> RosteringReads:
    return RosteringReads(
        # The read engine: no ping per checkout; a read that meets a dropped connection
        # runs once more (projections/reads/access.py `retried_once`).
        engine=container.read_engine,
        projection=container.projections.roster,
        disclosures=container.disclosures,
        clock=container.clock,
        sealers=lambda tenant: container.tenants.get(tenant).sealer,
        users_with=lambda tenant, field, value: container.tenants.get(tenant).users_with(
            field, value
        ),
        cursors=container.page_cursors,
    )


# -- what each operation selects -----------------------------------------------------------

Where = Callable[[RosterTables], Iterable[ColumnElement[bool]]]


def _org_type(kind: str) -> Where:
    return lambda t: [t.orgs.c.type == kind]


def _session_type(kind: str) -> Where:
    return lambda t: [t.academic_sessions.c.type == kind]


def _has_role(role: str, org: str | None = None) -> Where:
    def where(t: RosterTables) -> list[ColumnElement[bool]]:
        ur, u = t.user_roles, t.users
        conditions = [
            ur.c.tenant == u.c.tenant,
            ur.c.user_sourced_id == u.c.sourced_id,
            ur.c.role == role,
        ]
        if org is None:
            return [sa.exists().where(*conditions)]
        en = t.enrollments
        # IN (a list read once), not an OR of correlated EXISTS (each row would scan them).
        user = sa.tuple_(u.c.tenant, u.c.sourced_id)
        return [
            sa.or_(
                user.in_(
                    sa.select(ur.c.tenant, ur.c.user_sourced_id).where(
                        ur.c.role == role, ur.c.org == org
                    )
                ),
                user.in_(
                    sa.select(en.c.tenant, en.c.user_sourced_id).where(
                        en.c.school == org, en.c.role == role
                    )
                ),
            )
        ]

    return where


def _enrolled_in(class_id: str, role: str) -> Where:
    def where(t: RosterTables) -> list[ColumnElement[bool]]:
        en, u = t.enrollments, t.users
        return [
            sa.exists().where(
                en.c.tenant == u.c.tenant,
                en.c.user_sourced_id == u.c.sourced_id,
                en.c.class_sourced_id == class_id,
                en.c.role == role,
            )
        ]

    return where


def _classes_of_user(user_id: str) -> Where:
    def where(t: RosterTables) -> list[ColumnElement[bool]]:
        en, c = t.enrollments, t.classes
        return [
            sa.exists().where(
                en.c.tenant == c.c.tenant,
                en.c.class_sourced_id == c.c.sourced_id,
                en.c.user_sourced_id == user_id,
            )
        ]

    return where


def _class_in_school(school: str) -> Where:
    return lambda t: [t.classes.c.school == school]


def _terms_of_school(school: str) -> Where:
    def where(t: RosterTables) -> list[ColumnElement[bool]]:
        s, ct, c = t.academic_sessions, t.class_terms, t.classes
        return [
            s.c.type == "term",
            sa.exists().where(
                ct.c.tenant == s.c.tenant,
                ct.c.term == s.c.sourced_id,
                c.c.tenant == ct.c.tenant,
                c.c.sourced_id == ct.c.class_sourced_id,
                c.c.school == school,
            ),
        ]

    return where


def _courses_of_school(school: str) -> Where:
    def where(t: RosterTables) -> list[ColumnElement[bool]]:
        co, c = t.courses, t.classes
        return [
            sa.or_(
                co.c.org == school,
                sa.exists().where(
                    c.c.tenant == co.c.tenant, c.c.course == co.c.sourced_id, c.c.school == school
                ),
            )
        ]

    return where


def _none(_t: RosterTables) -> list[ColumnElement[bool]]:
    return []


_SCHOOL = _org_type("school")
_STUDENT = _has_role("student")
_TEACHER = _has_role("teacher")


@dataclass(frozen=True)
class Operation:
    """One operation of the official OpenAPI file and how it is served."""

    path: str
    operation_id: str
    entity: str
    #: Builds the selection from the path parameters.
    select: Callable[[dict[str, str]], Selection]
    scopes: frozenset[str]
    single: bool = False


_READ = frozenset({FULL, CORE})
_NESTED = frozenset({FULL})
_DEMO = frozenset({DEMOGRAPHICS})


def _plain(entity: str, where: Where = _none) -> Callable[[dict[str, str]], Selection]:
    return lambda _p: Selection(entity, where)


def _collection_ops() -> list[Operation]:
    plain = [
        ("/academicSessions", "AcademicSessions", "academicSession", _none, _READ),
        ("/classes", "Classes", "class", _none, _READ),
        ("/courses", "Courses", "course", _none, _READ),
        ("/demographics", "Demographics", "demographics", _none, _DEMO),
        ("/enrollments", "Enrollments", "enrollment", _none, _READ),
        ("/gradingPeriods", "GradingPeriods", "academicSession", _session_type("gradingPeriod"),
         _READ),
        ("/orgs", "Orgs", "org", _none, _READ),
        ("/schools", "Schools", "org", _SCHOOL, _READ),
        ("/students", "Students", "user", _STUDENT, _READ),
        ("/teachers", "Teachers", "user", _TEACHER, _READ),
        ("/terms", "Terms", "academicSession", _session_type("term"), _READ),
        ("/users", "Users", "user", _none, _READ),
    ]  # fmt: skip
    ops = []
    for path, name, entity, where, scopes in plain:
        single_name = {"Demographics": "Demographics"}.get(
            name, name.removesuffix("es") if name.endswith("sses") else name.removesuffix("s")
        )
        ops.append(Operation(path, f"getAll{name}", entity, _plain(entity, where), scopes))
        ops.append(
            Operation(
                f"{path}/{{sourcedId}}",
                f"get{single_name}",
                entity,
                _plain(entity, where),
                scopes,
                single=True,
            )
        )
    return ops


def _sel(
    entity: str, where: Callable[[dict[str, str]], Where], *parents: tuple[str, str, Where]
) -> Callable[[dict[str, str]], Selection]:
    def select(p: dict[str, str]) -> Selection:
        return Selection(
            entity,
            where(p),
            tuple((kind, p[name], parent_where) for kind, name, parent_where in parents),
        )

    return select


def _parent(kind: str, param: str, where: Where = _none) -> tuple[str, str, Where]:
    return (kind, param, where)


def _nested_ops() -> list[Operation]:
    school = _parent("org", "schoolSourcedId", _SCHOOL)

    rows: list[tuple[str, str, str, Callable[[dict[str, str]], Selection]]] = [
        ("/classes/{classSourcedId}/students", "getStudentsForClass", "user",
         _sel("user", lambda p: _enrolled_in(p["classSourcedId"], "student"),
              _parent("class", "classSourcedId"))),
        ("/classes/{classSourcedId}/teachers", "getTeachersForClass", "user",
         _sel("user", lambda p: _enrolled_in(p["classSourcedId"], "teacher"),
              _parent("class", "classSourcedId"))),
        ("/courses/{courseSourcedId}/classes", "getClassesForCourse", "class",
         _sel("class", lambda p: lambda t: [t.classes.c.course == p["courseSourcedId"]],
              _parent("course", "courseSourcedId"))),
        ("/schools/{schoolSourcedId}/classes", "getClassesForSchool", "class",
         _sel("class", lambda p: _class_in_school(p["schoolSourcedId"]), school)),
        ("/schools/{schoolSourcedId}/courses", "getCoursesForSchool", "course",
         _sel("course", lambda p: _courses_of_school(p["schoolSourcedId"]), school)),
        ("/schools/{schoolSourcedId}/enrollments", "getEnrollmentsForSchool", "enrollment",
         _sel("enrollment", lambda p: lambda t: [t.enrollments.c.school == p["schoolSourcedId"]],
              school)),
        ("/schools/{schoolSourcedId}/students", "getStudentsForSchool", "user",
         _sel("user", lambda p: _has_role("student", p["schoolSourcedId"]), school)),
        ("/schools/{schoolSourcedId}/teachers", "getTeachersForSchool", "user",
         _sel("user", lambda p: _has_role("teacher", p["schoolSourcedId"]), school)),
        ("/schools/{schoolSourcedId}/terms", "getTermsForSchool", "academicSession",
         _sel("academicSession", lambda p: _terms_of_school(p["schoolSourcedId"]), school)),
        ("/students/{studentSourcedId}/classes", "getClassesForStudent", "class",
         _sel("class", lambda p: _classes_of_user(p["studentSourcedId"]),
              _parent("user", "studentSourcedId", _STUDENT))),
        ("/teachers/{teacherSourcedId}/classes", "getClassesForTeacher", "class",
         _sel("class", lambda p: _classes_of_user(p["teacherSourcedId"]),
              _parent("user", "teacherSourcedId", _TEACHER))),
        ("/users/{userSourcedId}/classes", "getClassesForUser", "class",
         _sel("class", lambda p: _classes_of_user(p["userSourcedId"]),
              _parent("user", "userSourcedId"))),
        ("/terms/{termSourcedId}/classes", "getClassesForTerm", "class",
         _sel("class", lambda p: lambda t: [sa.exists().where(
             t.class_terms.c.tenant == t.classes.c.tenant,
             t.class_terms.c.class_sourced_id == t.classes.c.sourced_id,
             t.class_terms.c.term == p["termSourcedId"])],
              _parent("academicSession", "termSourcedId", _session_type("term")))),
        ("/terms/{termSourcedId}/gradingPeriods", "getGradingPeriodsForTerm", "academicSession",
         _sel("academicSession", lambda p: lambda t: [
             t.academic_sessions.c.type == "gradingPeriod",
             t.academic_sessions.c.parent == p["termSourcedId"]],
              _parent("academicSession", "termSourcedId", _session_type("term")))),
    ]  # fmt: skip
    in_school = [
        ("enrollments", "getEnrollmentsForClassInSchool", "enrollment",
         lambda p: lambda t: [t.enrollments.c.class_sourced_id == p["classSourcedId"],
                              t.enrollments.c.school == p["schoolSourcedId"]]),
        ("students", "getStudentsForClassInSchool", "user",
         lambda p: _enrolled_in(p["classSourcedId"], "student")),
        ("teachers", "getTeachersForClassInSchool", "user",
         lambda p: _enrolled_in(p["classSourcedId"], "teacher")),
    ]  # fmt: skip
    for tail, op_id, entity, where in in_school:
        rows.append(
            (
                f"/schools/{{schoolSourcedId}}/classes/{{classSourcedId}}/{tail}",
                op_id,
                entity,
                _class_of_school_sel(entity, where),
            )
        )
    return [Operation(path, op, entity, select, _NESTED) for path, op, entity, select in rows]


def _class_of_school_sel(
    entity: str, where: Callable[[dict[str, str]], Where]
) -> Callable[[dict[str, str]], Selection]:
    def select(p: dict[str, str]) -> Selection:
        school_id = p["schoolSourcedId"]
        return Selection(
            entity,
            where(p),
            (
                ("org", school_id, _SCHOOL),
                ("class", p["classSourcedId"], _class_in_school(school_id)),
            ),
        )

    return select


#: Every rostering operation of the official OpenAPI file.
OPERATIONS: tuple[Operation, ...] = (*_collection_ops(), *_nested_ops())

_ENVELOPE = {
    "org": ("org", "orgs"),
    "academicSession": ("academicSession", "academicSessions"),
    "course": ("course", "courses"),
    "class": ("class", "classes"),
    "user": ("user", "users"),
    "enrollment": ("enrollment", "enrollments"),
    "demographics": ("demographics", "demographics"),
}

# -- query parameters ----------------------------------------------------------------------


def _integer(request: Request, name: str, default: int, minimum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or value > 2**31 - 1:
        raise OneRosterError(
            400, "invaliddata", f"{name} must be a whole number from {minimum}, not {raw!r}"
        )
    return value


def _query(request: Request) -> RosterQuery:
    order_by = request.query_params.get("orderBy", "asc")
    if order_by not in ("asc", "desc"):
        raise OneRosterError(400, "invaliddata", "orderBy must be asc or desc")
    fields = None
    if "fields" in request.query_params:
        fields = tuple(
            f.strip()
            for value in request.query_params.getlist("fields")
            for f in value.split(",")
            if f.strip()
        )
    return RosterQuery(
        limit=_integer(request, "limit", 100, 1),
        offset=_integer(request, "offset", 0, 0),
        sort=request.query_params.get("sort") or None,
        order_by=order_by,
        filter=request.query_params.get("filter"),
        fields=fields,
    )


def _links(request: Request, *, limit: int, offset: int, total: int) -> str:
    """RFC 8288 Link header: first, prev, next and last pages of the same query."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]
    # The URL and the other parameters encoded once for the (up to) four links, where each
    # link parsed the request's URL and encoded them again: 7.5% of the event loop's time
    # serving a OneRoster page of users. `limit` and `offset` are digits: nothing to quote.
    others = urlencode(params)
    base = f"{request.url.replace(query='')}?{others}{'&' if others else ''}"

    def url(at: int) -> str:
        return f"<{base}limit={limit}&offset={at}>"

    last = max(0, ((total - 1) // limit) * limit) if total else 0
    links = [f'{url(0)}; rel="first"', f'{url(last)}; rel="last"']
    if offset > 0:
        links.append(f'{url(max(0, offset - limit))}; rel="prev"')
    if offset + limit < total:
        links.append(f'{url(offset + limit)}; rel="next"')
    return ", ".join(links)


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + BASE_PATH


def _translated(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except InvalidFilterFieldError as error:
        raise OneRosterError(400, "invalid_filter_field", str(error)) from None
    except InvalidSortFieldError as error:
        raise OneRosterError(400, "invalid_sort_field", str(error)) from None
    except InvalidSelectionFieldError as error:
        raise OneRosterError(400, "invalid_selection_field", str(error)) from None


def _add_route(op: Operation) -> None:
    single_key, many_key = _ENVELOPE[op.entity]

    async def serve(
        request: Request,
        container: ContainerDep,
        client: ClientDep,
        min_position: MinPosition = None,
    ) -> Response:
        await wait_until_fresh(
            container,
            tenant=client.tenant,
            projection=lambda p: p.roster,
            min_position=min_position,
        )
        query = _query(request)
        reads = _reads(container)
        params = dict(request.path_params)
        # Keyed by the operation and its path parameters, which are all its selection holds.
        selection = replace(op.select(params), key=(op.operation_id, *sorted(params.items())))
        base = _base_url(request)
        if op.single:
            record = await in_request_thread(
                _translated,
                lambda: reads.record(
                    client,
                    selection,
                    params["sourcedId"],
                    fields=query.fields,
                    scopes=op.scopes,
                    base_url=base,
                ),
            )
            return _json({single_key: record})
        page = await in_request_thread(
            _translated,
            lambda: reads.page(client, selection, query, scopes=op.scopes, base_url=base),
        )
        headers = {
            "X-Total-Count": str(page.total),
            "Link": _links(request, limit=page.limit, offset=page.offset, total=page.total),
        }
        return _json({many_key: page.records}, headers)

    router.add_api_route(
        op.path,
        serve,
        methods=["GET"],
        name=op.operation_id,
        operation_id=op.operation_id,
        summary=f"OneRoster 1.2 {op.operation_id} (scopes: {', '.join(sorted(op.scopes))})",
    )


for _op in OPERATIONS:
    _add_route(_op)
