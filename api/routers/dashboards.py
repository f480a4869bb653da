"""Teacher dashboards: a class's students × objectives, results with the class distribution,
missing work, trends, and the objectives nobody has been assessed on yet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from api.deps import ActorDep, ClassDashboardReadsDep, Fresh, OneHopRoute, TenantAppDep
from api.models import Problem
from api.read_answers import ClassDashboardAnswer, IfNoneMatch, encoded_document

router = APIRouter(
    prefix="/api/v1/dashboards", tags=["teacher dashboards"], route_class=OneHopRoute
)

#: More students than any class has: an offset past it is an empty page, a larger one a 422.
MAX_OFFSET = 2**31 - 1

FreshClassDashboard = Annotated[
    None, Depends(Fresh(lambda p: p.class_dashboard, roles=("teacher",)))
]


@router.get(
    "/classes/{classSourcedId}",
    response_class=JSONResponse,
    # Documents the answer; the route returns it encoded already (api/read_answers.py).
    response_model=ClassDashboardAnswer,
    responses={
        304: {"description": "The page is the one `If-None-Match` names"},
        403: {"model": Problem, "description": "Not a teacher of the class (or no such class)"},
        422: {"model": Problem, "description": "Unknown term or subject"},
        504: {"model": Problem, "description": "The read model did not reach min_position"},
    },
    summary="A class's dashboard for a teacher of the class",
    description="Students (paged by sourcedId) × curriculum objectives with each latest "
    "attainment level, date and evidence; results per line item with the class "
    "distribution (mean, median, spread = population standard deviation, min, max); "
    "students with missing work (no result for a line item past due, or `not submitted`) "
    "and with late work (a result marked `late`); "
    "each student's trend (attainment levels and numeric grades over time); and the "
    "objectives of the class's subjects nobody in it has been assessed on yet.",
)
def class_dashboard(
    classSourcedId: Annotated[str, Path(max_length=128)],
    actor: ActorDep,
    app: TenantAppDep,
    reads: ClassDashboardReadsDep,
    _fresh: FreshClassDashboard,
    term: Annotated[
        str | None,
        Query(
            max_length=128,
            description="An academic session's sourcedId: only line items due, and results "
            "and attainments dated, within its dates.",
        ),
    ] = None,
    subject: Annotated[
        str | None,
        Query(
            max_length=16,
            description="A subject code, e.g. MA: only its objectives and what is linked to them.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Students per page.")] = 50,
    # Bounded, as the page echoes it: JSON (and orjson) numbers stop at 64 bits.
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Students to skip.")] = 0,
    if_none_match: IfNoneMatch = None,
) -> Response:
    answer = reads.dashboard_document(
        app, actor, classSourcedId, term=term, subject=subject, limit=limit, offset=offset
    )
    return encoded_document(answer, if_none_match)
