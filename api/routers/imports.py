"""`POST /api/v1/imports`: the student information system sends a OneRoster CSV bundle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import ActorDep, CommandRoute, Permit, TenantAppDep
from api.models import COMMAND_ERRORS, Problem
from api.oneroster_csv.bundle import BundleError, read_bundle_bytes
from api.oneroster_csv.importer import (
    DEFAULT_MAX_DELETION_SHARE,
    MassDeletionError,
    import_bundle,
)
from api.problems import PROBLEM_JSON, ProblemError
from api.request_threads import in_request_thread
from domain.command_roles import require_roster_writer

router = APIRouter(prefix="/api/v1", tags=["roster commands"], route_class=CommandRoute)
#: The path whose body may be as large as `max_import_bytes` (api/body_limit.py).
IMPORTS_PATH = "/api/v1/imports"


@router.post(
    "/imports",
    dependencies=[Depends(Permit(require_roster_writer))],
    responses={
        400: {"model": Problem, "description": "Not a readable OneRoster CSV bundle"},
        409: {"model": Problem, "description": "The mass-deletion guard stopped the import"},
        **COMMAND_ERRORS,
    },
    summary="Import a OneRoster 1.2 CSV bundle (a zip; bulk and delta files)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The bundle as a zip (sent as application/zip or octet-stream)",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("application/zip", "application/octet-stream")
            },
        }
    },
)
async def post_import(
    request: Request,
    actor: ActorDep,
    app: TenantAppDep,
    allow_mass_deletion: Annotated[bool, Query(alias="allowMassDeletion")] = False,
    max_deletion_share: Annotated[
        float, Query(alias="maxDeletionShare", ge=0.0, le=1.0)
    ] = DEFAULT_MAX_DELETION_SHARE,
) -> JSONResponse:
    """Answers the import's report: counts per file, rows rejected (file, row, column,
    reason), quirks tolerated, and the store position to wait for before reading."""
    body = await request.body()
    try:
        bundle = read_bundle_bytes(body)
    except BundleError as error:
        raise ProblemError(400, "bad-bundle", "Not a OneRoster CSV bundle", str(error)) from None
    try:
        report = await in_request_thread(
            import_bundle,
            app,
            actor,
            bundle,
            allow_mass_deletion=allow_mass_deletion,
            max_deletion_share=max_deletion_share,
        )
    except MassDeletionError as error:
        # Nothing was recorded: the problem carries the report, so the SIS sees the counts.
        answer = {
            "type": "urn:digione:problem:mass-deletion",
            "title": "Mass deletion refused",
            "status": 409,
            "detail": f"{error}: send allowMassDeletion=true if the deletions are meant",
            "report": error.report.as_json(),
        }
        return JSONResponse(answer, status_code=409, media_type=PROBLEM_JSON)
    return JSONResponse(report.as_json())
