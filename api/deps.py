"""Dependencies shared by routes: the container, the caller, the caller's tenant, path and
header parameters, read-your-writes, and the read services.

Routes declare what they need with these `Annotated` aliases, so a route reads as the
declaration of its inputs and the call of one read or command.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from api.bootstrap import Container
from api.planned_dependencies import parameters_valid
from api.request_threads import in_request_thread
from api.tokens import TokenError
from domain.application import TenantApplication
from domain.commands import Actor
from projections.base import Projection
from projections.catalogue import ProjectionCatalogue
from projections.freshness import require_fresh_async
from projections.reads.class_dashboard import ClassDashboardReads
from projections.reads.erasure_receipt import ErasureReceipts
from projections.reads.guardian_view import GuardianViewReads
from projections.reads.page_labels import PageLabelReads
from projections.reads.read_service import ReadService
from projections.reads.roster_records import RosterRecordReads
from projections.reads.subject_export import SubjectExports

__all__ = [
    "ActorDep",
    "ClassDashboardReadsDep",
    "CommandRoute",
    "ContainerDep",
    "ErasureReceiptsDep",
    "Fresh",
    "GuardianViewReadsDep",
    "IdempotencyKey",
    "MinPosition",
    "OneHopRoute",
    "OptionalActorDep",
    "PageLabelReadsDep",
    "Permit",
    "ProjectionOf",
    "RosterRecordReadsDep",
    "SourcedIdPath",
    "SubjectExportsDep",
    "TenantAppDep",
    "build_read_service",
    "parameters_are_valid",
    "parameters_valid_by_fastapi",
    "wait_until_fresh",
]

_bearer = HTTPBearer(auto_error=False, description="A token from `digione token issue`.")


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_container(request: Request) -> Container:
    return container_of(request)


ContainerDep = Annotated[Container, Depends(get_container)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

# The dependencies below that every route uses (the caller, the tenant, the read services)
# take the container from the request rather than as a dependency of their own: FastAPI
# solves a dependency's whole tree again wherever it is used (its cache spares only the
# call), so each level shared by the caller, the tenant and the read was walked many times
# a request. A read of a roster record solved 19 dependencies, now 7 (see also `caller`).


async def get_optional_actor(request: Request, credentials: Credentials) -> Actor | None:
    """The caller of a route that also answers anonymously: None without a bearer token.

    A token that is sent must be valid (TokenError, answered 401, when it is not): a
    caller who meant to authenticate learns that it failed instead of getting less.
    The token is verified once per request (a CommandRoute verifies it before the body
    is read; the route's own dependencies then reuse that caller), on the event loop: the
    look at the announced changes is shared with the requests verified at the same time,
    and revocations are answered from memory (api/shared_epochs.py).
    """
    if credentials is None:
        return None
    verified: Actor | None = getattr(request.state, "digione_actor", None)
    if verified is None:
        verified = await container_of(request).tokens.verify_async(credentials.credentials)
        request.state.digione_actor = verified
    return verified


OptionalActorDep = Annotated[Actor | None, Depends(get_optional_actor)]


async def get_actor(request: Request, credentials: Credentials) -> Actor:
    actor = await get_optional_actor(request, credentials)
    if actor is None:
        raise TokenError("no bearer token: send Authorization: Bearer <token>")
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


async def caller(request: Request) -> Actor:
    """The request's caller, for a dependency that needs it besides the route: verified
    already when the route's ActorDep came first (as it does), else verified here.

    Not a dependency on ActorDep: FastAPI would solve the caller's tree once more for each
    dependency declaring it, where this is one look at the request's state."""
    verified: Actor | None = getattr(request.state, "digione_actor", None)
    if verified is not None:
        return verified
    return await get_actor(request, await _bearer(request))


async def get_tenant_app(request: Request, credentials: Credentials) -> TenantApplication:
    """The application of the caller's tenant: a token never reaches another tenant.

    (`credentials`, the bearer scheme, documents a route that declares the tenant without
    the caller; the caller is verified once, by whichever comes first.)"""
    actor = await caller(request)
    container = container_of(request)
    app = container.tenants.opened(actor.tenant)
    if app is None:
        # Finding (and opening) a tenant not served yet reads the database.
        app = await in_request_thread(container.tenants.get, actor.tenant)
    return app


TenantAppDep = Annotated[TenantApplication, Depends(get_tenant_app)]

# -- command routes: the caller's role before the body -------------------------------------


class Permit:
    """A command route's role check, declared `dependencies=[Depends(Permit(require_…))]`
    with a check of domain/command_roles.py: refuses (403) a caller whose role may never
    issue the command, and a token of an unknown tenant.

    On a router of CommandRoute it runs before the body is read, so the refusal does not
    depend on the body: the caller learns none of its rules, even from an unparsable one.
    """

    def __init__(self, require: Callable[[Actor], None]) -> None:
        self.require = require

    async def __call__(self, request: Request) -> None:
        # A dependency of the request alone: one node for FastAPI to solve, where declaring
        # the caller and the tenant made it solve both their trees again for the check.
        if getattr(request.state, "digione_permitted", False):
            return  # its CommandRoute checked it before the body was read
        await get_tenant_app(request, await _bearer(request))
        self.require(await caller(request))


class OneHopRoute(APIRoute):
    """A route whose synchronous endpoint costs one trip to the thread pool, not two.

    FastAPI runs a synchronous endpoint in its thread pool and then, when the endpoint
    returns data rather than a Response, validates that data against the response model
    in the thread pool again: two hand-offs per request, the second of which took a tenth
    of the HTTP process's CPU (GIL samples) under a load of roster record reads. Here such
    an endpoint is wrapped in an async one that runs it in the thread pool, so FastAPI
    validates its answer on the event loop (tens of microseconds of pydantic). Its
    parameters, documentation and the thread it runs in are as before.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _in_thread_pool(endpoint), **kwargs)


def _in_thread_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    # Only a plain synchronous function: anything else (a coroutine function, a callable
    # object whose __call__ may be async) is left to FastAPI as it is.
    if not inspect.isfunction(endpoint) or inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def run_in_thread_pool(*args: Any, **kwargs: Any) -> Any:
        return await in_request_thread(endpoint, *args, **kwargs)

    return run_in_thread_pool


class CommandRoute(OneHopRoute):
    """A route that runs its Permit checks before it reads the body (FastAPI reads and
    decodes the body before any dependency, and validates it before the route runs)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        permits = [d.call for d in self.dependant.dependencies if isinstance(d.call, Permit)]
        if not permits:
            return handle

        async def permitted_then_handle(request: Request) -> Response:
            credentials = await _bearer(request)
            actor = await get_actor(request, credentials)
            await get_tenant_app(request, credentials)
            for permit in permits:
                permit.require(actor)
            request.state.digione_permitted = True
            return await handle(request)

        return permitted_then_handle


SourcedIdPath = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]

# -- read-your-writes ----------------------------------------------------------------------

MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        description="Wait (briefly) until the read model includes this store position, "
        "e.g. the `position` a command answered with.",
    ),
]
#: Picks a read's projection out of the container's catalogue.
ProjectionOf = Callable[[ProjectionCatalogue], Projection]


async def wait_until_fresh(
    container: Container, *, tenant: str, projection: ProjectionOf, min_position: int | None
) -> None:
    """Read-your-writes: returns once the tenant's read model includes `min_position`.

    Awaits the status's shared watcher, holding no thread while it waits; after 5 s
    ReadModelNotFreshError (answered 504 with the position reached).
    """
    await require_fresh_async(
        container.status,
        tenant=tenant,
        projection=projection(container.projections).name,
        min_position=min_position,
    )


class Fresh:
    """A read route's `?min_position=N`: waits until the caller's read model of one
    projection includes store position N (see `wait_until_fresh`).

    Only callers in `roles` wait: the read refuses anyone else at once, and waiting first
    would only delay the refusal (or turn it into a 504). The pages wait alike
    (api/web/rendering.py's FreshPage), for the signed-in person.
    """

    def __init__(self, projection: ProjectionOf, *, roles: tuple[str, ...]) -> None:
        self.projection = projection
        self.roles = roles

    async def __call__(self, request: Request, min_position: MinPosition = None) -> None:
        await self.wait(request, container_of(request), await caller(request), min_position)

    async def wait(
        self, request: Request, container: Container, actor: Actor, min_position: int | None
    ) -> None:
        """Waits for `actor`'s read model when their role is one of `roles` and the request's
        parameters are valid: an invalid request is answered 422 at once, never after a wait
        (or a 504) that its min_position would cause."""
        # Without a min_position nothing waits, so the parameters need no look here.
        if min_position is not None and actor.role in self.roles and parameters_are_valid(request):
            await wait_until_fresh(
                container,
                tenant=actor.tenant,
                projection=self.projection,
                min_position=min_position,
            )


def parameters_are_valid(request: Request) -> bool:
    """Whether the path, query, header and cookie parameters of the request's route (its
    own and its dependencies') validate.

    FastAPI validates a route's own parameters only after it ran the route's dependencies,
    so a dependency that waits asks this first, with FastAPI's own validation of each field
    (by the route's plan: api/planned_dependencies.py).
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return True
    planned = parameters_valid(route.dependant, request)
    if planned is not None:
        return planned
    return parameters_valid_by_fastapi(route.dependant, request)


def parameters_valid_by_fastapi(dependant: Dependant, request: Request) -> bool:
    """`parameters_are_valid` by FastAPI's own validation of each dependant's parameters
    (a dependency tree no plan covers: api/planned_dependencies.py)."""
    pending = [dependant]
    while pending:
        dependant = pending.pop()
        pending.extend(dependant.dependencies)
        for fields, received in (
            (dependant.path_params, request.path_params),
            (dependant.query_params, request.query_params),
            (dependant.header_params, request.headers),
            (dependant.cookie_params, request.cookies),
        ):
            if request_params_to_args(fields, received)[1]:
                return False
    return True


# -- read services -------------------------------------------------------------------------
# Built per request from the container's parts: a few references, no I/O (so async, which
# keeps them off the thread pool).


ReadServiceT = TypeVar("ReadServiceT", bound=ReadService[Any])


def build_read_service(
    service: type[ReadServiceT],
    container: Container,
    projection: Projection,
    *,
    engine: Engine | None = None,
) -> ReadServiceT:
    """A read service of `projection` over the container's database (through `engine`,
    default its main engine), disclosure log and clock."""
    return service(
        engine=container.engine if engine is None else engine,
        projection=projection,
        disclosures=container.disclosures,
        clock=container.clock,
    )


async def class_dashboard_reads(request: Request) -> ClassDashboardReads:
    container = container_of(request)
    # The hottest read: through the read engine (api/bootstrap.py `_read_engine`), which
    # its reads retry on (projections/reads/access.py `read_retried`).
    return build_read_service(
        ClassDashboardReads,
        container,
        container.projections.class_dashboard,
        engine=container.read_engine,
    )


async def guardian_view_reads(request: Request) -> GuardianViewReads:
    container = container_of(request)
    return build_read_service(GuardianViewReads, container, container.projections.guardian_view)


async def page_label_reads(request: Request) -> PageLabelReads:
    container = container_of(request)
    return build_read_service(PageLabelReads, container, container.projections.roster)


async def roster_record_reads(request: Request) -> RosterRecordReads:
    container = container_of(request)
    # One statement a read: the read engine (autocommit, no ping), which it retries on.
    return build_read_service(
        RosterRecordReads, container, container.projections.roster, engine=container.read_engine
    )


async def subject_exports(request: Request) -> SubjectExports:
    container = container_of(request)
    return build_read_service(SubjectExports, container, container.projections.subject_index)


async def erasure_receipts(request: Request) -> ErasureReceipts:
    container = container_of(request)
    return ErasureReceipts(engine=container.engine, projections=container.projections.all)


ClassDashboardReadsDep = Annotated[ClassDashboardReads, Depends(class_dashboard_reads)]
GuardianViewReadsDep = Annotated[GuardianViewReads, Depends(guardian_view_reads)]
PageLabelReadsDep = Annotated[PageLabelReads, Depends(page_label_reads)]
RosterRecordReadsDep = Annotated[RosterRecordReads, Depends(roster_record_reads)]
SubjectExportsDep = Annotated[SubjectExports, Depends(subject_exports)]
ErasureReceiptsDep = Annotated[ErasureReceipts, Depends(erasure_receipts)]
