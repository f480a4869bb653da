"""What the services' tests share: the runtime (relay, runner, fan-out) and the HTTP app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from api.runtime import Runtime


@pytest.fixture
def running(container: Container) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = container.runtime
    runtime.start()
    with TestClient(create_app(container)) as client:
        yield client, runtime
    runtime.stop()
