"""A route's dependencies solved by a plan worked out once, not by FastAPI's walk per request.

FastAPI (0.165) solves a route's dependencies with one generic function that, for every
request, works out again what never changes between requests: for each dependency its cache
key (its OAuth scopes, walked through its own dependencies), whether it is a generator, a
coroutine or a plain function, and for each parameter whether it is a model, a sequence or
JSON and under which names it may come. Under a load of class dashboard reads that walk
was a third of the HTTP process's GIL samples, most of it this bookkeeping rather than the
dependencies themselves or the validation of their values.

`install()` puts `solve_planned` in FastAPI's request handler's place of that function. It
works the answers out once per dependency tree (on the first request that solves it) and
then does, in the same order and through the same calls, what FastAPI does with them: runs
each dependency with the values solved for it (a dependency used twice runs once, as
FastAPI's cache has it), validates each parameter with FastAPI's own field validation and
body parsing, and answers FastAPI's `SolvedDependency`. What the plan does not cover is left
to FastAPI's function as it is: a request while dependency overrides are set (tests), a
tree with a dependency of limited concurrency or a parameter model, a WebSocket. Should an
upgrade of FastAPI rename what this uses, `install()` leaves FastAPI as it is (and
tests/unit/test_planned_dependencies.py fails to say so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.request_threads import in_request_thread

__all__ = [
    "framework_solve",
    "install",
    "installed",
    "parameters_valid",
    "plan_of",
    "solve_planned",
]

try:
    import fastapi.routing as _routing
    from fastapi import params
    from fastapi._compat import ModelField, Undefined, field_annotation_is_sequence
    from fastapi.background import BackgroundTasks
    from fastapi.dependencies.models import (
        Dependant,
        _get_cache_key,
        _get_oauth_scopes,
        _is_async_gen_callable,
        _is_coroutine_callable,
        _is_gen_callable,
    )
    from fastapi.dependencies.utils import (
        SolvedDependency,
        _get_param_aliases,
        _get_param_model,
        _is_json_field,
        _solve_generator,
        _validate_value_with_model_field,
        request_body_to_args,
    )
    from fastapi.dependencies.utils import solve_dependencies as framework_solve
    from fastapi.security.oauth2 import SecurityScopes
except ImportError:  # pragma: no cover - a FastAPI whose internals moved: left as it is
    framework_solve = None  # type: ignore[assignment]
    Undefined = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class _Param:
    """A path, query, header or cookie parameter, as FastAPI reads it from the request."""

    field: ModelField
    name: str
    location: str
    #: The names it may come under, in FastAPI's order of preference.
    keys: tuple[str, ...]
    #: Read with `getlist` (a sequence, not JSON, from a query string or headers).
    listed: bool
    #: An empty list counts as not given.
    sequence: bool


@dataclass(frozen=True, slots=True)
class _Sub:
    """A dependency of a dependant: its own plan, and how it is called and cached."""

    dependant: Dependant
    plan: Plan
    call: Callable[..., Any]
    name: str | None
    cache_key: Any
    use_cache: bool
    #: "generator", "coroutine" or "function".
    kind: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What FastAPI's solving of one dependant works out anew per request, worked out once."""

    dependant: Dependant
    subs: tuple[_Sub, ...]
    #: Each location that has parameters (path, query, headers, cookies, in FastAPI's
    #: order): its parameters, and the request's attribute holding its values.
    located: tuple[tuple[tuple[_Param, ...], str], ...]
    oauth_scopes: tuple[str, ...]

    async def solve(
        self,
        request: Request,
        *,
        body: Any,
        response: Response,
        background_tasks: Any,
        cache: dict[Any, Any],
        embed_body_fields: bool,
    ) -> SolvedDependency:
        """FastAPI's `solve_dependencies` for this dependant (same order, same calls)."""
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for sub in self.subs:
            solved = await sub.plan.solve(
                request,
                body=body,
                response=response,
                background_tasks=background_tasks,
                cache=cache,
                embed_body_fields=embed_body_fields,
            )
            background_tasks = solved.background_tasks
            if solved.errors:
                errors.extend(solved.errors)
                continue
            if sub.use_cache and sub.cache_key in cache:
                value = cache[sub.cache_key]
            elif sub.kind == "generator":
                stack = request.scope["fastapi_inner_astack"]
                if sub.dependant.scope == "function":
                    stack = request.scope["fastapi_function_astack"]
                value = await _solve_generator(
                    request=request, dependant=sub.dependant, stack=stack, sub_values=solved.values
                )
            elif sub.kind == "coroutine":
                value = await sub.call(**solved.values)
            else:
                value = await in_request_thread(sub.call, **solved.values)
            if sub.name is not None:
                values[sub.name] = value
            if sub.cache_key not in cache:
                cache[sub.cache_key] = value
        dependant = self.dependant
        for params_, source in self.located:
            _read_params(params_, getattr(request, source), values, errors)
        if dependant.body_params:
            body_values, body_errors = await request_body_to_args(
                body_fields=dependant.body_params,
                received_body=body,
                embed_body_fields=embed_body_fields,
            )
            values.update(body_values)
            errors.extend(body_errors)
        if dependant.http_connection_param_name:
            values[dependant.http_connection_param_name] = request
        if dependant.request_param_name:
            values[dependant.request_param_name] = request
        if dependant.background_tasks_param_name:
            if background_tasks is None:
                background_tasks = BackgroundTasks()
            values[dependant.background_tasks_param_name] = background_tasks
        if dependant.response_param_name:
            values[dependant.response_param_name] = response
        if dependant.security_scopes_param_name:
            values[dependant.security_scopes_param_name] = SecurityScopes(
                scopes=list(self.oauth_scopes)
            )
        return SolvedDependency(
            values=values,
            errors=errors,
            background_tasks=background_tasks,
            response=response,
            dependency_cache=cache,
        )


def parameters_valid(dependant: Dependant, request: Request) -> bool | None:
    """Whether the request's path, query, header and cookie parameters of the dependant's
    whole tree validate (as FastAPI would validate them); None when no plan covers it."""
    plan = plan_of(dependant)
    if plan is None:
        return None
    pending = [plan]
    while pending:
        node = pending.pop()
        pending.extend(sub.plan for sub in node.subs)
        for params_, source in node.located:
            errors: list[Any] = []
            _read_params(params_, getattr(request, source), {}, errors)
            if errors:
                return False
    return True


def _read_params(
    params_: tuple[_Param, ...],
    received: Mapping[str, Any],
    into: dict[str, Any],
    errors: list[Any],
) -> None:
    """FastAPI's `request_params_to_args` for one location: each parameter's value
    validated by its field, or its errors."""
    # FastAPI validates each location's parameters against that location's values alone.
    values: dict[str, Any] = {}
    for param in params_:
        key = param.keys[0]
        if len(param.keys) > 1:
            key = next((k for k in param.keys if k in received), key)
        value: Any = received.getlist(key) if param.listed else received.get(key)  # type: ignore[attr-defined]
        if value is None or (param.sequence and len(value) == 0):
            value = Undefined
        solved, found = _validate_value_with_model_field(
            field=param.field, value=value, values=values, loc=(param.location, key)
        )
        if found:
            errors.extend(found)
        else:
            values[param.name] = solved
    into.update(values)


_plans: dict[int, tuple[Dependant, Plan | None]] = {}
_planning = threading.Lock()
#: The most dependency trees whose plans are kept. An application has a few hundred (each
#: route as written and as included); a process that builds many applications (the tests)
#: starts over past this, rather than keeping every one of their routes alive.
MAX_PLANS = 4096


def plan_of(dependant: Dependant) -> Plan | None:
    """The dependant's plan, worked out on first use; None when the plan does not cover it."""
    known = _plans.get(id(dependant))
    if known is not None and known[0] is dependant:
        return known[1]
    with _planning:
        if len(_plans) >= MAX_PLANS:
            _plans.clear()
        plan = _plan(dependant)
        # The dependant is kept with its plan: its id is not reused while the entry lives.
        _plans[id(dependant)] = (dependant, plan)
    return plan


def _plan(dependant: Dependant) -> Plan | None:
    subs = []
    for sub in dependant.dependencies:
        if sub.call is None or sub.concurrency is not None:
            return None
        sub_plan = _plan(sub)
        if sub_plan is None:
            return None
        if _is_gen_callable(sub.call) or _is_async_gen_callable(sub.call):
            kind = "generator"
        elif _is_coroutine_callable(sub.call):
            kind = "coroutine"
        else:
            kind = "function"
        subs.append(
            _Sub(
                dependant=sub,
                plan=sub_plan,
                call=sub.call,
                name=sub.name,
                cache_key=_get_cache_key(dependant=sub),
                use_cache=sub.use_cache,
                kind=kind,
            )
        )
    located = []
    for fields, source, listed_here in (
        (dependant.path_params, "path_params", False),
        (dependant.query_params, "query_params", True),
        (dependant.header_params, "headers", True),
        (dependant.cookie_params, "cookies", False),
    ):
        planned = []
        for field in fields:
            if _get_param_model(field) is not None:
                return None
            field_info = field.field_info
            if not isinstance(field_info, params.Param):
                return None
            sequence = field_annotation_is_sequence(field_info.annotation)
            planned.append(
                _Param(
                    field=field,
                    name=field.name,
                    location=field_info.in_.value,
                    keys=tuple(key for _, key in _get_param_aliases(field)),
                    listed=listed_here and sequence and not _is_json_field(field),
                    sequence=sequence,
                )
            )
        if planned:
            located.append((tuple(planned), source))
    return Plan(
        dependant=dependant,
        subs=tuple(subs),
        located=tuple(located),
        oauth_scopes=tuple(_get_oauth_scopes(dependant=dependant)),
    )


async def solve_planned(
    *,
    request: Any,
    dependant: Dependant,
    body: Any = Undefined,
    dependency_overrides_provider: Any | None = None,
    **rest: Any,
) -> SolvedDependency:
    """FastAPI's request handler's `solve_dependencies`: by the dependant's plan where one
    covers it, else by FastAPI's own function."""
    plan = None
    if (
        not rest.get("dependency_cache")
        and rest.get("response") is None
        and rest.get("background_tasks") is None
        and isinstance(request, Request)
        and not (
            dependency_overrides_provider is not None
            and getattr(dependency_overrides_provider, "dependency_overrides", None)
        )
    ):
        plan = plan_of(dependant)
    if plan is None:
        return await framework_solve(
            request=request,
            dependant=dependant,
            body=body,
            dependency_overrides_provider=dependency_overrides_provider,
            **rest,
        )
    response = Response()
    del response.headers["content-length"]
    response.status_code = None  # type: ignore[assignment]
    return await plan.solve(
        request,
        body=body,
        response=response,
        background_tasks=None,
        cache={},
        embed_body_fields=rest["embed_body_fields"],
    )


def install() -> bool:
    """Has FastAPI's request handlers solve dependencies by plan (once per process); False
    when this FastAPI's internals are not the ones the plans follow."""
    if framework_solve is None or getattr(_routing, "solve_dependencies", None) is None:
        return False
    setattr(_routing, "solve_dependencies", solve_planned)  # noqa: B010 - not exported
    return True


def installed() -> bool:
    """Whether FastAPI's request handlers solve by plan."""
    return (
        framework_solve is not None
        and getattr(_routing, "solve_dependencies", None) is solve_planned
    )
