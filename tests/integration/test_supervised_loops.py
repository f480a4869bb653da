"""A background loop of `serve` that ends by itself is restarted, and /healthz says so."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from tests.builders import bearer

pytestmark = [pytest.mark.broker]


@pytest.fixture
def running(container: Container) -> Iterator[TestClient]:
    container.runtime.start()
    with TestClient(create_app(container)) as client:
        yield client
    container.runtime.stop()


def test_a_relay_that_stopped_by_itself_is_restarted_and_healthz_shows_the_restart(
    running: TestClient, container: Container, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A restart 5 s after the stop (1 s in production): on a busy host the first /healthz
    # below has taken over a second, and found the relay already back.
    monkeypatch.setattr(container.runtime.supervisor, "_first", 5.0)
    admin = bearer(container, tenant, "admin", "ops-1")
    container.runtime.relay.stop()  # its thread ends, as after an error nothing caught

    down = running.get("/healthz", headers=admin).json()
    deadline, health = time.monotonic() + 30, down
    while time.monotonic() < deadline:
        health = running.get("/healthz", headers=admin).json()
        if health["loops"]["relay"]["restarts"] == 1 and health["status"] == "ok":
            break
        time.sleep(0.1)

    assert down["status"] == "degraded"
    assert down["loops"]["relay"]["running"] is False
    assert health["loops"]["relay"] == {
        "running": True,
        "restarts": 1,
        "lastError": "it ended without an error",
        "lastRestartAt": health["loops"]["relay"]["lastRestartAt"],
    }
    assert health["status"] == "ok"
    assert container.runtime.relay.is_running
