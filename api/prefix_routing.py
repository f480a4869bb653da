"""Routing by path prefix: a request asks only the routers that hold a route its path can match.

FastAPI (0.165) keeps each included router as one entry of the application's routes and
finds a request's route by asking every entry in turn, each entry trying each of its routes
(with bookkeeping in the request's scope per route), and asks the chosen router again to
handle it. A request for a roster user was tried against some 70 routes before its own (72 µs
of matching on this machine, 150 µs for a OneRoster collection): under the freshness load
routing was 7% of the HTTP process's GIL samples.

`route_by_prefix` puts in each included router's place one that first looks whether the
request's path starts with the literal beginning of one of its routes' paths (the part before
the first parameter) and answers "no match" at once when it does not. A route's pattern is
anchored at that beginning, so such a router could not have matched: which route serves a
request is unchanged, only the routers that cannot serve it are skipped. A router holding a
route whose match does not start from a literal path (a Host route, a frontend route group)
is left as it is, and so is everything on a FastAPI that keeps no included-router entries
(one that copies each included route into the application's own list).
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import Match, Mount, Route, Router
from starlette.types import Scope

__all__ = ["route_by_prefix"]

try:
    from fastapi.routing import _IncludedRouter as IncludedRouter
except ImportError:  # pragma: no cover - a FastAPI that lists every route itself
    IncludedRouter = None  # type: ignore[assignment,misc]


def route_by_prefix(router: Router) -> int:
    """Replaces each router included in `router` by one asked only for paths that can be
    its own; how many were replaced."""
    if IncludedRouter is None:
        return 0
    replaced = 0
    for index, route in enumerate(router.routes):
        if not isinstance(route, IncludedRouter) or isinstance(route, _PrefixedRouter):
            continue
        prefixes = _literal_prefixes(route)
        if prefixes is None:
            continue
        router.routes[index] = _PrefixedRouter(
            original_router=route.original_router,
            include_context=route.include_context,
            prefixes=prefixes,
        )
        replaced += 1
    return replaced


def _literal_prefixes(included: Any) -> tuple[str, ...] | None:
    """The literal beginnings of the paths of an included router's routes (None when one of
    its routes does not match from a literal path)."""
    prefixes: set[str] = set()
    routes, prefix = included.original_router.routes, included.include_context.prefix
    if not _add_beginnings(routes, prefix, prefixes):
        return None
    # A shorter beginning covers the longer ones it begins.
    kept = [p for p in sorted(prefixes) if not any(p.startswith(q) and p != q for q in prefixes)]
    return tuple(kept)


def _add_beginnings(routes: list[Any], prefix: str, beginnings: set[str]) -> bool:
    """Adds the literal beginnings of `routes`' paths, included under `prefix`, to
    `beginnings`; False when one of them has none. Read from each route's own path as FastAPI
    composes it (the inclusion's prefix, then the route's path), not from the routes' effective
    contexts: building those (each endpoint's dependencies and models) for every route was most
    of `create_app`'s time, and FastAPI builds them again, lazily, for the router put in place."""
    for route in routes:
        if isinstance(route, IncludedRouter):
            nested = prefix + route.include_context.prefix
            if not _add_beginnings(route.original_router.routes, nested, beginnings):
                return False
            continue
        if not isinstance(route, Route | Mount):
            return False
        path = prefix + route.path
        if isinstance(route, Mount):  # matched as its path, then "/{path:path}"
            path = path.rstrip("/") + "/"
        if not path.startswith("/"):
            return False
        beginnings.add(path.split("{", 1)[0])
    return True


def _route_beginning(context: Any) -> str | None:
    """The literal beginning of the paths a route (as included: FastAPI's effective route
    context) matches; None for a route whose match does not begin with a literal path."""
    route = context.starlette_route or context.original_route
    if not isinstance(route, Route | Mount):
        return None
    # As FastAPI's routing has it: an included route's path with the inclusion's prefix.
    path_format = getattr(context.starlette_route, "path_format", None) or context.path_format
    if not isinstance(path_format, str) or not path_format.startswith("/"):
        return None
    return path_format.split("{", 1)[0]


if IncludedRouter is not None:
    #: The path of the request a `_PrefixedRouter` is matching (None outside a match).
    _matching: ContextVar[str | None] = ContextVar("digione_matching_path", default=None)

    @dataclass
    class _PrefixedRouter(IncludedRouter):
        """An included router that answers "no match" for a path none of its routes' literal
        beginnings begin, and while matching a path tries only its routes that it can match."""

        prefixes: tuple[str, ...] = ()
        #: The candidate list FastAPI built (it builds a new one when routes are added) and
        #: each of its candidates with the literal beginning of its paths.
        _beginnings: tuple[list[Any], list[tuple[str, Any]]] | None = field(
            default=None, repr=False, compare=False
        )

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            if "path" in scope and not get_route_path(scope).startswith(self.prefixes):
                return Match.NONE, {}
            matched: tuple[Match, Scope] = super().matches(scope)
            return matched

        def _match(self, scope: Scope) -> Any:
            token = _matching.set(get_route_path(scope) if "path" in scope else None)
            try:
                return super()._match(scope)
            finally:
                _matching.reset(token)

        def effective_candidates(self) -> Any:
            every = super().effective_candidates()
            path = _matching.get()
            if path is None:
                return every
            if self._beginnings is None or self._beginnings[0] is not every:
                self._beginnings = (every, [(_beginning(c), c) for c in every])
            return [c for beginning, c in self._beginnings[1] if path.startswith(beginning)]

    def _beginning(candidate: Any) -> str:
        """The literal beginning of the paths a candidate can match ("" when it has none:
        always tried)."""
        if isinstance(candidate, IncludedRouter):
            prefixes = _literal_prefixes(candidate)
            return os.path.commonprefix(list(prefixes)) if prefixes else ""
        return _route_beginning(candidate) or ""
