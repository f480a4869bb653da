"""The FastAPI application: routers, problem details, and the container it serves."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from api import docs_pages, planned_dependencies, problems
from api.body_limit import BodyTooLarge
from api.bootstrap import Container
from api.header_limit import HeadTooLarge
from api.oneroster import discovery as oneroster_discovery
from api.oneroster import gradebook as oneroster_gradebook
from api.oneroster import oauth as oneroster_oauth
from api.oneroster import rostering as oneroster_rostering
from api.oneroster import status_info as oneroster_status_info
from api.outages import AnswerEveryError
from api.prefix_routing import route_by_prefix
from api.routers import (
    audit,
    consents,
    dashboards,
    erasures,
    guardians,
    health,
    imports,
    learning,
    roster,
    roster_reads,
    schemas,
    services,
    subjects,
)
from api.web import create_router as create_web_router

DESCRIPTION = """
The DigiOne learning-data backbone. Every command is recorded as an immutable event;
personal data is sealed under its data subject's own key. Authenticate with a bearer token
(`digione token issue`). Errors are RFC 9457 problem details.
"""


#: FastAPI's native OpenTelemetry, off (DIGIONE_OPENTELEMETRY unset).
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(container: Container) -> FastAPI:
    # FastAPI's own /docs and /redoc load their assets from a CDN; docs_pages' serve them
    # from the installation.
    app = FastAPI(
        title="DigiOne",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        # FastAPI's defaults (the global providers) only when asked: see Settings.
        telemetry=None if container.settings.opentelemetry else TELEMETRY_OFF,
    )
    docs_pages.install(app)
    app.state.container = container
    problems.install(app)
    # Errors on /ims paths in the OneRoster status-info format (after the problems).
    oneroster_status_info.install(app)
    # Outside the app: an oversized head, then an oversized body, is refused before
    # anything reads it.
    app.add_middleware(
        BodyTooLarge,
        max_bytes=container.settings.max_body_bytes,
        larger={imports.IMPORTS_PATH: container.settings.max_import_bytes},
    )
    app.add_middleware(HeadTooLarge, max_bytes=container.settings.max_header_bytes)
    # Added last, so outermost: every error that escapes is answered as a problem (503 with
    # Retry-After while the database is away, 507 on a full disk, else 500 without internals).
    app.add_middleware(AnswerEveryError)
    for router in (
        health.router,
        roster.router,
        imports.router,
        learning.router,
        consents.router,
        erasures.router,
        roster_reads.router,
        schemas.router,
        services.router,
        dashboards.router,
        guardians.router,
        subjects.router,
        audit.router,
        oneroster_oauth.router,
        oneroster_rostering.router,
        oneroster_gradebook.router,
        oneroster_discovery.router,
        oneroster_discovery.gradebook_router,
    ):
        app.include_router(router)
    app.include_router(create_web_router())
    # Last, once every router is in: a request then asks only the routers that can match it.
    route_by_prefix(app.router)
    # Dependencies solved by plans worked out once (api/planned_dependencies.py).
    planned_dependencies.install()
    return app
