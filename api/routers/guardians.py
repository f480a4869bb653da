"""Guardian views: a guardian's children, and what each child's school records say.

Who may see what is the read's to decide (projections/reads/guardian_view.py): a guardian
sees a child while named as the child's agent and the child is under 18; a student sees
their own view.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response

from api.deps import ActorDep, Fresh, GuardianViewReadsDep, OneHopRoute, TenantAppDep
from api.models import Problem
from api.read_answers import ChildrenAnswer, ChildViewAnswer, IfNoneMatch, document

router = APIRouter(prefix="/api/v1", tags=["guardian views"], route_class=OneHopRoute)

_REFUSALS: dict[int | str, dict[str, Any]] = {
    304: {"description": "The answer is the one `If-None-Match` names"},
    403: {"model": Problem, "description": "Not your child (or no such student)"},
    504: {"model": Problem, "description": "The read model did not reach min_position"},
}

#: Read-your-writes of the guardian view, for the callers each route answers.
FreshForGuardian = Annotated[None, Depends(Fresh(lambda p: p.guardian_view, roles=("guardian",)))]
FreshForFamily = Annotated[
    None, Depends(Fresh(lambda p: p.guardian_view, roles=("guardian", "student")))
]
FreshForStudent = Annotated[None, Depends(Fresh(lambda p: p.guardian_view, roles=("student",)))]


# The answers are encoded already (api/read_answers.py); `response_model` documents them.
@router.get(
    "/guardians/me/children",
    response_class=JSONResponse,
    response_model=ChildrenAnswer,
    responses=_REFUSALS,
    summary="The caller's children: students naming the caller as guardian, under 18",
)
def my_children(
    actor: ActorDep,
    app: TenantAppDep,
    reads: GuardianViewReadsDep,
    _fresh: FreshForGuardian,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return document(reads.children(app, actor), if_none_match)


@router.get(
    "/guardians/me/children/{studentSourcedId}",
    response_class=JSONResponse,
    response_model=ChildViewAnswer,
    responses=_REFUSALS,
    summary="A child's classes, teachers, results with verbal feedback, attainments and "
    "consents (a guardian of the child, or the student themself)",
)
def my_child(
    studentSourcedId: Annotated[str, Path(max_length=128)],
    actor: ActorDep,
    app: TenantAppDep,
    reads: GuardianViewReadsDep,
    _fresh: FreshForFamily,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return document(reads.child_view(app, actor, studentSourcedId), if_none_match)


@router.get(
    "/students/me",
    response_class=JSONResponse,
    response_model=ChildViewAnswer,
    responses=_REFUSALS,
    summary="The calling student's own view, as their guardians see it",
)
def my_own_view(
    actor: ActorDep,
    app: TenantAppDep,
    reads: GuardianViewReadsDep,
    _fresh: FreshForStudent,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return document(reads.own_view(app, actor), if_none_match)
