"""Who is signed in to the pages, and the forms they post: cookies, CSRF tokens, form bodies.

The session is the bearer token itself (from `digione token issue`, later from an OpenID
Connect provider such as MPASSid), kept in an HttpOnly, SameSite=Strict cookie scoped to
/ui: page scripts cannot read it, other sites' requests do not carry it, and the JSON API,
which reads only the Authorization header, never sees it.

Forms carry a CSRF token (OWASP's signed double-submit cookie): a random value in a cookie,
and in the form an HMAC of that value keyed with the session token, so a token planted by
someone else (a sibling subdomain can set cookies) is worthless without the session, and no
server-side secret or state is needed by any API replica.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from api.deps import ContainerDep
from api.problems import ProblemError
from api.tokens import TokenError
from api.web.i18n import DEFAULT_LANGUAGE, LANGUAGES
from domain.application import TenantApplication
from domain.commands import Actor

__all__ = [
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "CsrfError",
    "Form",
    "FormDep",
    "LoginRequiredError",
    "SignedIn",
    "SignedInDep",
    "check_csrf",
    "clear_session",
    "csrf_cookie",
    "form_token",
    "language_of",
    "safe_next",
    "set_csrf_cookie",
    "set_language_cookie",
    "set_session",
]

SESSION_COOKIE = "digione_session"
CSRF_COOKIE = "digione_csrf"
LANGUAGE_COOKIE = "digione_lang"
COOKIE_PATH = "/ui"
CSRF_FIELD = "csrf_token"
_MAX_FORM_BYTES = 16 * 1024
_ONE_YEAR = 365 * 24 * 3600


class LoginRequiredError(Exception):
    """Raised when a page needs a signed-in person and the request has no valid session."""

    def __init__(self, *, expired: bool) -> None:
        super().__init__("sign in to see this page")
        self.expired = expired


class CsrfError(Exception):
    """Raised when a posted form's CSRF token does not match the browser's CSRF cookie."""


@dataclass(frozen=True)
class SignedIn:
    """The person a page is for: their actor, their tenant's application, their token."""

    actor: Actor
    app: TenantApplication
    token: str


def signed_in(request: Request, container: ContainerDep) -> SignedIn:
    """The session's person; LoginRequiredError when there is no session or it has ended."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequiredError(expired=False)
    try:
        actor = container.tokens.verify(token)
    except TokenError:
        raise LoginRequiredError(expired=True) from None
    return SignedIn(actor=actor, app=container.tenants.get(actor.tenant), token=token)


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


def _secure(request: Request) -> bool:
    """Whether cookies are marked Secure (sent over https only): when the page is served
    over https, and always with DIGIONE_SECURE_COOKIES, which production behind a
    TLS-terminating proxy sets (the proxy speaks plain http to the app). Off by default:
    browsers drop Secure cookies over plain http, as `make run`'s demo serves."""
    settings = request.app.state.container.settings
    return bool(settings.secure_cookies) or request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


# -- CSRF ----------------------------------------------------------------------------------


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie value, and whether it is new (to be set on the answer)."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def form_token(cookie: str, session_token: str | None) -> str:
    """The form's CSRF token: the cookie value signed with the session (empty before login)."""
    key = (session_token or "").encode()
    return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()


#: Sec-Fetch-Site values of a form this site's own page posted ("none": the person
#: themself, e.g. a bookmark). "same-site" is refused too: a sibling subdomain is another
#: site's code.
_OWN_FETCH_SITES = ("same-origin", "none")


def _same_origin(request: Request) -> bool:
    """Whether the form came from this site's own pages, by every header a browser sent:
    Sec-Fetch-Site, Origin (a browser sends "null" from sandboxed and privacy-sensitive
    contexts: refused), else Referer. A request with none of them (an old browser, a
    script) is judged by the CSRF token alone."""
    host = request.headers.get("host", "")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in _OWN_FETCH_SITES:
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        return urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer is not None:
        return urlsplit(referer).netloc == host
    return True


def check_csrf(request: Request, form: Form) -> None:
    """Refuses (CsrfError) a form posted from another site, or without the CSRF token of
    this browser's CSRF cookie (before sign-in too: the login form carries one)."""
    if not _same_origin(request):
        raise CsrfError("the form was posted from another site")
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie:
        raise CsrfError("the form came without this browser's CSRF cookie")
    expected = form_token(cookie, request.cookies.get(SESSION_COOKIE))
    if not hmac.compare_digest(expected, form.one(CSRF_FIELD)):
        raise CsrfError("the form's CSRF token does not match")


# -- forms ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """A posted application/x-www-form-urlencoded body."""

    fields: dict[str, list[str]]

    def one(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else ""

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]


async def checked_form(request: Request) -> Form:
    """The posted form, once its CSRF token is checked (CsrfError otherwise)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "pages accept application/x-www-form-urlencoded forms",
        )
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ProblemError(413, "too-large", "Form too large", "the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise ProblemError(
            400, "invalid-form", "Invalid form", "the form could not be read"
        ) from None
    form = Form(fields)
    check_csrf(request, form)
    return form


FormDep = Annotated[Form, Depends(checked_form)]


# -- language ------------------------------------------------------------------------------


def language_of(request: Request) -> tuple[str, bool]:
    """The page language: `?lang=` (to be remembered), else the cookie, else Finnish."""
    asked = request.query_params.get("lang")
    if asked is not None and asked in LANGUAGES:
        return asked, True
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered is not None and remembered in LANGUAGES:
        return remembered, False
    return DEFAULT_LANGUAGE, False


def set_language_cookie(response: Response, request: Request, lang: str) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        lang,
        path=COOKIE_PATH,
        max_age=_ONE_YEAR,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def safe_next(value: str | None) -> str | None:
    """A page to return to after signing in: only a path of these pages, never elsewhere."""
    if not value or not (value == "/ui" or value.startswith("/ui/")):
        return None
    if "//" in value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return None
    return value
