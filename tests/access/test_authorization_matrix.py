"""The authorization matrix: every route of the app (API and pages) × every kind of caller
× own and other (class, child, tenant), each asserted allowed or refused as the contract
says. Refusals come before the body is read (an invalid body still gets 401/403, never
422) and tell nothing beyond their status.

The expectations are written here, one entry per route and method; a route without one
fails `test_every_route_has_an_entry_in_the_matrix` until it is added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.oneroster import discovery as oneroster_discovery
from api.oneroster import gradebook as oneroster_gradebook
from api.oneroster import rostering as oneroster_rostering
from api.web.session import CSRF_COOKIE, SESSION_COOKIE, form_token
from streams.schemas import default_registry
from tests.access.matrix_system import MatrixSystem, matrix_system

__all__ = ["matrix_system"]

CALLERS = (
    "anonymous",
    "expired",
    "tampered",
    "revoked",
    "admin",
    "teacher",
    "other_teacher",
    "guardian",
    "other_guardian",
    "student",
    "auditor",
    "service",
    "unscoped_service",
    "other_tenant_admin",
)
UNAUTHENTICATED = ("anonymous", "expired", "tampered", "revoked")
#: Words of the school's people: none may appear in a refusal.
PERSONAL_WORDS = ("Aino", "Virtanen", "Eero", "Oppilas", "Greta", "Huoltaja", "Tiina", "Pekka")
#: Field names of command bodies: a refusal that names one tells the body's rules.
SCHEMA_WORDS = ("givenName", "familyName", "assessedAt", "grantedBy", 'lineItem"', "missing")


@dataclass(frozen=True)
class Entry:
    """One route and method: the path to ask (own: the caller's class, child, tenant;
    other: someone else's) and who is answered what.

    `allowed` maps a caller to the status it gets on `own` (an invalid body for state-
    changing routes, so an allowed caller of a command gets 422: it passed the checks and
    only then was its body read). Every caller not listed is refused with `refused`'s code
    for it, or 403 by default (401 for the unauthenticated). `other` maps callers allowed
    on `own` to what they get on the `other` path instead.
    """

    own: str
    allowed: Mapping[str, int]
    other_path: str | None = None
    other: Mapping[str, int] = field(default_factory=dict)
    refused: Mapping[str, int] = field(default_factory=dict)
    #: A path of a record that exists nowhere: a refusal on `other` (or another tenant's
    #: refusal on `own`) must answer exactly as this does, hinting nothing of existence.
    absent: str | None = None
    page: bool = False

    def expected(self, caller: str) -> int:
        """What `caller` gets on `own`."""
        if caller in self.allowed:
            return self.allowed[caller]
        if caller in self.refused:
            return self.refused[caller]
        if caller in UNAUTHENTICATED:
            return 303 if self.page else 401
        return 403


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


def _valid_token_holders(status: int) -> dict[str, int]:
    return {c: status for c in CALLERS if c not in UNAUTHENTICATED}


#: Who writes rosters: an admin (of the token's own tenant, wherever the record lives) and
#: the student information system's service with scope roster.createput.
ROSTER_WRITERS = {"admin": 422, "service": 422, "other_tenant_admin": 422}
#: Deleting a record that does not exist: the writers get as far as the store (404).
ROSTER_DELETERS = {"admin": 404, "service": 404, "other_tenant_admin": 404}
ROSTER_RECORDS = {
    "orgs": "sch-1",
    "academicSessions": "year-2026",
    "courses": "ma-4",
    "classes": "cls-4a",
    "users": "stu-1",
    "enrollments": "enr-1",
    "demographics": "stu-1",
}

MATRIX: dict[tuple[str, str], Entry] = {
    # -- public: documentation, liveness, schemas --------------------------------------
    ("GET", "/openapi.json"): Entry("/openapi.json", everyone(200)),
    ("GET", "/docs"): Entry("/docs", everyone(200)),
    ("GET", "/docs/oauth2-redirect"): Entry("/docs/oauth2-redirect", everyone(200)),
    ("GET", "/redoc"): Entry("/redoc", everyone(200)),
    ("GET", "/livez"): Entry("/livez", everyone(200)),
    ("GET", "/api/v1/schemas"): Entry("/api/v1/schemas", everyone(200)),
    ("GET", "/api/v1/schemas/{fingerprint}"): Entry("/api/v1/schemas/{fingerprint}", everyone(200)),
    # A service's own stream: only a client with an agreement in force (none of the
    # matrix's callers has one: the "service" token is the SIS's, without an agreement).
    ("GET", "/api/v1/services/me/events"): Entry(
        "/api/v1/services/me/events", {}, refused=everyone(401)
    ),
    ("GET", "/api/v1/services/me/keys"): Entry(
        "/api/v1/services/me/keys?subject=stu-1", {}, refused=everyone(401)
    ),
    # Anyone may ask for the status; a token that is sent must be valid.
    ("GET", "/healthz"): Entry("/healthz", {"anonymous": 200, **_valid_token_holders(200)}),
    ("GET", "/api/v1/curriculum/objectives"): Entry(
        "/api/v1/curriculum/objectives?subject=MA", _valid_token_holders(200)
    ),
    # -- the auditors' interface: auditors only (an admin runs the system, never audits it)
    ("GET", "/api/v1/audit/verify"): Entry("/api/v1/audit/verify", {"auditor": 200}),
    ("GET", "/api/v1/audit/keys"): Entry("/api/v1/audit/keys", {"auditor": 200}),
    ("GET", "/api/v1/audit/events"): Entry("/api/v1/audit/events", {"auditor": 200}),
    # -- roster commands and reads -----------------------------------------------------
    **{
        ("PUT", f"/api/v1/roster/{c}/{{sourcedId}}"): Entry(
            f"/api/v1/roster/{c}/{i}", ROSTER_WRITERS
        )
        for c, i in ROSTER_RECORDS.items()
    },
    **{
        ("DELETE", f"/api/v1/roster/{c}/{{sourcedId}}"): Entry(
            f"/api/v1/roster/{c}/gone-1", ROSTER_DELETERS
        )
        for c in ROSTER_RECORDS
    },
    # Reads of the roster are an admin's; another tenant's admin finds nothing there.
    **{
        ("GET", f"/api/v1/roster/{c}/{{sourcedId}}"): Entry(
            f"/api/v1/roster/{c}/{i}",
            {"admin": 200 if c != "demographics" else 404},
            refused={"other_tenant_admin": 404},
            absent=f"/api/v1/roster/{c}/none-1",
        )
        for c, i in ROSTER_RECORDS.items()
    },
    # -- learning record: teachers ------------------------------------------------------
    ("PUT", "/api/v1/lineItems/{sourcedId}"): Entry(
        "/api/v1/lineItems/li-1", {"teacher": 422, "other_teacher": 422}
    ),
    ("POST", "/api/v1/assessments"): Entry(
        "/api/v1/assessments", {"teacher": 422, "other_teacher": 422}
    ),
    ("POST", "/api/v1/attainments"): Entry(
        "/api/v1/attainments", {"teacher": 422, "other_teacher": 422}
    ),
    ("GET", "/api/v1/dashboards/classes/{classSourcedId}"): Entry(
        "/api/v1/dashboards/classes/cls-4a",
        {"teacher": 200},
        other_path="/api/v1/dashboards/classes/cls-5b",
        other={"teacher": 403},
        absent="/api/v1/dashboards/classes/none-1",
    ),
    # -- consents: guardians and students for themselves; an admin may withdraw ----------
    ("POST", "/api/v1/consents"): Entry(
        "/api/v1/consents", {"guardian": 422, "other_guardian": 422, "student": 422}
    ),
    ("DELETE", "/api/v1/consents/{consent_id}"): Entry(
        "/api/v1/consents/{consent}",
        {"admin": 200, "guardian": 200},
        refused={"other_tenant_admin": 404},
        other_path="/api/v1/consents/none-1",
        other={"admin": 404, "guardian": 404},
    ),
    # A CSV bundle is a roster write: the writers get as far as reading it (not a zip: 400).
    ("POST", "/api/v1/imports"): Entry(
        "/api/v1/imports", {"admin": 400, "service": 400, "other_tenant_admin": 400}
    ),
    # -- privacy: the data protection officer, auditors, the data subject -----------------
    ("POST", "/api/v1/erasures"): Entry(
        "/api/v1/erasures", {"admin": 422, "other_tenant_admin": 422}
    ),
    ("GET", "/api/v1/erasures/{erasureId}"): Entry(
        "/api/v1/erasures/{erasure}",
        {"admin": 200, "auditor": 200},
        refused={"other_tenant_admin": 404},
    ),
    # A guardian's own child (stu-1); stu-1 is 9, so not yet their own export's asker.
    ("GET", "/api/v1/subjects/{sourcedId}/export"): Entry(
        "/api/v1/subjects/stu-1/export",
        {"admin": 200, "guardian": 200},
        refused={"other_tenant_admin": 404},
        other_path="/api/v1/subjects/stu-2/export",
        other={"guardian": 403},
        absent="/api/v1/subjects/none-1/export",
    ),
    # -- guardians and students ---------------------------------------------------------
    ("GET", "/api/v1/guardians/me/children"): Entry(
        "/api/v1/guardians/me/children", {"guardian": 200, "other_guardian": 200}
    ),
    ("GET", "/api/v1/guardians/me/children/{studentSourcedId}"): Entry(
        "/api/v1/guardians/me/children/stu-1",
        {"guardian": 200, "student": 200},
        other_path="/api/v1/guardians/me/children/stu-2",
        other={"guardian": 403, "student": 403},
        absent="/api/v1/guardians/me/children/none-1",
    ),
    ("GET", "/api/v1/students/me"): Entry("/api/v1/students/me", {"student": 200}),
    # -- pages: no session (or an ended one) is sent to sign in (303) ----------------------
    ("GET", "/ui/login"): Entry("/ui/login", everyone(200), page=True),
    # The form is accepted (its CSRF token is right), then the missing token refused.
    ("POST", "/ui/login"): Entry("/ui/login", everyone(401), page=True),
    ("GET", "/ui/logout"): Entry("/ui/logout", everyone(200), page=True),
    ("POST", "/ui/logout"): Entry("/ui/logout", everyone(303), page=True),
    ("GET", "/ui/static/{name}"): Entry("/ui/static/style.css", everyone(200), page=True),
    ("GET", "/ui/{rest:path}"): Entry("/ui/none-1", everyone(404), page=True),
    # The front page sends people to their pages (303), and tells others there are none.
    **{
        ("GET", path): Entry(
            path,
            {
                **dict.fromkeys(UNAUTHENTICATED, 303),
                **dict.fromkeys(("teacher", "other_teacher", "guardian", "other_guardian"), 303),
                "student": 303,
                **dict.fromkeys(("admin", "auditor", "service", "unscoped_service"), 200),
                "other_tenant_admin": 200,
            },
            page=True,
        )
        for path in ("/ui", "/ui/")
    },
    ("GET", "/ui/teacher"): Entry("/ui/teacher", {"teacher": 200, "other_teacher": 200}, page=True),
    ("GET", "/ui/teacher/classes/{class_id}"): Entry(
        "/ui/teacher/classes/cls-4a",
        {"teacher": 200},
        other_path="/ui/teacher/classes/cls-5b",
        other={"teacher": 403},
        absent="/ui/teacher/classes/none-1",
        page=True,
    ),
    ("GET", "/ui/teacher/classes/{class_id}/students/{student_id}"): Entry(
        "/ui/teacher/classes/cls-4a/students/stu-1",
        {"teacher": 200},
        other_path="/ui/teacher/classes/cls-5b/students/stu-1",
        other={"teacher": 403},
        absent="/ui/teacher/classes/none-1/students/stu-1",
        page=True,
    ),
    # A student's pages start at their own child page (303 there).
    ("GET", "/ui/guardian"): Entry(
        "/ui/guardian", {"guardian": 200, "other_guardian": 200, "student": 303}, page=True
    ),
    ("GET", "/ui/guardian/children/{student_id}"): Entry(
        "/ui/guardian/children/stu-1",
        {"guardian": 200, "student": 200},
        other_path="/ui/guardian/children/stu-2",
        other={"guardian": 403, "student": 403},
        absent="/ui/guardian/children/none-1",
        page=True,
    ),
    # An empty form (CSRF token only): an allowed caller is told what is missing (422).
    ("POST", "/ui/guardian/children/{student_id}/consents"): Entry(
        "/ui/guardian/children/stu-1/consents",
        {"guardian": 422, "student": 422},
        other_path="/ui/guardian/children/stu-2/consents",
        other={"guardian": 403, "student": 403},
        page=True,
    ),
    # The right of access as a page and a download: the family's (a student from 15).
    **{
        ("GET", f"/ui/guardian/children/{{student_id}}/{leaf}"): Entry(
            f"/ui/guardian/children/stu-1/{leaf}",
            {"guardian": 200},
            other_path=f"/ui/guardian/children/stu-2/{leaf}",
            other={"guardian": 403},
            absent=f"/ui/guardian/children/none-1/{leaf}",
            page=True,
        )
        for leaf in ("access", "access.json")
    },
    ("POST", "/ui/guardian/children/{student_id}/consents/{consent_id}/withdraw"): Entry(
        "/ui/guardian/children/stu-1/consents/{consent}/withdraw",
        {"guardian": 303},
        other_path="/ui/guardian/children/stu-2/consents/{consent}/withdraw",
        other={"guardian": 403},
        page=True,
    ),
    # -- OneRoster: OAuth client tokens only; the platform's own tokens open nothing ---------
    # The provider's routes are its routers' (one table of operations each); discovery is
    # public, every data route refuses a platform token as unauthenticated, before any body.
    **{
        (method, route.path): Entry(route.path, everyone(200))
        for router in (oneroster_discovery.router, oneroster_discovery.gradebook_router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    },
    **{
        (method, route.path): Entry(re.sub(r"\{[^}]+\}", "x-1", route.path), everyone(401))
        for router in (oneroster_rostering.router, oneroster_gradebook.router)
        for route in router.routes
        if isinstance(route, APIRoute) and "/discovery" not in route.path
        for method in route.methods or ()
    },
    # The token endpoint reads no bearer token: an invalid body (no grant type) is refused
    # as RFC 6749 says, whoever sends it.
    ("POST", "/oauth/token"): Entry("/oauth/token", everyone(400)),
}


# -- asking --------------------------------------------------------------------------------

_CSRF = "c" * 32


def concrete_path(system: MatrixSystem, template: str) -> str:
    return template.format(
        consent=system.consent_id,
        erasure=system.erasure_id,
        fingerprint=default_registry().all()[0].fingerprint_hex,
    )


def ask(system: MatrixSystem, method: str, path: str, caller: str, *, page: bool) -> httpx.Response:
    """`caller` asks `method path`: by bearer token (API) or session cookie (pages). A body,
    where one goes, is invalid: a refusal must not depend on it."""
    token = system.tokens[caller]
    client = system.client
    client.cookies.clear()
    url = concrete_path(system, path)
    if page:
        cookies = [f"{CSRF_COOKIE}={_CSRF}"] + ([f"{SESSION_COOKIE}={token}"] if token else [])
        headers = {"Cookie": "; ".join(cookies)}
        form = {"csrf_token": form_token(_CSRF, token)} if method == "POST" else None
        answer: httpx.Response = client.request(
            method, url, headers=headers, data=form, follow_redirects=False
        )
        return answer
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if method in ("PUT", "POST"):
        # Not even JSON: FastAPI decodes a body before any dependency runs.
        headers["Content-Type"] = "application/json"
        body = b'{"unexpected": '
    answer = client.request(method, url, headers=headers, content=body)
    return answer


def _leaks(response: httpx.Response) -> list[str]:
    """Personal words and body rules a refusal shows (beyond its own address)."""
    text = response.text
    for part in response.request.url.path.split("/"):  # the caller's own words
        text = text.replace(part, "…") if part else text
    return [w for w in (*PERSONAL_WORDS, *SCHEMA_WORDS, "stu-", "cls-") if w in text]


def _without(response: httpx.Response, *paths: str) -> tuple[int, str]:
    text = response.text
    for path in paths:
        for part in path.split("/"):
            if part:
                text = text.replace(part, "…")
    return response.status_code, text


def app_routes(system: MatrixSystem) -> set[tuple[str, str]]:
    """(method, path) of every route of the app, HEAD aside (Starlette adds it to GETs)."""
    found = set()
    for context in iter_route_contexts(system.client.app.routes):  # type: ignore[attr-defined]
        for method in context.methods or ():
            if method != "HEAD" and context.path is not None:
                found.add((method, context.path))
    return found


# -- the tests -----------------------------------------------------------------------------


def test_every_route_has_an_entry_in_the_matrix(matrix_system: MatrixSystem) -> None:
    routes = app_routes(matrix_system)

    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)

    assert not missing, f"add these routes to the authorization matrix: {missing}"
    assert not stale, f"these matrix entries name no route any more: {stale}"


@pytest.mark.parametrize(
    ("method", "route"), sorted(MATRIX), ids=[f"{m} {r}" for m, r in sorted(MATRIX)]
)
def test_each_caller_is_answered_as_the_matrix_says(
    matrix_system: MatrixSystem, method: str, route: str
) -> None:
    entry = MATRIX[(method, route)]
    wrong: list[str] = []

    for caller in CALLERS:
        answer = ask(matrix_system, method, entry.own, caller, page=entry.page)
        expected = entry.expected(caller)
        if answer.status_code != expected:
            wrong.append(f"{caller}: {answer.status_code}, not {expected}: {answer.text[:200]}")
        elif caller not in entry.allowed and (leaked := _leaks(answer)):
            wrong.append(f"{caller}'s refusal shows {leaked}")
        if entry.other_path is not None and caller in entry.allowed:
            other = ask(matrix_system, method, entry.other_path, caller, page=entry.page)
            expected_other = entry.other.get(caller, expected)
            if other.status_code != expected_other:
                wrong.append(
                    f"{caller} on {entry.other_path}: {other.status_code}, not {expected_other}"
                )
            elif caller in entry.other and (leaked := _leaks(other)):
                wrong.append(f"{caller}'s refusal on {entry.other_path} shows {leaked}")

    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("method", "route"),
    [k for k, e in sorted(MATRIX.items()) if e.absent is not None],
    ids=[f"{m} {r}" for (m, r), e in sorted(MATRIX.items()) if e.absent is not None],
)
def test_a_refusal_answers_alike_whether_or_not_the_record_exists(
    matrix_system: MatrixSystem, method: str, route: str
) -> None:
    entry = MATRIX[(method, route)]
    assert entry.absent is not None
    differ = []
    for caller in CALLERS:
        refused_on_own = caller not in entry.allowed and entry.expected(caller) != 401
        refused_on_other = caller in entry.other and entry.other_path is not None
        for path in (entry.own,) * refused_on_own + (entry.other_path or "",) * refused_on_other:
            there = ask(matrix_system, method, path, caller, page=entry.page)
            nowhere = ask(matrix_system, method, entry.absent, caller, page=entry.page)
            if _without(there, path, entry.absent) != _without(nowhere, path, entry.absent):
                differ.append(
                    f"{caller}: {path} {there.status_code} {there.text[:150]!r} but "
                    f"{entry.absent} {nowhere.status_code} {nowhere.text[:150]!r}"
                )

    assert not differ, "\n".join(differ)


#: Commands whose ownership is in the body: a caller of the right role names someone
#: else's class or child in an otherwise valid command. (caller, method, path, body)
OWNERSHIP_IN_THE_BODY: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "other_teacher",
        "POST",
        "/api/v1/assessments",
        {"student": "stu-1", "class": "cls-4a", "grade": "8", "assessedAt": "2026-02-21"},
    ),
    (
        "other_teacher",
        "POST",
        "/api/v1/attainments",
        {
            "student": "stu-1",
            "class": "cls-4a",
            "objective": "MA.3-6.T5",
            "level": 3,
            "assessedAt": "2026-02-21",
        },
    ),
    (
        "other_teacher",
        "PUT",
        "/api/v1/lineItems/li-9",
        {
            "lineItem": {
                "title": "Vieras",
                "assignDate": "2026-02-01T08:00:00Z",
                "dueDate": "2026-02-14T16:00:00Z",
                "class": {"sourcedId": "cls-4a"},
                "category": {"sourcedId": "test"},
            }
        },
    ),
    (
        "other_guardian",
        "POST",
        "/api/v1/consents",
        {
            "student": "stu-1",
            "grantedBy": "grd-2",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["assessment"],
        },
    ),
    (
        "student",
        "POST",
        "/api/v1/consents",
        {
            "student": "stu-2",
            "grantedBy": "stu-1",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["assessment"],
        },
    ),
]


@pytest.mark.parametrize(
    ("caller", "method", "path", "body"),
    OWNERSHIP_IN_THE_BODY,
    ids=[f"{c} {m} {p}" for c, m, p, _ in OWNERSHIP_IN_THE_BODY],
)
def test_a_command_about_someone_elses_class_or_child_is_refused_and_records_nothing(
    matrix_system: MatrixSystem, caller: str, method: str, path: str, body: dict[str, Any]
) -> None:
    app = matrix_system.container.tenants.get(matrix_system.tenant)
    head = app.head_position()

    answer = matrix_system.client.request(
        method,
        path,
        json=body,
        headers={"Authorization": f"Bearer {matrix_system.tokens[caller]}"},
    )

    assert answer.status_code == 403, answer.text
    assert not [w for w in PERSONAL_WORDS if w in answer.text]
    assert app.head_position() == head
