"""Signing in and out, the front page that sends each person to their pages, the style sheet."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from api.deps import ContainerDep
from api.tokens import TokenError
from api.web.rendering import PageDep, PageRoute, error_page, render
from api.web.session import (
    SESSION_COOKIE,
    FormDep,
    clear_session,
    safe_next,
    set_session,
)
from domain.commands import Actor

router = APIRouter(prefix="/ui", route_class=PageRoute)
#: Answers every /ui path no page matched; included after all pages.
fallback = APIRouter(prefix="/ui", route_class=PageRoute)

STATIC = FilePath(__file__).resolve().parent.parent / "static"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def home_of(actor: Actor) -> str | None:
    """Where a person's pages start; None for roles that have no pages."""
    if actor.role == "teacher":
        return "/ui/teacher"
    if actor.role == "guardian":
        return "/ui/guardian"
    if actor.role == "student":
        return f"/ui/guardian/children/{actor.subject}"
    return None


@router.get("")
@router.get("/")
def front_page(request: Request, page: PageDep, container: ContainerDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return RedirectResponse("/ui/login", status_code=303)
    try:
        actor = container.tokens.verify(token)
    except TokenError:
        return RedirectResponse("/ui/login?expired=1", status_code=303)
    home = home_of(actor)
    if home is not None:
        return RedirectResponse(home, status_code=303)
    return render(
        page,
        "message.html",
        title=page.t("login_title"),
        text=page.t("no_pages_for_role"),
        who=actor,
    )


@router.get("/login")
def login_page(
    page: PageDep,
    next: Annotated[str | None, Query(max_length=512)] = None,
    expired: Annotated[str | None, Query(max_length=8)] = None,
    logged_out: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    notice = None
    if expired:
        notice = page.t("login_expired")
    elif logged_out:
        notice = page.t("logged_out")
    return render(
        page, "login.html", next=safe_next(next) or "", notice=notice, error=None, who=None
    )


@router.post("/login")
def sign_in(request: Request, page: PageDep, container: ContainerDep, form: FormDep) -> Response:
    # A token pasted with its header name, as `curl` examples show it, is still the token.
    token = form.one("token").removeprefix("Bearer ").strip()
    next_page = safe_next(form.one("next"))
    try:
        actor = container.tokens.verify(token)
    except TokenError:
        return render(
            page,
            "login.html",
            status=401,
            next=next_page or "",
            notice=None,
            error=page.t("login_invalid"),
            who=None,
        )
    response = RedirectResponse(next_page or home_of(actor) or "/ui/", status_code=303)
    set_session(response, request, token)
    return response


@router.get("/logout")
def logout_page(page: PageDep) -> Response:
    return render(page, "logout.html", who=None)


@router.post("/logout")
def sign_out(request: Request, form: FormDep) -> Response:
    response = RedirectResponse("/ui/login?logged_out=1", status_code=303)
    clear_session(response, request)
    return response


@router.get("/static/{name}")
def static_file(
    request: Request, name: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9-]+\.[a-z]+$")]
) -> Response:
    path = STATIC / name
    media_type = _STATIC_TYPES.get(path.suffix)
    if media_type is None or not path.is_file():
        return error_page(request, 404)
    return Response(
        path.read_bytes(), media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )


@fallback.get("/{rest:path}")
def no_such_page(request: Request) -> Response:
    return error_page(request, 404)
