"""Dependencies shared by routes: the container, the caller, the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.bootstrap import Container
from api.tokens import TokenError
from domain.application import TenantApplication
from domain.commands import Actor

_bearer = HTTPBearer(auto_error=False, description="A token from `digione token issue`.")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_actor(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None:
        raise TokenError("no bearer token: send Authorization: Bearer <token>")
    return container.tokens.verify(credentials.credentials)


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_tenant_app(container: ContainerDep, actor: ActorDep) -> TenantApplication:
    """The application of the caller's tenant: a token never reaches another tenant."""
    return container.tenants.get(actor.tenant)


TenantAppDep = Annotated[TenantApplication, Depends(get_tenant_app)]
