"""Discovery: the OpenAPI files a OneRoster 1.2 provider publishes, localized to this server.

The official rostering file is served under both names clients look for (the binding's
`onerosterv1p2rostersservice_openapi3_v1p0.json` and the conformance guide's
`imsorv1p2_rostering_openapi3_v1p0.json`) with its `servers` and token URL pointing here.
The local copy adds what the official file omits, and is what the conformance test checks
the provider against:

- `invalid_sort_field` among the code minor values (answered for a bad `sort`);
- `404` (unknownobject) on every operation with a sourcedId in its path, and `503`/`504`
  (server_busy: the read model is away or not yet at `min_position`) on every operation;
- the `Link` header beside `X-Total-Count` on collections.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from api.oneroster.gradebook import BASE_PATH as GRADEBOOK_PATH
from api.oneroster.rostering import BASE_PATH

__all__ = [
    "GRADEBOOK_LOCAL_NAME",
    "LOCAL_NAME",
    "OFFICIAL_NAMES",
    "gradebook_router",
    "local_gradebook_document",
    "local_rostering_document",
    "router",
]

_DIR = Path(__file__).parent / "openapi"
_ROSTERING = "onerosterv1p2rostersservice_openapi3_v1p0.json"
_GRADEBOOK = "onerosterv1p2gradebookservice_openapi3_v1p0.json"
GRADEBOOK_LOCAL_NAME = "digione_gradebook_openapi3_v1p0.json"
OFFICIAL_NAMES = (_ROSTERING, "imsorv1p2_rostering_openapi3_v1p0.json")
LOCAL_NAME = "digione_rostering_openapi3_v1p0.json"

router = APIRouter(prefix=f"{BASE_PATH}/discovery", tags=["OneRoster 1.2 discovery"])


@cache
def _official() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((_DIR / _ROSTERING).read_text())
    return loaded


def _status_info(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/imsx_StatusInfoDType"}}
        },
    }


def _localized(document: dict[str, Any], origin: str, base_path: str = BASE_PATH) -> dict[str, Any]:
    localized = copy.deepcopy(document)
    localized["servers"] = [{"url": origin + base_path, "description": "This provider."}]
    scheme = localized["components"]["securitySchemes"]["OAuth2CC"]
    scheme["flows"]["clientCredentials"]["tokenUrl"] = origin + "/oauth/token"
    return localized


def local_rostering_document(origin: str) -> dict[str, Any]:
    """The local copy of the rostering file for a server at `origin` (scheme://host:port)."""
    return _local(_official(), origin, BASE_PATH)


@cache
def _official_gradebook() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((_DIR / _GRADEBOOK).read_text())
    return loaded


def local_gradebook_document(origin: str) -> dict[str, Any]:
    """The local copy of the gradebook file: the rostering copy's additions, and for the
    writes `200` (a PUT that updates), `400` (a body that is not JSON) and `409` (a
    result that would be a second one of its student and line item); without the
    Assessment Results profile's eight operations, which this provider does not serve."""
    official = copy.deepcopy(_official_gradebook())
    official["paths"] = {
        path: operations
        for path, operations in official["paths"].items()
        if not path.startswith("/assessment")
    }
    document = _local(official, origin, GRADEBOOK_PATH)
    for operations in document["paths"].values():
        for method, operation in operations.items():
            responses = operation["responses"]
            if method == "put":
                responses.setdefault("200", {"description": "Updated (201: created)."})
            if method in ("put", "post", "delete"):
                responses.setdefault("400", _status_info("The body is not JSON: invaliddata."))
                responses.setdefault(
                    "409", _status_info("A second result of a student and line item.")
                )
    return document


def _local(official: dict[str, Any], origin: str, base_path: str) -> dict[str, Any]:
    document = _localized(official, origin, base_path)
    minor = document["components"]["schemas"]["imsx_CodeMinorFieldDType"]["properties"]
    values = minor["imsx_codeMinorFieldValue"]["enum"]
    if "invalid_sort_field" not in values:
        values.append("invalid_sort_field")
    for path, operations in document["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            if "{" in path:
                responses.setdefault("404", _status_info("No such object: unknownobject."))
            responses.setdefault("503", _status_info("The read model is away: server_busy."))
            responses.setdefault(
                "504", _status_info("The read model did not reach min_position: server_busy.")
            )
            ok = responses.get("200", {})
            if "headers" in ok:
                ok["headers"].setdefault(
                    "Link",
                    {
                        "description": "RFC 8288 links to the first, last, prev, next pages.",
                        "schema": {"type": "string"},
                    },
                )
    return document


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(document: dict[str, Any]) -> Response:
    return Response(json.dumps(document), media_type="application/json")


@router.get("", summary="The provider's local OpenAPI copy of the rostering service")
def discovery(request: Request) -> Response:
    return _json(local_rostering_document(_origin(request)))


@router.get(f"/{LOCAL_NAME}", summary="The provider's local OpenAPI copy (rostering)")
def local_copy(request: Request) -> Response:
    return _json(local_rostering_document(_origin(request)))


def _add_official(name: str) -> None:
    def official(request: Request) -> Response:
        return _json(_localized(_official(), _origin(request)))

    router.add_api_route(
        f"/{name}",
        official,
        methods=["GET"],
        name=f"discovery_{name}",
        summary="The official rostering OpenAPI file, localized to this server",
    )


for _name in OFFICIAL_NAMES:
    _add_official(_name)


gradebook_router = APIRouter(prefix=f"{GRADEBOOK_PATH}/discovery", tags=["OneRoster 1.2 discovery"])


@gradebook_router.get("", summary="The provider's local OpenAPI copy of the gradebook service")
def gradebook_discovery(request: Request) -> Response:
    return _json(local_gradebook_document(_origin(request)))


@gradebook_router.get(
    f"/{GRADEBOOK_LOCAL_NAME}", summary="The provider's local OpenAPI copy (gradebook)"
)
def gradebook_local_copy(request: Request) -> Response:
    return _json(local_gradebook_document(_origin(request)))


@gradebook_router.get(
    f"/{_GRADEBOOK}", summary="The official gradebook OpenAPI file, localized to this server"
)
def gradebook_official(request: Request) -> Response:
    return _json(_localized(_official_gradebook(), _origin(request), GRADEBOOK_PATH))
