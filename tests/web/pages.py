"""Helpers of the page tests: signing in through the form, reading forms and labels of a page."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx
from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.reads.school import PERSONAL_WORDS


@dataclass
class Control:
    """An input, select or textarea of a page."""

    tag: str
    attrs: dict[str, str]

    @property
    def id(self) -> str | None:
        return self.attrs.get("id")

    @property
    def type(self) -> str:
        return self.attrs.get("type", "text")


@dataclass
class PageParts:
    """What a page holds that the tests look at."""

    controls: list[Control] = field(default_factory=list)
    label_for: set[str] = field(default_factory=set)
    forms: list[dict[str, str]] = field(default_factory=list)
    html_lang: str | None = None

    def hidden(self, name: str) -> str:
        values = [
            c.attrs.get("value", "")
            for c in self.controls
            if c.attrs.get("name") == name and c.type == "hidden"
        ]
        assert values, f"no hidden field {name!r} on the page"
        return values[0]

    def unlabelled(self) -> list[Control]:
        """Controls a person could fill in that no <label for=…> names."""
        return [
            c
            for c in self.controls
            if c.type not in ("hidden", "submit") and (c.id is None or c.id not in self.label_for)
        ]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts = PageParts()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag in ("input", "select", "textarea"):
            self.parts.controls.append(Control(tag, found))
        elif tag == "label" and "for" in found:
            self.parts.label_for.add(found["for"])
        elif tag == "form":
            self.parts.forms.append(found)
        elif tag == "html":
            self.parts.html_lang = found.get("lang")


def parts_of(html: str) -> PageParts:
    parser = _Parser()
    parser.feed(html)
    return parser.parts


def token_of(container: Container, tenant: str, role: str, subject: str) -> str:
    return container.tokens.issue(tenant=tenant, role=role, subject=subject)


def sign_in(client: TestClient, token: str) -> httpx.Response:
    """Signs in through the login form, as a person would; returns the redirect."""
    form = client.get("/ui/login")
    response: httpx.Response = client.post(
        "/ui/login",
        data={"token": token, "csrf_token": parts_of(form.text).hidden("csrf_token")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


def post_form(
    client: TestClient, page: httpx.Response, action: str, fields: dict[str, str | list[str]]
) -> httpx.Response:
    """Posts a form of `page` with its CSRF token (and form key) and the given fields."""
    parts = parts_of(page.text)
    data: dict[str, str | list[str]] = {"csrf_token": parts.hidden("csrf_token")}
    if any(c.attrs.get("name") == "form_key" for c in parts.controls):
        data["form_key"] = parts.hidden("form_key")
    data.update(fields)
    response: httpx.Response = client.post(action, data=data, follow_redirects=False)
    return response


def fresh(client: TestClient, container: Container, tenant: str, path: str) -> httpx.Response:
    """A page that includes every write so far (`?min_position=` the store head)."""
    head = container.tenants.get(tenant).head_position()
    separator = "&" if "?" in path else "?"
    response: httpx.Response = client.get(f"{path}{separator}min_position={head}")
    return response


def refusal_leaks_nothing(response: httpx.Response) -> bool:
    """Whether a refused page holds no personal words and no record ids beyond its own
    address (which its language links repeat)."""
    text = response.text.replace(response.request.url.path, "")
    return not any(word in text for word in PERSONAL_WORDS) and "stu-" not in text
