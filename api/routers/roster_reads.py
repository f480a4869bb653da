"""Reads of the roster read model, with read-your-writes (`?min_position=N`)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query

from api.deps import ActorDep, ContainerDep, TenantAppDep
from api.disclosures import STATUTORY_TASK, user_detail_categories
from api.models import Problem
from api.problems import ProblemError
from domain.sealing import ERASED, Erased
from projections import erasure
from projections.catalogue import all_projections
from projections.freshness import ReadModelNotFreshError, require_fresh
from projections.roster import RosterProjection
from projections.sealed import sealed_value

router = APIRouter(prefix="/api/v1/roster", tags=["roster reads"])

_ROSTER = next(p for p in all_projections() if isinstance(p, RosterProjection))
_TABLES = {
    "orgs": _ROSTER.tables.orgs,
    "academicSessions": _ROSTER.tables.academic_sessions,
    "courses": _ROSTER.tables.courses,
    "classes": _ROSTER.tables.classes,
    "users": _ROSTER.tables.users,
    "enrollments": _ROSTER.tables.enrollments,
    "demographics": _ROSTER.tables.demographics,
}
_HIDDEN = {"tenant", "aggregate_id"}

MinPosition = Annotated[
    int | None,
    Query(ge=0, description="Wait (briefly) until the read model includes this store position, "
          "e.g. the `position` a command answered with."),
]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def wait_until_fresh(container: Any, tenant: str, projection: str, min_position: int | None) -> None:
    """Read-your-writes for any read route: 504 with the reached position when too slow."""
    try:
        require_fresh(container.status, tenant=tenant, projection=projection,
                      min_position=min_position)
    except ReadModelNotFreshError as error:
        raise ProblemError(504, "read-model-not-fresh", "Read model not fresh yet", str(error),
                           field="min_position") from None


def _add_read_route(collection: str) -> None:
    table = _TABLES[collection]

    def read_record(
        sourcedId: Annotated[str, Path(max_length=128)],
        actor: ActorDep,
        app: TenantAppDep,
        container: ContainerDep,
        min_position: MinPosition = None,
    ) -> dict[str, Any]:
        if actor.role != "admin":
            raise ProblemError(403, "not-permitted", "Not permitted", "roster reads are for admins")
        wait_until_fresh(container, actor.tenant, _ROSTER.name, min_position)
        with container.engine.connect() as connection:
            row = connection.execute(
                sa.select(table).where(
                    table.c.tenant == actor.tenant, table.c.sourced_id == sourcedId
                )
            ).mappings().first()
        if row is None:
            raise ProblemError(404, "not-found", "Not found", f"{collection} has no {sourcedId!r}")
        record = {_camel(k): v for k, v in row.items() if k not in _HIDDEN}
        if "personal" in record:
            sealed = record.pop("personal")
            opened = ERASED if erasure.is_blank(sealed) else app.sealer.unseal(sealed_value(sealed))
            record.update({"personal": "erased"} if isinstance(opened, Erased) else opened)
            if not isinstance(opened, Erased):
                categories = (
                    user_detail_categories(opened) if collection == "users" else ["demographics"]
                )
                container.disclosures.record(
                    tenant=actor.tenant, subjects=[sourcedId],
                    recipient=actor.subject, recipient_role=actor.role, categories=categories,
                    basis=STATUTORY_TASK, at=container.clock(),
                )
        return record

    router.add_api_route(
        f"/{collection}/{{sourcedId}}",
        read_record,
        methods=["GET"],
        name=f"read_{collection}",
        responses={
            404: {"model": Problem, "description": "No such record"},
            504: {"model": Problem, "description": "The read model did not reach min_position"},
        },
        summary=f"A {collection} record as the read model holds it, personal fields unsealed "
        "(admin)",
    )


for _collection in _TABLES:
    _add_read_route(_collection)
