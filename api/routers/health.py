"""Health and reference data: /healthz and the curriculum objectives."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ActorDep, ContainerDep, TenantAppDep

router = APIRouter()


@router.get("/healthz", tags=["operations"], summary="Status and each tenant store's head position")
def healthz(container: ContainerDep) -> dict[str, Any]:
    stores = {t: {"position": container.tenants.get(t).head_position()} for t in container.tenants.ids()}
    return {"status": "ok", "stores": stores, "projections": {}}


@router.get(
    "/api/v1/curriculum/objectives",
    tags=["curriculum"],
    summary="The curriculum objectives known to the tenant, with codes used in commands",
)
def objectives(
    actor: ActorDep,
    app: TenantAppDep,
    subject: str | None = Query(default=None, description="Subject code, e.g. MA"),
) -> dict[str, Any]:
    return {
        "objectives": [
            {
                "code": o.code,
                "subject": o.subject,
                "grades": o.grades,
                "localCode": o.local_code,
                "ePerusteetId": o.eperusteet_id,
                "titles": {"fi": o.title_fi, "en": o.title_en},
                "affectsGrade": o.affects_grade,
                "curriculum": o.curriculum,
            }
            for o in app.curriculum.objectives(subject)
        ]
    }
