"""The interactive API documentation, /docs (Swagger UI) and /redoc, served whole from the
installation, so that it works on a school network without internet: the scripts, styles and
icon are the copies that the `fastapi-offline` package (MIT) ships of Swagger UI 5
(Apache-2.0) and ReDoc 2 (MIT), served from this server instead of a CDN.

FastAPI's own pages load the same files from a CDN; the app is built with them switched off
(`docs_url=None, redoc_url=None`) and these routes put in their place.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_ASSETS", "install"]

#: Where the pages' scripts, styles and icon are served from.
DOCS_ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

# What the pages may load, as a Content-Security-Policy: this server's own files, inline
# code and styles the viewers write themselves (Swagger UI's start-up script, ReDoc's styled
# components), and data:/blob: URLs they build in the page. Nothing from another host:
# ReDoc's side menu would otherwise fetch the Redocly logo from its CDN (offline it is left
# out), and no future option of the viewers can send the spec's address elsewhere.
_ONLY_THIS_SERVER = "default-src 'self' 'unsafe-inline' data: blob:"


def _assets_directory() -> Path:
    # The package keeps its copies of the files beside its code.
    return Path(str(files("fastapi_offline") / "static"))


def _only_this_server(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _ONLY_THIS_SERVER
    return page


def _under_root(request: Request, path: str) -> str:
    """`path` under the prefix a proxy serves the app at (ASGI root_path), if any."""
    return str(request.scope.get("root_path", "")).rstrip("/") + path


def install(app: FastAPI) -> None:
    """Adds /docs, its OAuth2 redirect page, /redoc and their assets to `app`."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the API documentation pages need the app's OpenAPI (openapi_url)")
    app.mount(DOCS_ASSETS, StaticFiles(directory=_assets_directory()), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        assets = _under_root(request, DOCS_ASSETS)
        page = get_swagger_ui_html(
            openapi_url=_under_root(request, openapi_url),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=_under_root(request, OAUTH2_REDIRECT),
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            # No online validator: it would be sent the spec's address.
            swagger_ui_parameters={"validatorUrl": None},
        )
        return _only_this_server(page)

    async def swagger_ui_oauth2_redirect(_request: Request) -> HTMLResponse:
        return _only_this_server(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        assets = _under_root(request, DOCS_ASSETS)
        page = get_redoc_html(
            openapi_url=_under_root(request, openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )
        return _only_this_server(page)

    # Plain routes, as FastAPI adds its own pages: they answer HEAD as well as GET.
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT, swagger_ui_oauth2_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
