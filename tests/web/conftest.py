"""Fixtures of the web page tests.

The HTTP tests use the read tests' runtime (tests/reads/conftest.py: a relay and the read
projections running per test behind a TestClient). The browser tests serve the demo tenant
from a real uvicorn server with the runtime `digione serve` starts, and drive headless
Chromium (Debian's, at /usr/bin/chromium; never a downloaded browser) with Playwright.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fastapi.testclient import TestClient
from rich.console import Console

from api.app import create_app
from api.bootstrap import Container, bootstrap
from api.demo import DEMO_TENANT, DemoPlan, plan_demo, seed_demo
from api.settings import Settings
from tests.builders import School

# The read tests' runtime fixtures, for the HTTP tests of the pages.
from tests.reads.conftest import (  # noqa: F401
    broker,
    private_postgres_url,
    running,
    settings,
)
from tests.web.school_pages import a_school_with_results

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
#: A small demo: 12 classes of 2–3 students, about 900 events.
DEMO_SCALE = 0.1


@pytest.fixture
def backend() -> str:
    """SQLite only: the pages add no storage of their own, and the read functions and commands
    they call are tested on both backends (tests/reads, tests/integration)."""
    return "sqlite"


@dataclass
class LiveServer:
    """A uvicorn server on a free loopback port, in a thread of the test process."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @classmethod
    def start(cls, container: Container, *, within: float = 20.0) -> LiveServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(container), log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        wait_until(lambda: server.started, within=within, what="the server to start")
        return cls(url=f"http://127.0.0.1:{port}", server=server, thread=thread)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_until(condition: Callable[[], bool], *, within: float, what: str) -> None:
    """Polls `condition()` until it is true; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class DemoSite:
    """The demo tenant served over HTTP, and its plan (who is who)."""

    url: str
    container: Container
    plan: DemoPlan

    def token(self, role: str, subject: str) -> str:
        return self.container.tokens.issue(tenant=DEMO_TENANT, role=role, subject=subject)


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """`digione serve --demo` in small: the demo seeded, the runtime started (embedded broker,
    relay, projections), uvicorn serving; every read model at the store head."""
    container = bootstrap(Settings.explicit(data_dir=tmp_path_factory.mktemp("demo") / "var"))
    plan = plan_demo(today=container.clock().date(), scale=DEMO_SCALE)
    seed_demo(container, scale=DEMO_SCALE, console=Console(quiet=True))
    runtime = container.runtime
    runtime.start()
    server = None
    try:
        head = container.tenants.get(DEMO_TENANT).head_position()
        for projection in container.projections.all:
            assert container.status.wait_for(DEMO_TENANT, projection.name, head, 120.0), (
                f"{projection.name} did not reach the store head {head}"
            )
        server = LiveServer.start(container)
        yield DemoSite(url=server.url, container=container, plan=plan)
    finally:
        if server is not None:
            server.stop()
        runtime.stop()
        container.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Missing browser or driver is a failure, not a skip: the browser tests are part of
    # what `make test` promises, and it installs both.
    from playwright import sync_api

    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is not installed: run `make test`, which installs it")
    with sync_api.sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium, started once for a module's tests (a start takes seconds)."""
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def browser(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh context of the module's Chromium (cookies and storage of its own, as a fresh
    profile's), a phone-sized window first."""
    context = chromium.new_context(viewport=PHONE, locale="fi-FI")
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def school(running: TestClient, container: Container, tenant: str) -> School:  # noqa: F811
    """The school the page tests work in: stu-1 (guardian grd-1) assessed in 4A on li-1."""
    return a_school_with_results(running, container, tenant)
