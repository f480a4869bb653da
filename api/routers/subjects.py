"""The right of access (GDPR art. 15): a data subject's export of everything held about them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.deps import ActorDep, Fresh, OneHopRoute, SourcedIdPath, SubjectExportsDep, TenantAppDep
from api.models import Problem
from api.read_answers import SubjectExportAnswer
from projections.reads.subject_export import right_of_access

router = APIRouter(prefix="/api/v1/subjects", tags=["privacy"], route_class=OneHopRoute)

#: Everyone `right_of_access` may let through; it refuses the rest before any wait.
FreshSubjectIndex = Annotated[
    None, Depends(Fresh(lambda p: p.subject_index, roles=("admin", "guardian", "student")))
]


def basis_of_access(sourcedId: SourcedIdPath, actor: ActorDep, app: TenantAppDep) -> str:
    """The caller's basis for the export (403 for anyone without a right of access)."""
    return right_of_access(actor, app, sourcedId)


@router.get(
    "/{sourcedId}/export",
    response_model=SubjectExportAnswer,
    responses={
        403: {"model": Problem, "description": "The caller has no right of access to this person"},
        404: {"model": Problem, "description": "No such person in the caller's tenant (admins)"},
        504: {"model": Problem, "description": "The read model did not reach min_position"},
    },
    summary="Everything held about a person, opened (student 15+, guardian, admin)",
    description="The user record, demographics, enrollments, results with verbal "
    "assessments, attainments, consents and erasures, each with its events in order and "
    'sealed fields opened ("erased" where erasure destroyed the key), and the record of '
    "who received which of the person's data, when and on what basis.",
)
def export_subject(
    sourcedId: SourcedIdPath,
    actor: ActorDep,
    app: TenantAppDep,
    exports: SubjectExportsDep,
    # Declared before the wait: FastAPI solves a route's dependencies in order, so a caller
    # without a right of access is refused at once.
    basis: Annotated[str, Depends(basis_of_access)],
    _fresh: FreshSubjectIndex,
) -> dict[str, Any]:
    return exports.export(app, actor, sourcedId, basis=basis)
