"""RFC 9457 problem details: every error answer, with the field and the rule it broke."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.tokens import TokenError
from domain.curriculum import UnknownSubjectError
from domain.errors import (
    ConflictError,
    DomainError,
    InvalidValueError,
    NotFoundError,
    NotPermittedError,
    UnknownReferenceError,
    UnknownTenantError,
)
from domain.sealing import SealingError
from projections.class_dashboard_queries import UnknownTermError
from projections.freshness import ReadModelNotFreshError
from projections.reads.access import (
    ReadModelUnavailableError,
    ReadNotPermittedError,
    RosterRecordNotFoundError,
)
from projections.reads.disclosures import DisclosureNotRecordedError

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class _Mapping:
    """How one kind of error is answered: its status and title, and (but for a domain
    error, which carries its own) the problem's `type` code and its `field`."""

    kind: type[Exception]
    status: int
    title: str
    code: str = ""
    field: str | None = None


# Errors map to HTTP in this one table (most specific first). A domain error's code, message
# and field are its own; any other error's detail is its message.
_ERRORS: tuple[_Mapping, ...] = (
    _Mapping(UnknownTenantError, 403, "Unknown tenant"),
    _Mapping(NotPermittedError, 403, "Not permitted"),
    _Mapping(NotFoundError, 404, "Not found"),
    _Mapping(ConflictError, 409, "Conflict"),
    _Mapping(UnknownReferenceError, 422, "Unknown reference"),
    _Mapping(InvalidValueError, 422, "Invalid value"),
    _Mapping(DomainError, 422, "Rule broken"),
    _Mapping(ReadNotPermittedError, 403, "Not permitted", "not-permitted"),
    _Mapping(RosterRecordNotFoundError, 404, "Not found", "not-found"),
    _Mapping(UnknownSubjectError, 422, "Unknown subject", "unknown-subject", field="subject"),
    _Mapping(UnknownTermError, 422, "Unknown term", "unknown-term", field="term"),
    _Mapping(ReadModelUnavailableError, 503, "Read model unavailable", "read-model-unavailable"),
    _Mapping(DisclosureNotRecordedError, 503, "Disclosure not recorded", "disclosure-not-recorded"),
    _Mapping(
        ReadModelNotFreshError,
        504,
        "Read model not fresh yet",
        "read-model-not-fresh",
        field="min_position",
    ),
    _Mapping(SealingError, 409, "Sealed data unavailable", "sealing"),
)


class ProblemError(Exception):
    """Raised by the API layer itself (not the domain, not a read) to answer with a problem."""

    def __init__(
        self, status: int, code: str, title: str, detail: str, *, field: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.field = (
            status,
            code,
            title,
            detail,
            field,
        )


def problem_of(error: Exception) -> ProblemError | None:
    """The problem that answers `error` (by the table above); None for an error it lacks."""
    if isinstance(error, ProblemError):
        return error
    for mapping in _ERRORS:
        if not isinstance(error, mapping.kind):
            continue
        if isinstance(error, DomainError):
            return ProblemError(
                mapping.status, error.code, mapping.title, error.message, field=error.field
            )
        return ProblemError(
            mapping.status, mapping.code, mapping.title, str(error), field=mapping.field
        )
    return None


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:digione:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def refusal(
    scope: Scope,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The answer of a middleware refusing a request: problem details, but on OneRoster's
    /ims paths its status-info format, as every error there is."""
    if str(scope.get("path", "")).startswith("/ims/"):
        from api.oneroster.status_info import status_info

        return status_info(status, detail, headers=headers)
    return problem(status, code, title, detail, field=field, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    # ("body", "user", "givenName") → "user.givenName"; the "body" prefix says nothing.
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts).replace("class_", "class") or "body"


def _nul_in(scope: Scope) -> str | None:
    """Where the request's path or query holds a NUL character, if it does.

    No field may contain one: PostgreSQL text refuses it, so it would fail deep inside a
    read or a projection instead of as the caller's bad input.
    """
    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "query"
    return None


class RefuseNulCharacters:
    """ASGI middleware: a path or query with a NUL character gets a 422 problem at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = _nul_in(scope) if scope["type"] == "http" else None
        if where is None:
            await self.app(scope, receive, send)
            return
        detail = f"{where} holds a NUL character (U+0000), which no value may contain"
        response = refusal(
            scope, 422, "invalid-character", "Invalid character", detail, field=where
        )
        await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every error into problem details."""
    app.add_middleware(RefuseNulCharacters)

    async def _answer(_: Request, error: Exception) -> JSONResponse:
        found = problem_of(error)
        if found is None:  # only the errors of the table are registered
            raise error
        return problem(found.status, found.code, found.title, found.detail, field=found.field)

    kinds: list[type[Exception]] = [ProblemError, *(mapping.kind for mapping in _ERRORS)]
    for kind in kinds:
        app.add_exception_handler(kind, _answer)

    @app.exception_handler(TokenError)
    async def _token(_: Request, error: TokenError) -> JSONResponse:
        return problem(
            401,
            "unauthenticated",
            "Unauthenticated",
            str(error),
            headers={"WWW-Authenticate": 'Bearer realm="digione"'},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        # Never echo the input back: it may hold personal data.
        errors = [
            {
                "field": _location(tuple(e.get("loc", ()))),
                "rule": e.get("type", "invalid"),
                "message": e.get("msg", ""),
            }
            for e in error.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(
            422,
            "invalid-request",
            "Invalid request",
            f"{first['field']}: {first['message']}",
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        return problem(error.status_code, code, str(error.detail), str(error.detail))
