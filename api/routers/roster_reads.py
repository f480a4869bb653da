"""Reads of the roster read model (admins), with read-your-writes (`?min_position=N`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from api.deps import ActorDep, Fresh, OneHopRoute, RosterRecordReadsDep, TenantAppDep
from api.models import Problem
from api.read_answers import RosterRecordAnswer
from projections.reads.roster_records import COLLECTIONS

router = APIRouter(prefix="/api/v1/roster", tags=["roster reads"], route_class=OneHopRoute)

FreshRoster = Annotated[None, Depends(Fresh(lambda p: p.roster, roles=("admin",)))]


def _add_read_route(collection: str) -> None:
    def read_record(
        sourcedId: Annotated[str, Path(max_length=128)],
        actor: ActorDep,
        app: TenantAppDep,
        reads: RosterRecordReadsDep,
        _fresh: FreshRoster,
    ) -> dict[str, Any]:
        return reads.record(app, actor, collection, sourcedId)

    router.add_api_route(
        f"/{collection}/{{sourcedId}}",
        read_record,
        methods=["GET"],
        name=f"read_{collection}",
        response_model=RosterRecordAnswer,
        responses={
            404: {"model": Problem, "description": "No such record"},
            504: {"model": Problem, "description": "The read model did not reach min_position"},
        },
        summary=f"A {collection} record as the read model holds it, personal fields unsealed "
        "(admin)",
    )


for _collection in COLLECTIONS:
    _add_read_route(_collection)
