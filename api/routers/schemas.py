"""Avro schemas for subscribers: resolve the fingerprint of any message they receive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import OneHopRoute
from api.models import Problem
from api.problems import ProblemError
from streams.schemas import default_registry

router = APIRouter(prefix="/api/v1/schemas", tags=["schemas"], route_class=OneHopRoute)


def _summary(registered: Any) -> dict[str, Any]:
    return {
        "eventType": registered.type_name,
        "fingerprint": registered.fingerprint_hex,
        "current": registered.current,
    }


@router.get("", summary="Every event type's schemas (current and released) by fingerprint")
def list_schemas() -> dict[str, Any]:
    return {"schemas": [_summary(r) for r in default_registry().all()]}


@router.get(
    "/{fingerprint}",
    summary="The Avro schema with this CRC-64-AVRO fingerprint (16 hex digits, wire order)",
    responses={404: {"model": Problem, "description": "No schema has that fingerprint"}},
)
def get_schema(
    fingerprint: Annotated[str, Path(pattern=r"^[0-9a-fA-F]{16}$")],
) -> dict[str, Any]:
    registered = default_registry().by_fingerprint(bytes.fromhex(fingerprint))
    if registered is None:
        raise ProblemError(
            404,
            "unknown-schema",
            "Unknown schema",
            f"no schema has fingerprint {fingerprint}; GET /api/v1/schemas lists them",
        )
    return {**_summary(registered), "schema": registered.schema}
