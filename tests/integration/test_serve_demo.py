"""`digione serve --demo` (`make run`): the demo is relayed and projected while it is seeded."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from api.demo import DEMO_TENANT
from api.settings import Settings
from streams import positions
from streams.broker import free_loopback_port
from tests.faults.serve_process import Served
from tests.processes import CLIENT_LIMITS, ROOT, environment

#: The line of serve's output the admin token stands on the line after.
TOKEN_LINE = "an admin token:"


def test_the_demo_is_relayed_while_it_is_seeded_and_its_read_models_then_catch_up(
    tmp_path: Path,
) -> None:
    """When serve prints the demo's admin token, the seed is over and the relay has already
    published some of it (it ran while the demo was seeded, not after); every projection
    then reaches the store's head."""
    settings = Settings.explicit(data_dir=tmp_path / "var")
    port = free_loopback_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--demo", "--port", str(port)],
            env=environment(settings) | {"COLUMNS": "200"},
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    engine = sa.create_engine(settings.sqlalchemy_url)
    try:
        token = _admin_token(process, log)
        with engine.connect() as connection:
            published_at_token = positions.published_position(connection, DEMO_TENANT)
        health = _caught_up(f"http://127.0.0.1:{port}", token, process, log)
    finally:
        engine.dispose()
        Served(process, f"http://127.0.0.1:{port}", log).terminate()

    assert published_at_token > 0
    head = health["stores"][DEMO_TENANT]["position"]
    assert health["relay"][DEMO_TENANT]["published"] == head
    assert {p["position"] for p in health["projections"]} == {head}


def _admin_token(process: subprocess.Popen[bytes], log: Path) -> str:
    """The token serve prints once the demo is seeded (within 3 minutes)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        lines = log.read_text(errors="replace").splitlines()
        for number, line in enumerate(lines[:-1]):
            if TOKEN_LINE in line:
                return lines[number + 1].strip()
        _running_for(process, log, 0.05)
    raise AssertionError(f"serve --demo printed no token:\n{log.read_text(errors='replace')}")


def _caught_up(url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """The admin's /healthz once the relay and every projection are at the store's head
    (within 2 minutes)."""
    deadline = time.monotonic() + 120
    health: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=30.0, limits=CLIENT_LIMITS) as http:
        while time.monotonic() < deadline:
            try:
                health = http.get("/healthz", headers={"Authorization": f"Bearer {token}"}).json()
            except httpx.TransportError:
                health = {}
            projections = health.get("projections")
            if (
                isinstance(projections, list)
                and projections
                and all(p["lag"] == 0 for p in projections)
            ):
                return health
            _running_for(process, log, 0.2)
    raise AssertionError(f"the demo's read models did not catch up: {health}")


def _running_for(process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    """Waits up to `seconds` for serve to exit; AssertionError, with its log, if it did."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError(f"serve --demo exited:\n{log.read_text(errors='replace')}")
