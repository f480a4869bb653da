"""Errors on /ims paths in the OneRoster status-info format (imsx_StatusInfoDType).

OneRoster clients read `imsx_codeMajor`, `imsx_severity` and the code minor
(`imsx_CodeMinor.imsx_codeMinorField[].imsx_codeMinorFieldValue`), not RFC 9457 problem
details; every other path keeps problem details (api/problems.py). `install` wraps each
exception handler the app has, so one table (api/problems.py) still decides the status and
the words, and the path picks the format.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import WebSocketRequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["IMS_PREFIX", "OneRosterError", "install", "status_info"]

IMS_PREFIX = "/ims/"

#: The code minor of each status when the error names none itself.
_MINOR_OF_STATUS = {
    400: "invaliddata",
    401: "unauthorisedrequest",
    403: "forbidden",
    404: "unknownobject",
    405: "invaliddata",
    409: "invaliddata",
    413: "invaliddata",
    414: "invaliddata",
    431: "invaliddata",
    422: "invaliddata",
    429: "server_busy",
    500: "internal_server_error",
    503: "server_busy",
    504: "server_busy",
}


class OneRosterError(Exception):
    """Raised by the OneRoster routes for a request the standard answers with a code minor
    of its own (invalid_filter_field, invalid_selection_field, invalid_sort_field …)."""

    def __init__(self, status: int, minor: str, description: str) -> None:
        super().__init__(description)
        self.status, self.minor, self.description = status, minor, description


def status_info(
    status: int, description: str, minor: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A OneRoster error answer."""
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {
                    "imsx_codeMinorFieldName": "TargetEndSystem",
                    "imsx_codeMinorFieldValue": minor
                    or _MINOR_OF_STATUS.get(status, "internal_server_error"),
                }
            ]
        },
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _description(response: Response) -> str:
    try:
        body: dict[str, Any] = json.loads(bytes(response.body))
    except ValueError:
        return "the request failed"
    return str(body.get("detail") or body.get("title") or "the request failed")


def install(app: FastAPI) -> None:
    """Answers errors of /ims paths in the status-info format; call after problems.install."""

    async def oneroster(_: Request, error: Exception) -> Response:
        assert isinstance(error, OneRosterError)
        return status_info(error.status, error.description, error.minor)

    handlers = dict(app.exception_handlers)
    for kind, handler in handlers.items():
        if kind is not WebSocketRequestValidationError:  # /ims has no websockets
            app.add_exception_handler(kind, _by_path(handler))
    app.add_exception_handler(OneRosterError, oneroster)
    if StarletteHTTPException not in handlers:  # pragma: no cover - problems.install adds it
        raise RuntimeError("install api.problems before api.oneroster.status_info")


def _by_path(
    handler: Callable[[Request, Any], Awaitable[Response] | Response],
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def answer(request: Request, error: Exception) -> Response:
        response = handler(request, error)
        if not isinstance(response, Response):
            response = await response
        if not request.url.path.startswith(IMS_PREFIX) or response.status_code < 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k.lower() == "www-authenticate"}
        return status_info(response.status_code, _description(response), headers=headers)

    return answer
