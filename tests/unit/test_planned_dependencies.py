"""Dependencies solved by plan (api/planned_dependencies.py) come out exactly as FastAPI's own
solving has them, for every route of the application and requests right and wrong; so does
the plan's answer whether a request's parameters are valid."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import urlencode

import pytest
from fastapi import (
    BackgroundTasks,
    Cookie,
    Depends,
    FastAPI,
    Header,
    Path,
    Query,
    Response,
    Security,
)
from fastapi._compat import Undefined
from fastapi.routing import _IncludedRouter
from fastapi.security import SecurityScopes
from pydantic import AliasChoices
from starlette.requests import Request

from api import planned_dependencies
from api.app import create_app
from api.bootstrap import Container
from api.deps import parameters_valid_by_fastapi


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def served(container: Container, tenant: str) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """The application and tokens of its tenant's callers (and tokens that are not)."""
    tokens = {
        role: f"Bearer {container.tokens.issue(tenant=tenant, role=role, subject=f'{role}-1')}"
        for role in ("admin", "teacher", "guardian", "student")
    }
    tokens["garbage"] = "Bearer not-a-token"
    tokens["not bearer"] = "Basic dXNlcjpwYXNz"
    yield create_app(container), tokens


def _contexts(app: FastAPI) -> list[Any]:
    """Every route of the application as FastAPI serves it (the included routers' routes,
    each with the dependant FastAPI solves for it)."""
    contexts: list[Any] = []
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter):
            contexts.extend(c for c in route.effective_route_contexts() if hasattr(c, "dependant"))
    return contexts


def _parameters(dependant: Any, location: str) -> list[Any]:
    """The names of the parameters in `location` of the dependant's whole tree."""
    found, pending = [], [dependant]
    while pending:
        node = pending.pop()
        pending.extend(node.dependencies)
        found += [
            field.alias for field in getattr(node, f"{location}_params") if field.alias not in found
        ]
    return found


#: Values every query, path and header parameter is given in turn: right, wrong, empty.
_VALUES = ("1", "x", "", "-1", "99999999999999999999", "2026-03-02", "a" * 300)


def _requests(context: Any, tokens: dict[str, str]) -> Iterator[tuple[dict[str, Any], Any]]:
    """A route's requests (their scopes' parts) and bodies: each caller, then each value in
    every parameter at once, a parameter given twice, and none."""
    dependant = context.dependant
    query = _parameters(dependant, "query")
    path = _parameters(dependant, "path")
    headers = [h for h in _parameters(dependant, "header") if h.lower() != "authorization"]
    bodies: tuple[Any, ...] = (Undefined,)
    if dependant.body_params:
        bodies = (Undefined, {}, {"sourcedId": "x", "status": "active"}, [1])
    for caller in (None, *tokens.values()):
        for value in (None, *_VALUES):
            for body in bodies if value in (None, "1") else (Undefined,):
                given = [] if value is None else [(name, _waitless(name, value)) for name in query]
                # A query parameter given twice (lists take both, a single value the last).
                if value == "x" and query:
                    given.append((query[0], "y"))
                header_values = [] if value is None else [(h, value) for h in headers]
                if caller is not None:
                    header_values.append(("authorization", caller))
                yield (
                    {
                        "query": given,
                        "path": {name: value or "p-1" for name in path},
                        "headers": header_values,
                    },
                    body,
                )


def _waitless(name: str, value: str) -> str:
    """A right `min_position` is 0, which a read model includes at once: any later position
    would have the read wait for it, the seconds until it gives up (504)."""
    return "0" if name == "min_position" and value.isdigit() else value


def _scope(app: FastAPI, context: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The ASGI scope of one of `_requests` for the route, as FastAPI's routing leaves it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": min(context.methods),
        "scheme": "http",
        "path": context.path_format,
        "raw_path": context.path_format.encode(),
        "root_path": "",
        "query_string": urlencode(request["query"]).encode(),
        "headers": [(b"host", b"testserver")]
        + [(name.lower().encode(), value.encode()) for name, value in request["headers"]],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "app": app,
        "state": {},
        "path_params": dict(request["path"]),
        "route": context.original_route,
    }


def _comparable(value: Any, *, within: bool = False) -> Any:
    """What a solved value is, for comparing two solvings: an object built per request by
    its type and its fields (these themselves by equality), a request by its path."""
    if isinstance(value, Request):
        return ("request", value.url.path)
    if within or isinstance(value, type):
        return value
    if dataclasses.is_dataclass(value):
        fields = [getattr(value, f.name) for f in dataclasses.fields(value)]
        return (type(value), [_comparable(f, within=True) for f in fields])
    if hasattr(value, "__dict__"):
        return (type(value), {k: _comparable(v, within=True) for k, v in vars(value).items()})
    return value


def _errors(errors: list[Any]) -> list[Any]:
    """Validation errors as a client sees them (their `ctx` may hold an exception object,
    which compares by identity)."""
    return [{k: e.get(k) for k in ("type", "loc", "msg", "input")} for e in errors]


async def _solve(
    solver: Any, app: FastAPI, context: Any, request: dict[str, Any], body: Any
) -> Any:
    """What `solver` made of the request: its values, errors and response, or its exception."""
    async with contextlib.AsyncExitStack() as inner, contextlib.AsyncExitStack() as function:
        scope = _scope(app, context, request)
        scope["fastapi_inner_astack"], scope["fastapi_function_astack"] = inner, function
        try:
            solved = await solver(
                request=Request(scope),
                dependant=context.dependant,
                body=body,
                dependency_overrides_provider=context.dependency_overrides_provider,
                async_exit_stack=inner,
                embed_body_fields=context._embed_body_fields,
            )
        except Exception as error:  # noqa: BLE001 - the same exception is the same outcome
            return ("raised", type(error), str(error), getattr(error, "status_code", None))
    return (
        {name: _comparable(value) for name, value in solved.values.items()},
        _errors(solved.errors),
        solved.response.status_code,
        solved.response.raw_headers,
        _comparable(solved.background_tasks),
    )


def test_every_route_of_the_application_is_solved_by_a_plan(
    served: tuple[FastAPI, dict[str, str]],
) -> None:
    app, _ = served
    contexts = _contexts(app)

    assert planned_dependencies.installed()
    assert len(contexts) > 100
    assert [
        c.path_format for c in contexts if planned_dependencies.plan_of(c.dependant) is None
    ] == []


def test_a_plan_solves_every_route_as_fastapi_does_for_right_and_wrong_requests(
    served: tuple[FastAPI, dict[str, str]],
) -> None:
    app, tokens = served
    compared = 0

    async def compare_all() -> list[str]:
        nonlocal compared
        differences = []
        for context in _contexts(app):
            for request, body in _requests(context, tokens):
                by_fastapi = await _solve(
                    planned_dependencies.framework_solve, app, context, request, body
                )
                by_plan = await _solve(
                    planned_dependencies.solve_planned, app, context, request, body
                )
                compared += 1
                if by_plan != by_fastapi:
                    differences.append(
                        f"{context.path_format} {request} {body!r}:\n"
                        f"  plan    {by_plan}\n  FastAPI {by_fastapi}"
                    )
                # What a waiting dependency asks first (api/deps.py's parameters_are_valid).
                valid_by_plan = planned_dependencies.parameters_valid(
                    context.dependant, Request(_scope(app, context, request))
                )
                valid_by_fastapi = parameters_valid_by_fastapi(
                    context.dependant, Request(_scope(app, context, request))
                )
                if valid_by_plan != valid_by_fastapi:
                    differences.append(
                        f"{context.path_format} {request}: parameters valid by plan "
                        f"{valid_by_plan}, by FastAPI {valid_by_fastapi}"
                    )
        return differences

    differences = asyncio.run(compare_all())

    assert compared > 5_000
    assert not differences, f"{len(differences)} differ:\n" + "\n".join(differences[:5])


# -- what the application's routes do not use, on a route of its own ----------------------

calls: list[str] = []


def _shared(tag: Annotated[list[str], Query()] = ["all"]) -> list[str]:  # noqa: B006 - FastAPI's default
    calls.append("shared")
    return tag


async def _opened(
    x_trace: Annotated[str | None, Header()] = None,
) -> AsyncIterator[str | None]:
    calls.append("opened")
    yield x_trace
    calls.append("closed")


async def _scoped(scopes: SecurityScopes, shared: Annotated[list[str], Depends(_shared)]) -> str:
    return " ".join(scopes.scopes) + "|" + ",".join(shared)


def _features() -> tuple[FastAPI, Any]:
    """A route using what the application's do not: a list query parameter, one under
    either of two names, a header with an underscore, a header given as a list, a
    generator, a synchronous and a cached dependency used twice, security scopes, a cookie,
    the request's background tasks, response and request."""
    app = FastAPI()

    @app.get("/features/{number}")
    def features(
        number: Annotated[int, Path(ge=1)],
        request: Request,
        response: Response,
        tasks: BackgroundTasks,
        shared: Annotated[list[str], Depends(_shared)],
        again: Annotated[list[str], Depends(_shared)],
        fresh: Annotated[list[str], Depends(_shared, use_cache=False)],
        opened: Annotated[str | None, Depends(_opened)],
        scoped: Annotated[str, Security(_scoped, scopes=["read"])],
        session: Annotated[str | None, Cookie()] = None,
        limit: Annotated[int, Query(le=10)] = 5,
        page: Annotated[int | None, Query(validation_alias=AliasChoices("page", "p"))] = None,
        x_tag: Annotated[list[str], Header()] = ["none"],  # noqa: B006 - FastAPI's default
    ) -> None:
        """Nothing: only its parameters matter here."""

    route = next(r for r in app.router.routes if getattr(r, "path", "") == "/features/{number}")
    return app, route


@pytest.mark.parametrize(
    ("query", "headers", "number"),
    [
        ([], [], "1"),
        ([("tag", "a"), ("tag", "b"), ("limit", "3")], [("x-trace", "t-1")], "2"),
        ([], [("x-tag", "a"), ("x-tag", "b")], "6"),
        ([("tag", "")], [("x_trace", "underscored"), ("cookie", "session=s-1")], "3"),
        ([("limit", "11"), ("limit", "x")], [("x-trace", "")], "0"),
        ([("tag", "a")], [], "x"),
        ([("p", "2")], [], "4"),
        ([("p", "x"), ("page", "3")], [], "5"),
    ],
)
def test_a_plan_solves_what_the_application_does_not_use_as_fastapi_does(
    query: list[tuple[str, str]], headers: list[tuple[str, str]], number: str
) -> None:
    app, route = _features()
    context = SimpleNamespace(
        path_format="/features/{number}",
        methods={"GET"},
        dependant=route.dependant,
        dependency_overrides_provider=None,
        _embed_body_fields=False,
        original_route=route,
    )
    request = {"query": query, "path": {"number": number}, "headers": headers}

    async def both() -> tuple[Any, list[str], Any, list[str]]:
        calls.clear()
        by_fastapi = await _solve(
            planned_dependencies.framework_solve, app, context, request, Undefined
        )
        fastapi_calls = list(calls)
        calls.clear()
        by_plan = await _solve(planned_dependencies.solve_planned, app, context, request, Undefined)
        return by_plan, list(calls), by_fastapi, fastapi_calls

    by_plan, plan_calls, by_fastapi, fastapi_calls = asyncio.run(both())

    assert by_plan == by_fastapi
    assert plan_calls == fastapi_calls


def test_plans_kept_are_bounded_and_worked_out_again_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(planned_dependencies, "MAX_PLANS", 3)
    monkeypatch.setattr(planned_dependencies, "_plans", {})
    routes = [_features()[1] for _ in range(5)]

    plans = [planned_dependencies.plan_of(route.dependant) for route in routes]

    assert all(plan is not None for plan in plans)
    assert len(planned_dependencies._plans) <= 3
    assert planned_dependencies.plan_of(routes[-1].dependant) is plans[-1]
    assert planned_dependencies.plan_of(routes[0].dependant) is not plans[0]
