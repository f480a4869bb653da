"""The API documentation pages work on a school network without internet: headless Chromium
reaches the server and nothing else, and /docs (Swagger UI) and /redoc still render every
operation, their scripts, styles and icon served from the installation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect  # a test dependency: its absence is a failure

from api.bootstrap import bootstrap
from api.settings import Settings
from tests.web.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Route

#: The server's name on the school's network (Chromium resolves it to the loopback address):
#: not a loopback name, which Swagger UI treats as special (it never asks its online
#: validator about a spec on localhost).
SCHOOL_HOST = "digione.koulu.test"
ASSESSMENTS = "/api/v1/assessments"
ASSESSMENT_SUMMARY = "Record an assessment (score, Finnish grade, verbal assessment) of a student"
#: The viewers build the page from a 1.5 MB script and the whole OpenAPI: slow on a busy machine.
RENDERED_WITHIN_MS = 30_000


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The HTTP app over an empty installation: the docs need no data, relay or broker."""
    container = bootstrap(Settings.explicit(data_dir=tmp_path_factory.mktemp("docs") / "var"))
    server = LiveServer.start(container)
    try:
        yield server.url
    finally:
        server.stop()
        container.close()


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the module; each test opens its own context in it."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {SCHOOL_HOST} 127.0.0.1"],
    )
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class OfflinePage:
    """A page on a network limited to the server: the server answers under the school's host
    name and every other request fails as with no internet. It keeps the addresses it tried
    to reach outside, and the errors the page raised or logged."""

    page: Page
    #: The server's address on the school's network.
    base: str
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    def errors_but_refusals_of_the_pages_policy(self) -> list[str]:
        """A request the page's Content-Security-Policy refused never left the browser."""
        return [e for e in self.errors if "Content Security Policy" not in e]


@pytest.fixture
def offline(chromium: Browser, server_url: str) -> Iterator[OfflinePage]:
    context = chromium.new_context(viewport=PHONE)
    port = server_url.rsplit(":", 1)[1]
    offline = OfflinePage(context.new_page(), base=f"http://{SCHOOL_HOST}:{port}")

    def outside_the_server(url: str) -> bool:
        return not url.startswith(offline.base + "/")

    def no_internet(route: Route) -> None:
        offline.outside.append(route.request.url)
        route.abort("internetdisconnected")

    def logged(message: ConsoleMessage) -> None:
        if message.type == "error":
            offline.errors.append(message.text)

    # Only requests outside the server are intercepted: the server's own go straight through.
    context.route(outside_the_server, no_internet)
    offline.page.on("console", logged)
    offline.page.on("pageerror", lambda error: offline.errors.append(str(error)))
    try:
        yield offline
    finally:
        context.close()


def _snap(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"))


def test_swagger_ui_lists_the_operations_with_the_network_limited_to_the_server(
    offline: OfflinePage,
) -> None:
    offline.open("/docs")

    operation = offline.page.locator(f'.opblock-summary-path[data-path="{ASSESSMENTS}"]')
    expect(operation).to_be_visible(timeout=RENDERED_WITHIN_MS)
    expect(offline.page.get_by_text(ASSESSMENT_SUMMARY)).to_be_visible()
    assert offline.page.locator(".opblock").count() > 50
    assert offline.outside == [], f"/docs reached outside the server: {offline.outside}"
    assert offline.errors_but_refusals_of_the_pages_policy() == []
    _snap(offline.page, "api-docs-swagger-ui")


def test_redoc_lists_the_operations_with_the_network_limited_to_the_server(
    offline: OfflinePage,
) -> None:
    offline.open("/redoc")

    heading = offline.page.get_by_role("heading", name=ASSESSMENT_SUMMARY)
    expect(heading).to_be_visible(timeout=RENDERED_WITHIN_MS)
    assert offline.outside == [], f"/redoc reached outside the server: {offline.outside}"
    assert offline.errors_but_refusals_of_the_pages_policy() == []
    _snap(offline.page, "api-docs-redoc")
