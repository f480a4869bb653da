"""Health and reference data: /healthz and the curriculum objectives."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ActorDep, ContainerDep, TenantAppDep

router = APIRouter()


@router.get("/livez", tags=["operations"], summary="Liveness: answers without touching any store")
def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/healthz",
    tags=["operations"],
    summary="Status, each store's head, the relay's and each projection's position and lag",
)
def healthz(container: ContainerDep) -> dict[str, Any]:
    tenants = container.tenants.ids()
    stores = {t: {"position": container.tenants.get(t).head_position()} for t in tenants}
    runtime = container.runtime
    relay_status = runtime.relay.status() if runtime.started else {}
    projections = [
        {
            "projection": s.projection,
            "tenant": s.tenant,
            "position": s.position,
            "head": s.head,
            "lag": s.lag,
            "parked": s.parked,
        }
        for s in container.status.states()
    ]
    failure = runtime.runner.failure if runtime.started else None
    healthy = failure is None and all(r.get("state") == "ok" for r in relay_status.values())
    return {
        "status": "ok" if healthy else "degraded",
        "stores": stores,
        "relay": relay_status,
        "projections": projections,
    }


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
