"""Web pages for people: teachers' class dashboards and guardians' views, under /ui.

Server-rendered (Jinja2), no JavaScript, in Finnish, Swedish and English. The pages call the
same read services as the JSON read API (projections/reads/) and the same consent commands
(api/consent_commands.py), so they refuse and show exactly what the API does.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.web import access_pages, guardian_pages, session_pages, teacher_pages
from api.web.rendering import PageRoute

__all__ = ["create_router"]


def create_router() -> APIRouter:
    """Every page route under /ui (kept out of the OpenAPI document: they answer HTML)."""
    router = APIRouter(route_class=PageRoute, include_in_schema=False)
    router.include_router(session_pages.router)
    router.include_router(teacher_pages.router)
    router.include_router(guardian_pages.router)
    router.include_router(access_pages.router)
    # Last, so it answers only paths no page matched.
    router.include_router(session_pages.fallback)
    return router
