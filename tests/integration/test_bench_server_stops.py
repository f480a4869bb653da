"""The benchmark's server under test stops as `digione serve` does: the bench's SIGTERM
drains uvicorn, then the runtime and its worker process stop and the process exits 0,
so nothing of one section's server runs on into the measures after it."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from api.bootstrap import bootstrap
from api.settings import Settings
from bench.server import running_server

pytestmark = [pytest.mark.broker]

TENANT = "benchstop"


def test_the_bench_server_stops_its_runtime_and_exits_cleanly_on_sigterm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.explicit(data_dir=tmp_path / "var")
    container = bootstrap(settings)
    try:
        container.tenants.create(TENANT, name="Bench server stop")
    finally:
        container.close()

    with (
        caplog.at_level(logging.WARNING, logger="bench.server"),
        running_server(settings, TENANT) as base_url,
    ):
        assert httpx.get(f"{base_url}/livez", timeout=10).status_code == 200

    stops = [record.getMessage() for record in caplog.records if record.name == "bench.server"]
    assert stops == [], stops
