"""Health and reference data: /healthz and the curriculum objectives."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ActorDep, ContainerDep, OneHopRoute, OptionalActorDep, TenantAppDep

router = APIRouter(route_class=OneHopRoute)


@router.get("/livez", tags=["operations"], summary="Liveness: answers without touching any store")
def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/healthz",
    tags=["operations"],
    summary="Status; with an admin token, the admin's tenant's store head, relay and "
    "projection positions and lag",
)
def healthz(container: ContainerDep, actor: OptionalActorDep) -> dict[str, Any]:
    """`status` for anyone (a load balancer's readiness probe sends no token); an admin also
    gets their own tenant's rows, never another municipality's.

    `status` is the service's, the same for every caller: a failed runner or a relay
    retrying for any tenant degrades it, without saying which tenant or why.
    """
    # The loops run here or in the worker process (its report in the database); a loop
    # that ended is being restarted by a supervisor: degraded until it runs again.
    health = container.runtime.health()
    relay_status, loops = health.relay, health.loops
    status = "ok" if health.healthy else "degraded"
    if actor is None or actor.role != "admin":
        return {"status": status}
    tenant = actor.tenant
    stores = {
        t: {"position": container.tenants.get(t).head_position()}
        for t in container.tenants.ids()
        if t == tenant
    }
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
        if s.tenant == tenant
    ]
    return {
        "status": status,
        "stores": stores,
        "relay": {t: r for t, r in relay_status.items() if t == tenant},
        "projections": projections,
        # The background loops: running, restarts by the supervisor, the last error.
        "loops": loops,
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
