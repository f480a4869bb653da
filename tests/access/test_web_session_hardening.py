"""The pages' session: Secure cookies behind a TLS-terminating proxy (a setting), a CSRF
token on the login form before any session exists, and no form accepted from another site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import bootstrap
from api.settings import Settings
from api.web.session import CSRF_COOKIE, SESSION_COOKIE, form_token
from tests.access.matrix_system import MatrixSystem, matrix_system
from tests.access.test_authorization_matrix import MATRIX, app_routes, concrete_path
from tests.web.pages import parts_of

__all__ = ["matrix_system"]


def _cookies_set(response: httpx.Response) -> dict[str, str]:
    """Each cookie the answer sets: its name and the Set-Cookie header that sets it."""
    headers = response.headers.get_list("set-cookie")
    return {header.split("=", 1)[0]: header for header in headers}


@pytest.fixture(params=[False, True], ids=["plain-http-demo", "behind-tls-proxy"])
def secure_cookies(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def pages(tmp_path: Path, secure_cookies: bool) -> Iterator[tuple[TestClient, str]]:
    """The pages over plain http, as a TLS-terminating proxy reaches them; a teacher's token."""
    container = bootstrap(
        Settings.explicit(data_dir=tmp_path / "var", secure_cookies=secure_cookies)
    )
    container.tenants.create("vantaa", name="Vantaa")
    token = container.tokens.issue(tenant="vantaa", role="teacher", subject="tch-1")
    try:
        with TestClient(create_app(container), base_url="http://testserver") as client:
            yield client, token
    finally:
        container.close()


def test_the_session_cookie_is_secure_exactly_when_the_setting_says_so(
    pages: tuple[TestClient, str], secure_cookies: bool
) -> None:
    client, token = pages
    form = client.get("/ui/login")
    csrf = _cookies_set(form)[CSRF_COOKIE]
    # The browser speaks https to the proxy, which passes the cookie on over plain http
    # (an http client would keep a Secure cookie to itself): it is sent here by hand.
    client.cookies.clear()

    signed_in = client.post(
        "/ui/login",
        data={"token": token, "csrf_token": parts_of(form.text).hidden("csrf_token")},
        headers={"Cookie": csrf.split(";", 1)[0]},
        follow_redirects=False,
    )

    assert signed_in.status_code == 303, signed_in.text
    session = _cookies_set(signed_in)[SESSION_COOKIE]
    assert ("; secure" in session.lower()) is secure_cookies
    assert ("; secure" in csrf.lower()) is secure_cookies
    assert "httponly" in session.lower() and "samesite=strict" in session.lower()


@pytest.mark.parametrize("secure_cookies", [False], ids=["plain-http-demo"])
def test_the_login_form_carries_a_csrf_token_before_any_session_and_needs_it(
    pages: tuple[TestClient, str],
) -> None:
    client, token = pages
    form = client.get("/ui/login")
    field = parts_of(form.text).hidden("csrf_token")

    without_field = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    wrong_field = client.post(
        "/ui/login", data={"token": token, "csrf_token": "0" * 64}, follow_redirects=False
    )
    client.cookies.clear()
    without_cookie = client.post(
        "/ui/login", data={"token": token, "csrf_token": field}, follow_redirects=False
    )

    assert CSRF_COOKIE in _cookies_set(form) and SESSION_COOKIE not in form.cookies
    assert field
    for refused in (without_field, wrong_field, without_cookie):
        assert refused.status_code == 403
        assert SESSION_COOKIE not in _cookies_set(refused)


#: Headers a browser sends with a form another site's page posts.
CROSS_SITE = {
    "Origin of another site": {"Origin": "https://evil.example"},
    "Origin null (sandboxed)": {"Origin": "null"},
    "Referer of another site": {"Referer": "https://evil.example/form.html"},
    "Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
    "Sec-Fetch-Site same-site (a sibling subdomain)": {"Sec-Fetch-Site": "same-site"},
    "same-origin fetch, foreign Origin": {
        "Sec-Fetch-Site": "same-origin",
        "Origin": "https://evil.example",
    },
}
#: Headers of a form this site's own page posted.
SAME_ORIGIN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}


def _page_forms(system: MatrixSystem) -> list[tuple[str, str]]:
    return sorted((m, p) for m, p in app_routes(system) if m == "POST" and p.startswith("/ui"))


def test_every_page_form_is_in_the_matrix_and_so_checked_here(matrix_system: MatrixSystem) -> None:
    forms = _page_forms(matrix_system)

    assert forms and all(MATRIX[form].page for form in forms)


@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=list(CROSS_SITE))
def test_a_form_posted_from_another_site_is_refused_on_every_page_form(
    matrix_system: MatrixSystem, headers: dict[str, str]
) -> None:
    """Each form is posted as the caller the matrix allows (with a right CSRF token): from
    this site it gets what the matrix says, from another site 403, and nothing is done."""
    wrong = []
    for method, route in _page_forms(matrix_system):
        entry = MATRIX[(method, route)]
        caller = next(c for c in ("guardian", "teacher", "anonymous") if c in entry.allowed)
        token = matrix_system.tokens[caller]
        client = matrix_system.client
        app = matrix_system.container.tenants.get(matrix_system.tenant)
        cookie = "c" * 32
        jar = f"{CSRF_COOKIE}={cookie}" + (f"; {SESSION_COOKIE}={token}" if token else "")
        form = {"csrf_token": form_token(cookie, token)}
        path = concrete_path(matrix_system, entry.own)
        own = client.post(
            path, data=form, headers={"Cookie": jar, **SAME_ORIGIN}, follow_redirects=False
        )
        at = app.head_position()
        foreign = client.post(
            path, data=form, headers={"Cookie": jar, **headers}, follow_redirects=False
        )
        if own.status_code != entry.allowed[caller]:
            wrong.append(f"{route} from this site: {own.status_code}")
        if foreign.status_code != 403 or SESSION_COOKIE in _cookies_set(foreign):
            wrong.append(f"{route} from another site: {foreign.status_code}")
        if app.head_position() != at:
            wrong.append(f"{route} from another site recorded something")

    assert not wrong, "\n".join(wrong)
