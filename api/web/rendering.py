"""Rendering pages: templates, the page context, freshness, and errors answered as pages.

Every page route uses `PageRoute`, which turns the errors the reads and commands raise
(those api/problems.py maps, a missing session) into HTML pages with the same status the
JSON API answers, and adds the headers every page carries.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.bootstrap import Container
from api.deps import ContainerDep, Fresh, MinPosition, ProjectionOf, build_read_service
from api.problems import problem_of
from api.web.i18n import LANGUAGES, Translator
from api.web.session import (
    SESSION_COOKIE,
    CsrfError,
    LoginRequiredError,
    SignedInDep,
    clear_session,
    csrf_cookie,
    form_token,
    language_of,
    set_csrf_cookie,
    set_language_cookie,
)
from domain.commands import Actor
from domain.sealing import SealingError
from projections.reads.access import ReadModelUnavailableError
from projections.reads.page_labels import PageLabelReads

__all__ = ["FreshPage", "Freshness", "Page", "PageDep", "PageRoute", "freshness", "render"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

#: Headers of every page: no script runs, nothing frames the page, personal data is not
#: cached, and addresses (which hold sourcedIds) do not leak to other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment, built on first use (nothing is loaded at import)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Freshness:
    """How current a page's read model is: its store position against the store head."""

    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


def freshness(container: Container, actor: Actor, projection: ProjectionOf) -> Freshness:
    """How current the actor's read model of the projection is, for the page to say."""
    state = container.status.state(actor.tenant, projection(container.projections).name)
    return Freshness(position=state.position, head=state.head)


class FreshPage:
    """A page's `?min_position=N`, as api.deps.Fresh is a read route's: waits, holding no
    thread, until the signed-in person's read model includes N (for `roles` only)."""

    def __init__(self, projection: ProjectionOf, *, roles: tuple[str, ...]) -> None:
        self.fresh = Fresh(projection, roles=roles)

    async def __call__(
        self,
        request: Request,
        container: ContainerDep,
        who: SignedInDep,
        min_position: MinPosition = None,
    ) -> None:
        await self.fresh.wait(request, container, who.actor, min_position)


@dataclass
class Page:
    """One request's page: its language, and the CSRF cookie its forms need."""

    request: Request
    container: Container
    lang: str
    language_chosen: bool
    t: Translator
    _csrf: tuple[str, bool] | None = field(default=None, repr=False)

    def csrf_token(self) -> str:
        """The token for a form of this page (sets the CSRF cookie when the browser has none)."""
        if self._csrf is None:
            self._csrf = csrf_cookie(self.request)
        session = self.request.cookies.get(SESSION_COOKIE)
        return form_token(self._csrf[0], session)

    def url(self, path: str, **params: Any) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
        return f"{path}?{query}" if query else path

    def language_url(self, lang: str) -> str:
        """This page in another language (the choice is then remembered in a cookie)."""
        params = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        params.append(("lang", lang))
        return f"{self.request.url.path}?{urlencode(params)}"

    def name_of(self, actor: Actor) -> str | None:
        """The signed-in person's name for the header; None when it cannot be shown."""
        container = self.container
        reads = build_read_service(PageLabelReads, container, container.projections.roster)
        try:
            return reads.own_name(container.tenants.get(actor.tenant), actor)
        except ReadModelUnavailableError:
            return None

    def finish(self, response: Response) -> Response:
        """Sets the cookies this page decided on."""
        if self._csrf is not None and self._csrf[1]:
            set_csrf_cookie(response, self.request, self._csrf[0])
        if self.language_chosen:
            set_language_cookie(response, self.request, self.lang)
        return response


def page_of(request: Request, container: Container) -> Page:
    lang, chosen = language_of(request)
    return Page(
        request=request, container=container, lang=lang, language_chosen=chosen, t=Translator(lang)
    )


def page_context(request: Request, container: ContainerDep) -> Page:
    return page_of(request, container)


PageDep = Annotated[Page, Depends(page_context)]


def render(page: Page, template: str, *, status: int = 200, **context: Any) -> Response:
    who = context.get("who")
    who_name = page.name_of(who) if isinstance(who, Actor) else None
    html = (
        environment()
        .get_template(template)
        .render(
            page=page, t=page.t, lang=page.lang, languages=LANGUAGES, who_name=who_name, **context
        )
    )
    return page.finish(HTMLResponse(html, status_code=status))


# -- errors as pages -----------------------------------------------------------------------


def error_page(request: Request, status: int, *, kind: str | None = None) -> Response:
    """A page saying what went wrong, in the reader's language and with nothing else."""
    page = page_of(request, request.app.state.container)
    kind = kind or str(status)
    t = page.t
    title_key = f"error_title_{kind}"
    text_key = f"error_text_{kind}"
    return render(
        page,
        "error.html",
        status=status,
        title=t(title_key) if t.has(title_key) else t("error_title_other"),
        text=t(text_key) if t.has(text_key) else "",
        reload=status in (503, 504),
        who=None,
    )


def login_redirect(request: Request, *, expired: bool) -> Response:
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    query = {"next": target} if request.method == "GET" else {}
    if expired:
        query["expired"] = "1"
    response = RedirectResponse(
        "/ui/login" + (f"?{urlencode(query)}" if query else ""), status_code=303
    )
    if expired:
        clear_session(response, request)
    return response


class PageRoute(APIRoute):
    """A route answering HTML: its errors become pages, and every answer gets the headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handle(request)
            except LoginRequiredError as error:
                response = login_redirect(request, expired=error.expired)
            except CsrfError:
                response = error_page(request, 403, kind="csrf")
            except SealingError:
                raise  # answered as a JSON problem, as the API answers it
            except RequestValidationError:
                response = error_page(request, 422)
            except StarletteHTTPException as error:
                response = error_page(request, error.status_code)
            except Exception as error:
                found = problem_of(error)
                if found is None:
                    raise
                response = error_page(request, found.status)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page_handler
