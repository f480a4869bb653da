"""The OneRoster 1.2 gradebook service under /ims/oneroster/gradebook/v1p2: the 27 line
item, result, category and score scale operations of the official OpenAPI file (the
Assessment Results profile's eight are out of scope).

Reads go through GradebookReads (projections/reads/oneroster_gradebook.py) with the
rostering slice's query machinery. Writes become assessment events through the native
API's domain commands (domain/gradebook_commands.py), run as the service's actor: the
client is recorded as the assessor, the class's teachers stay as they are, and the domain
checks the agreement's scopes and schools and refuses kept-record categories.

Read-your-writes: after a client's write, its reads wait (as `min_position` would) until
the read model holds the client's last position. The positions are kept per client in
this process's memory: behind a load balancer with several processes a client sees its
own writes at once only on the process that took them (it may still pass min_position).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from api.bootstrap import Container
from api.deps import ContainerDep, MinPosition, wait_until_fresh
from api.idempotency import run_idempotently
from api.oneroster.rostering import BASE_PATH as ROSTERING_PATH
from api.oneroster.rostering import (
    _json,
    _links,
    _query,
    _translated,
    bearer,
    service_caller,
)
from api.oneroster.status_info import OneRosterError
from api.request_threads import in_request_thread
from domain.application import TenantApplication
from domain.assessment import FINNISH_GRADES
from domain.commands import (
    Actor,
    Outcome,
    PutCategory,
    PutLineItem,
    PutScoreScale,
    RecordAssessment,
)
from projections.reads.oneroster_gradebook import (
    GRADEBOOK_READ,
    GradebookReads,
    GradebookSelection,
)
from projections.reads.oneroster_rostering import ClientView

__all__ = ["BASE_PATH", "READ_OPERATIONS", "router"]

BASE_PATH = "/ims/oneroster/gradebook/v1p2"
router = APIRouter(prefix=BASE_PATH, tags=["OneRoster 1.2 gradebook"])

_FULL = frozenset({"gradebook.readonly"})
_CORE = GRADEBOOK_READ

# -- the caller and its last write ---------------------------------------------------------


class _Caller:
    def __init__(self, view: ClientView, actor: Actor) -> None:
        self.view, self.actor = view, actor


async def _get_caller(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> _Caller:
    return _Caller(*await service_caller(container, credentials))


CallerDep = Annotated[_Caller, Depends(_get_caller)]

_last_writes: dict[tuple[str, str], int] = {}
_last_writes_guard = threading.Lock()


def _wrote(actor: Actor, position: int) -> None:
    """Remembers the client's last written position (read-your-writes, this process)."""
    with _last_writes_guard:
        key = (actor.tenant, actor.subject)
        _last_writes[key] = max(_last_writes.get(key, 0), position)


def _last_write(actor: Actor) -> int | None:
    with _last_writes_guard:
        return _last_writes.get((actor.tenant, actor.subject))


async def _fresh(container: Container, caller: _Caller, min_position: int | None) -> None:
    own = _last_write(caller.actor)
    wanted = max(p for p in (min_position, own, 0) if p is not None)
    await wait_until_fresh(
        container,
        tenant=caller.actor.tenant,
        projection=lambda p: p.roster,
        min_position=wanted or None,
    )


def _reads(container: Container, request: Request) -> GradebookReads:
    return GradebookReads(
        engine=container.engine,
        projection=container.projections.roster,
        disclosures=container.disclosures,
        clock=container.clock,
        roster_url=str(request.base_url).rstrip("/") + ROSTERING_PATH,
        sealers=lambda tenant: container.tenants.get(tenant).sealer,
        cursors=container.page_cursors,
    )


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + BASE_PATH


# -- reads ---------------------------------------------------------------------------------

_ENVELOPE = {
    "lineItem": ("lineItem", "lineItems"),
    "result": ("result", "results"),
    "category": ("category", "categories"),
    "scoreScale": ("scoreScale", "scoreScales"),
}
Select = Callable[[dict[str, str]], GradebookSelection]


def _all(entity: str) -> Select:
    return lambda _p: GradebookSelection(entity)


def _of_class(entity: str) -> Select:
    return lambda p: GradebookSelection(
        entity,
        lambda s: [s.c.class_sourced_id == p["classSourcedId"]],
        parent_class=p["classSourcedId"],
    )


def _results_of(column: str, param: str) -> Select:
    return lambda p: GradebookSelection(
        "result",
        lambda s: [s.c.class_sourced_id == p["classSourcedId"], s.c[column] == p[param]],
        parent_class=p["classSourcedId"],
    )


def _scales_of_school(p: dict[str, str]) -> GradebookSelection:
    return GradebookSelection(
        "scoreScale",
        lambda s: [s.c.school == p["schoolSourcedId"]],
        parent_school=p["schoolSourcedId"],
    )


#: (path, operationId, entity, selection, scopes) of the collections; the single reads are
#: (path, operationId, entity, scopes).
READ_OPERATIONS: tuple[tuple[str, str, str, Select, frozenset[str]], ...] = (
    ("/categories", "getAllCategories", "category", _all("category"), _CORE),
    ("/lineItems", "getAllLineItems", "lineItem", _all("lineItem"), _CORE),
    ("/results", "getAllResults", "result", _all("result"), _CORE),
    ("/scoreScales", "getAllScoreScales", "scoreScale", _all("scoreScale"), _CORE),
    ("/classes/{classSourcedId}/categories", "getCategoriesForClass", "category",
     _of_class("category"), _FULL),
    ("/classes/{classSourcedId}/lineItems", "getLineItemsForClass", "lineItem",
     _of_class("lineItem"), _FULL),
    ("/classes/{classSourcedId}/results", "getResultsForClass", "result",
     _of_class("result"), _FULL),
    ("/classes/{classSourcedId}/scoreScales", "getScoreScalesForClass", "scoreScale",
     _of_class("scoreScale"), _FULL),
    ("/classes/{classSourcedId}/lineItems/{lineItemSourcedId}/results",
     "getResultsForLineItemForClass", "result", _results_of("line_item", "lineItemSourcedId"),
     _FULL),
    ("/classes/{classSourcedId}/students/{studentSourcedId}/results",
     "getResultsForStudentForClass", "result", _results_of("student", "studentSourcedId"),
     _FULL),
    ("/schools/{schoolSourcedId}/scoreScales", "getScoreScalesForSchool", "scoreScale",
     _scales_of_school, _FULL),
)  # fmt: skip
SINGLE_READS = (
    ("/categories/{sourcedId}", "getCategory", "category"),
    ("/lineItems/{sourcedId}", "getLineItem", "lineItem"),
    ("/results/{sourcedId}", "getResult", "result"),
    ("/scoreScales/{sourcedId}", "getScoreScale", "scoreScale"),
)


def _add_collection(path: str, op_id: str, entity: str, select: Select, scopes: frozenset[str]) -> None:  # fmt: skip
    many = _ENVELOPE[entity][1]

    async def serve(
        request: Request, container: ContainerDep, caller: CallerDep, min_position: MinPosition = None
    ) -> Response:  # fmt: skip
        await _fresh(container, caller, min_position)
        query = _query(request)
        reads = _reads(container, request)
        selection = select(dict(request.path_params))
        base = _base_url(request)
        page = await in_request_thread(
            _translated,
            lambda: reads.page(caller.view, selection, query, scopes=scopes, base_url=base),
        )
        headers = {
            "X-Total-Count": str(page.total),
            "Link": _links(request, limit=page.limit, offset=page.offset, total=page.total),
        }
        return _json({many: page.records}, headers)

    router.add_api_route(path, serve, methods=["GET"], name=op_id, operation_id=op_id)


def _add_single(path: str, op_id: str, entity: str) -> None:
    single = _ENVELOPE[entity][0]

    async def serve(
        request: Request, container: ContainerDep, caller: CallerDep, min_position: MinPosition = None
    ) -> Response:  # fmt: skip
        await _fresh(container, caller, min_position)
        query = _query(request)
        reads = _reads(container, request)
        sourced_id = request.path_params["sourcedId"]
        base = _base_url(request)
        record = await in_request_thread(
            _translated,
            lambda: reads.record(
                caller.view, entity, sourced_id, fields=query.fields, scopes=_CORE, base_url=base
            ),
        )
        return _json({single: record})

    router.add_api_route(path, serve, methods=["GET"], name=op_id, operation_id=op_id)


for _path, _op_id, _entity, _select, _scopes in READ_OPERATIONS:
    _add_collection(_path, _op_id, _entity, _select, _scopes)
for _path, _op_id, _entity in SINGLE_READS:
    _add_single(_path, _op_id, _entity)

# -- lenient reading of bodies -------------------------------------------------------------


def _invalid(description: str) -> OneRosterError:
    return OneRosterError(422, "invaliddata", description)


async def _body(request: Request, envelope: str) -> Any:
    try:
        body = await request.json()
    except ValueError:
        raise OneRosterError(400, "invaliddata", "the body is not JSON") from None
    if not isinstance(body, dict) or envelope not in body:
        raise _invalid(f"the body must be a JSON object with {envelope!r}")
    return body[envelope]


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{name} must be an object")
    return value


def _ref(record: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A reference: a GUIDRef, or leniently an object with only `sourcedId`, or a string."""
    value = record.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required: send {{'sourcedId': …}}")
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("sourcedId"), str) and value["sourcedId"]:
        return str(value["sourcedId"])
    raise _invalid(f"{name} must be a reference with a sourcedId")


def _text(record: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _invalid(f"{name} is required and must be text")
    return value


def _moment(record: dict[str, Any], name: str) -> datetime:
    """A date-time; a plain date is read as its midnight (UTC)."""
    value = record.get(name)
    if not isinstance(value, str):
        raise _invalid(f"{name} is required: an ISO 8601 date-time or date")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"{name} {value!r} is not an ISO 8601 date-time or date") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _day(record: dict[str, Any], name: str, default: date) -> date:
    """A date; a date-time is read as its date (clients send either)."""
    value = record.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _invalid(f"{name} must be an ISO 8601 date or date-time")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise _invalid(f"{name} {value!r} is not an ISO 8601 date or date-time") from None


def _number(record: dict[str, Any], name: str) -> Decimal | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid(f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _invalid(f"{name} {value!r} is not a number") from None
    if not number.is_finite():
        raise _invalid(f"{name} must be a finite number")
    return number


def _flag(record: dict[str, Any], name: str) -> bool:
    value = record.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _objectives(record: dict[str, Any]) -> list[str]:
    sets = record.get("learningObjectiveSet") or []
    if not isinstance(sets, list):
        raise _invalid("learningObjectiveSet must be a list")
    codes: list[str] = []
    for entry in sets:
        entry = _object(entry, "learningObjectiveSet[]")
        ids = entry.get("learningObjectiveIds") or []
        if "learningObjectiveId" in entry:  # a result's learningObjectiveResults
            ids = [entry["learningObjectiveId"]]
        results = entry.get("learningObjectiveResults") or []
        ids = [*ids, *(r.get("learningObjectiveId") for r in results if isinstance(r, dict))]
        codes.extend(str(i) for i in ids if i)
    return codes


def _line_item_command(sourced_id: str, item: dict[str, Any], school_class: str | None = None) -> PutLineItem:  # fmt: skip
    _same_id(sourced_id, item)
    status = _status_of(item)
    found_class = school_class or _ref(item, "class")
    assert found_class is not None
    return PutLineItem(
        sourced_id=sourced_id,
        status=status,
        title=str(_text(item, "title")),
        description=_text(item, "description", required=False),
        school_class=found_class,
        category=str(_ref(item, "category")),
        assign_date=_moment(item, "assignDate"),
        due_date=_moment(item, "dueDate"),
        grading_period=_ref(item, "gradingPeriod", required=False),
        objectives=_objectives(item),
        result_min=_number(item, "resultValueMin"),
        result_max=_number(item, "resultValueMax"),
    )


def _result_command(
    app: TenantApplication, sourced_id: str | None, result: dict[str, Any], today: date,
    *, line_item: str | None = None, school_class: str | None = None,
) -> RecordAssessment:  # fmt: skip
    if sourced_id is not None and result.get("sourcedId") not in (None, sourced_id):
        raise _invalid(f"the body's sourcedId {result['sourcedId']!r} differs from {sourced_id!r}")
    item = line_item or _ref(result, "lineItem")
    assert item is not None
    class_id = school_class or _ref(result, "class", required=False) or app.class_of_line_item(item)
    if class_id is None:
        raise OneRosterError(422, "invaliddata", f"lineItem {item!r} is not a line item here")
    text_score = _text(result, "textScore", required=False)
    grade = text_score.strip().upper() if text_score and text_score.strip() else None
    if grade is not None and grade not in FINNISH_GRADES:
        raise _invalid(
            f"textScore {text_score!r} is not on a built-in scale: use 4–10 or S/H "
            "(or send a numeric score)"
        )
    return RecordAssessment(
        sourced_id=sourced_id if sourced_id is not None else _text(result, "sourcedId", required=False),
        student=str(_ref(result, "student")),
        school_class=class_id,
        line_item=item,
        score=_number(result, "score"),
        grade=grade,
        comment=_text(result, "comment", required=False) or None,
        objectives=_objectives(result),
        assessed_at=_day(result, "scoreDate", today),
        score_status=str(result.get("scoreStatus") or "fully graded"),
        late=_flag(result, "late"),
    )  # fmt: skip


# -- writes --------------------------------------------------------------------------------


def _app(container: Container, caller: _Caller) -> TenantApplication:
    return container.tenants.get(caller.actor.tenant)


def _answer(actor: Actor, status: int, outcome_position: int | None) -> Response:
    if outcome_position:
        _wrote(actor, outcome_position)
    return Response(status_code=status)


def _put(kind: str, build: Callable[[TenantApplication, str, dict[str, Any]], Callable[[Actor], Outcome]]) -> Any:  # fmt: skip
    async def put(
        request: Request, sourcedId: str, container: ContainerDep, caller: CallerDep
    ) -> Response:
        record = _object(await _body(request, kind), kind)
        app = _app(container, caller)
        run = build(app, sourcedId, record)
        key = request.headers.get("Idempotency-Key")

        def execute() -> Response:
            answered = run_idempotently(
                app=app,
                actor=caller.actor,
                key=key,
                request_fingerprint=f"PUT {request.url.path} {sorted(record.items())!r}",
                command=lambda _seed: run(caller.actor),
                answer=lambda o: (201 if o.created else 200, {"position": o.position}),
            )
            position = _position_of(answered.body)
            return _answer(caller.actor, answered.status_code, position)

        return await in_request_thread(execute)

    return put


def _position_of(body: bytes | memoryview) -> int | None:
    try:
        found = json.loads(bytes(body)).get("position")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, int) else None


def _line_item_put(app: TenantApplication, sourced_id: str, record: dict[str, Any]) -> Callable[[Actor], Outcome]:  # fmt: skip
    command = _line_item_command(sourced_id, record)
    return lambda actor: app.put_line_item(actor, command)


def _result_put(app: TenantApplication, sourced_id: str, record: dict[str, Any]) -> Callable[[Actor], Outcome]:  # fmt: skip
    command = _result_command(app, sourced_id, record, app.clock().date())
    return lambda actor: app.record_assessment(actor, command)


router.add_api_route("/lineItems/{sourcedId}", _put("lineItem", _line_item_put), methods=["PUT"], name="putLineItem", operation_id="putLineItem")  # fmt: skip
router.add_api_route("/results/{sourcedId}", _put("result", _result_put), methods=["PUT"], name="putResult", operation_id="putResult")  # fmt: skip


def _delete(kind: str, remove: Callable[[TenantApplication, Actor, str], Outcome]) -> Any:
    async def delete(sourcedId: str, container: ContainerDep, caller: CallerDep) -> Response:
        app = _app(container, caller)
        outcome = await in_request_thread(remove, app, caller.actor, sourcedId)
        return _answer(caller.actor, 204, outcome.position)

    return delete


router.add_api_route("/lineItems/{sourcedId}", _delete("lineItem", lambda app, actor, sid: app.delete_line_item(actor, sid)), methods=["DELETE"], name="deleteLineItem", operation_id="deleteLineItem", status_code=204)  # fmt: skip
router.add_api_route("/results/{sourcedId}", _delete("result", lambda app, actor, sid: app.delete_result(actor, sid)), methods=["DELETE"], name="deleteResult", operation_id="deleteResult", status_code=204)  # fmt: skip


def _status_of(record: dict[str, Any]) -> str:
    status = record.get("status") or "active"
    if status not in ("active", "tobedeleted"):
        raise _invalid("status must be active or tobedeleted")
    return str(status)


def _same_id(sourced_id: str, record: dict[str, Any]) -> None:
    if record.get("sourcedId") not in (None, sourced_id):
        raise _invalid(f"the body's sourcedId {record['sourcedId']!r} differs from {sourced_id!r}")


def _category_put(app: TenantApplication, sourced_id: str, record: dict[str, Any]) -> Callable[[Actor], Outcome]:  # fmt: skip
    _same_id(sourced_id, record)
    command = PutCategory(
        sourced_id=sourced_id,
        status=_status_of(record),
        title=str(_text(record, "title")),
        weight=_number(record, "weight"),
    )
    return lambda actor: app.put_category(actor, command)


def _scale_values(record: dict[str, Any]) -> list[tuple[str, str]]:
    values = record.get("scoreScaleValue")
    if not isinstance(values, list) or not values:
        raise _invalid("scoreScaleValue must be a non-empty list of {itemValueLHS, itemValueRHS}")
    pairs = []
    for value in values:
        entry = _object(value, "scoreScaleValue[]")
        pairs.append(
            (str(_text(entry, "itemValueLHS")), str(_text(entry, "itemValueRHS", required=False) or ""))
        )  # fmt: skip
    return pairs


def _scale_put(app: TenantApplication, sourced_id: str, record: dict[str, Any]) -> Callable[[Actor], Outcome]:  # fmt: skip
    _same_id(sourced_id, record)
    command = PutScoreScale(
        sourced_id=sourced_id,
        status=_status_of(record),
        title=str(_text(record, "title")),
        scale_type=str(_text(record, "type")),
        school_class=str(_ref(record, "class")),
        course=_ref(record, "course", required=False),
        values=_scale_values(record),
    )
    return lambda actor: app.put_score_scale(actor, command)


router.add_api_route("/categories/{sourcedId}", _put("category", _category_put), methods=["PUT"], name="putCategory", operation_id="putCategory")  # fmt: skip
router.add_api_route("/scoreScales/{sourcedId}", _put("scoreScale", _scale_put), methods=["PUT"], name="putScoreScale", operation_id="putScoreScale")  # fmt: skip
router.add_api_route("/categories/{sourcedId}", _delete("category", lambda app, actor, sid: app.delete_category(actor, sid)), methods=["DELETE"], name="deleteCategory", operation_id="deleteCategory", status_code=204)  # fmt: skip
router.add_api_route("/scoreScales/{sourcedId}", _delete("scoreScale", lambda app, actor, sid: app.delete_score_scale(actor, sid)), methods=["DELETE"], name="deleteScoreScale", operation_id="deleteScoreScale", status_code=204)  # fmt: skip


# -- POST: several at once, sourcedIds allocated here ---------------------------------------


def _post_many(
    kind: str,
    many: str,
    build: Callable[[TenantApplication, dict[str, str], dict[str, Any]], tuple[str, Callable[[Actor], Outcome]]],
) -> Any:  # fmt: skip
    async def post(request: Request, container: ContainerDep, caller: CallerDep) -> Response:
        if "gradebook.createpost" not in caller.view.scopes:
            raise OneRosterError(
                403,
                "forbidden",
                "a POST needs the scope "
                "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createpost, which the "
                "client's agreement or token does not grant",
            )
        records = await _body(request, many)
        if not isinstance(records, list) or not records:
            raise _invalid(f"{many} must be a non-empty list")
        app = _app(container, caller)
        params = dict(request.path_params)
        runs = [build(app, params, _object(r, kind)) for r in records]

        def execute() -> list[dict[str, str]]:
            # One command per record, in order: a refused record stops the rest, and the
            # records before it stay written (a retry of the same POST is safe: sourcedIds).
            pairs = []
            for supplied, run in runs:
                outcome = run(caller.actor)
                _wrote(caller.actor, outcome.position)
                pairs.append({"suppliedSourcedId": supplied, "allocatedSourcedId": outcome.id})
            return pairs

        pairs = await in_request_thread(execute)
        response = _json({"sourcedIdPairs": pairs})
        response.status_code = 201
        return response

    return post


def _supplied(record: dict[str, Any]) -> str:
    value = record.get("sourcedId")
    if not isinstance(value, str) or not value:
        raise _invalid("each record needs the sourcedId it is to have (the one it is known by)")
    return value


def _post_line_item(school: str | None) -> Callable[[TenantApplication, dict[str, str], dict[str, Any]], tuple[str, Callable[[Actor], Outcome]]]:  # fmt: skip
    def build(app: TenantApplication, p: dict[str, str], record: dict[str, Any]) -> tuple[str, Callable[[Actor], Outcome]]:  # fmt: skip
        supplied = _supplied(record)
        command = _line_item_command(supplied, record, p.get("classSourcedId"))
        wanted_school = p.get("schoolSourcedId")
        if wanted_school is not None and app.school_of_class(command.school_class) != wanted_school:
            raise _invalid(f"class {command.school_class!r} is not a class of school {wanted_school!r}")  # fmt: skip
        return supplied, lambda actor: app.put_line_item(actor, command)

    return build


def _post_result(app: TenantApplication, p: dict[str, str], record: dict[str, Any]) -> tuple[str, Callable[[Actor], Outcome]]:  # fmt: skip
    supplied = _supplied(record)
    line_item = p.get("lineItemSourcedId")
    command = _result_command(
        app, supplied, record, app.clock().date(), line_item=line_item,
        school_class=p.get("classSourcedId"),
    )  # fmt: skip
    return supplied, lambda actor: app.record_assessment(actor, command)


router.add_api_route("/classes/{classSourcedId}/lineItems", _post_many("lineItem", "lineItems", _post_line_item(None)), methods=["POST"], name="postLineItemsForClass", operation_id="postLineItemsForClass", status_code=201)  # fmt: skip
router.add_api_route("/schools/{schoolSourcedId}/lineItems", _post_many("lineItem", "lineItems", _post_line_item("school")), methods=["POST"], name="postLineItemsForSchool", operation_id="postLineItemsForSchool", status_code=201)  # fmt: skip
router.add_api_route("/lineItems/{lineItemSourcedId}/results", _post_many("result", "results", _post_result), methods=["POST"], name="postResultsForLineItem", operation_id="postResultsForLineItem", status_code=201)  # fmt: skip
router.add_api_route("/classes/{classSourcedId}/academicSessions/{academicSessionSourcedId}/results", _post_many("result", "results", _post_result), methods=["POST"], name="postResultsForAcademicSessionForClass", operation_id="postResultsForAcademicSessionForClass", status_code=201)  # fmt: skip
