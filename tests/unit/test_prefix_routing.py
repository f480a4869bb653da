"""Routing by path prefix (api/prefix_routing.py) picks the route FastAPI's own routing picks,
for every route of the application, its neighbours' methods and paths that match nothing."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, MutableMapping
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import _IncludedRouter
from starlette.applications import Starlette

from api.app import create_app
from api.prefix_routing import _literal_prefixes, route_by_prefix

_STUB = SimpleNamespace(
    settings=SimpleNamespace(
        max_body_bytes=1024, max_import_bytes=1024, max_header_bytes=8192, opentelemetry=False
    )
)
_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")


def _app(*, by_prefix: bool) -> FastAPI:
    app = create_app(_STUB)  # type: ignore[arg-type]
    if not by_prefix:
        # As FastAPI includes them: the application's included routers, unprefixed.
        app.router.routes[:] = [
            _IncludedRouter(original_router=r.original_router, include_context=r.include_context)
            if isinstance(r, _IncludedRouter)
            else r
            for r in app.router.routes
        ]
    return app


def _concrete(path_format: str) -> str:
    return re.sub(r"\{[^}]*\}", "x-1", path_format)


def _requests(app: FastAPI) -> list[tuple[str, str]]:
    """Every route's path with each method, the path with and without a trailing slash, and
    paths no route has."""
    paths = {"/", "/nothing", "/api/v1/nothing", "/ims/oneroster/rostering/v1p2/nothing"}
    for route in app.router.routes:
        contexts = route.effective_route_contexts() if isinstance(route, _IncludedRouter) else []
        for context in contexts:
            # As FastAPI matches it: the route's path with the inclusion's prefix.
            path_format = (
                getattr(context.starlette_route, "path_format", None) or context.path_format
            )
            path = _concrete(path_format)
            paths |= {path, path.rstrip("/") or "/", path + "/"}
        if not isinstance(route, _IncludedRouter):
            paths.add(_concrete(getattr(route, "path_format", "/")))
    return [(method, path) for path in sorted(paths) for method in _METHODS]


def _routed(app: FastAPI, method: str, path: str) -> tuple[Any, Any, int | None]:
    """The path of the route and the endpoint the router chose for a request, and the status
    of an answer it gave itself (404, 405, a redirect); the endpoint is not run to its end."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "app": app,
        "state": {},
    }
    answered: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    async def route() -> None:
        # The stub container fails the endpoints: the routing is done by then.
        with contextlib.suppress(Exception):
            await app.router(scope, receive, send)

    asyncio.run(route())
    chosen, endpoint = scope.get("route"), scope.get("endpoint")
    return (
        getattr(chosen, "path", None),
        getattr(endpoint, "__qualname__", None),
        answered[0] if answered else None,
    )


def test_every_included_router_is_routed_by_prefix() -> None:
    app = _app(by_prefix=True)
    included = [r for r in app.router.routes if isinstance(r, _IncludedRouter)]
    assert included and all(type(r) is not _IncludedRouter for r in included)
    assert route_by_prefix(app.router) == 0  # and done once


@pytest.mark.parametrize("method", _METHODS)
def test_a_request_is_routed_as_fastapi_routes_it(method: str) -> None:
    plain, by_prefix = _app(by_prefix=False), _app(by_prefix=True)
    requests = [(m, p) for m, p in _requests(plain) if m == method]
    assert len(requests) > 100
    differing = [
        (path, _routed(plain, method, path), _routed(by_prefix, method, path))
        for _, path in requests
    ]
    assert [d for d in differing if d[1] != d[2]] == []
    # The comparison compares something: most requests reach an endpoint.
    assert sum(1 for d in differing if d[1][1] is not None) > len(requests) // 3


def test_the_openapi_document_lists_every_route() -> None:
    assert _app(by_prefix=True).openapi() == _app(by_prefix=False).openapi()


def _composed_prefixes(router: _IncludedRouter) -> tuple[str, ...]:
    """The literal beginnings of the paths FastAPI composes for an included router's routes
    (its effective contexts), the shorter kept where one begins another."""
    composed = {
        (getattr(c.starlette_route, "path_format", None) or c.path_format).split("{", 1)[0]
        for c in router.effective_route_contexts()
    }
    return tuple(
        p for p in sorted(composed) if not any(p.startswith(q) and p != q for q in composed)
    )


def _nested_app() -> FastAPI:
    """Routers included with prefixes at two levels, beside a mount and a parameter."""

    async def endpoint() -> None:
        return None

    inner = APIRouter(prefix="/inner")
    inner.add_api_route("/items/{item_id:int}", endpoint)
    inner.mount("/static/", Starlette())
    middle = APIRouter()
    middle.add_api_route("/p/{anything}", endpoint)
    middle.include_router(inner, prefix="/v2")
    outer = APIRouter(prefix="/outer")
    outer.add_api_route("/fixed", endpoint, methods=["PUT"])
    outer.include_router(middle, prefix="/m")
    app = FastAPI()
    app.include_router(outer, prefix="/api")
    return app


@pytest.mark.parametrize("build", [lambda: _app(by_prefix=False), _nested_app])
def test_the_prefixes_read_from_the_routes_paths_are_those_fastapi_matches(
    build: Callable[[], FastAPI],
) -> None:
    """The beginnings `route_by_prefix` reads from each route's own path and the prefixes it
    is included under are those of the paths FastAPI composes for the route."""
    included = [r for r in build().router.routes if isinstance(r, _IncludedRouter)]
    assert included
    for router in included:
        assert _literal_prefixes(router) == _composed_prefixes(router)
