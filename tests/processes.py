"""Real `digione` processes beside a test: the command line, and `serve` on a free port.

Each gets the test's settings as DIGIONE_* variables and nothing else of the developer's
environment's DIGIONE_* variables, so a test never touches a real installation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.settings import Settings
from streams.broker import free_loopback_port

ROOT = Path(__file__).resolve().parent.parent
#: The database pools of every test's container (tests/conftest.py) and of every server
#: process a test starts. A test answers a few requests at a time, and four workers with
#: their servers (an HTTP process and a worker each, with two pools apiece) share
#: PostgreSQL's max_connections (100): with the defaults (ten kept per pool, two per
#: tenant's store) the bench smoke test held 57 connections, and a CI run was refused ("too
#: many clients already").
#: Their burst connections close as soon as they are returned, as before api/burst_pool.py:
#: a test's burst left open for a minute would add to the next test's.
SMALL_POOL_SETTINGS = {
    "database_pool_size": 2,
    "database_max_overflow": 20,
    "database_burst_idle_seconds": 0,
    "store_pool_size": 1,
}
#: The same as DIGIONE_ variables, for a server started as a process.
SMALL_POOLS = {f"DIGIONE_{name.upper()}": str(value) for name, value in SMALL_POOL_SETTINGS.items()}
#: The HTTP client of a test's server drops an idle connection after 2 s, before uvicorn
#: closes it (5 s): a request sent on a connection the server is closing at that moment fails
#: with a reset (a `keys rotate` beside the server once took longer than 5 s on a busy CI
#: machine).
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGIONE_")}
    env["PYTHONPATH"] = str(ROOT)
    env["DIGIONE_DATA_DIR"] = str(settings.data_dir)
    env["DIGIONE_MASTER_KEY_FILE"] = str(settings.resolved_master_key_file)
    env["DIGIONE_TOPIC_PREFIX"] = settings.topic_prefix
    env |= SMALL_POOLS
    if settings.database_url is not None:
        env["DIGIONE_DATABASE_URL"] = settings.database_url
    if settings.only_tenants is not None:
        env["DIGIONE_ONLY_TENANTS"] = "[" + ",".join(f'"{t}"' for t in settings.only_tenants) + "]"
    return env


def digione(
    settings: Settings, *args: str, variables: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `digione ARGS` to its end (with `variables` set over the settings' own); its
    output, whatever its exit status."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        check=False,
        env=environment(settings) | dict(variables or {}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Server:
    """A running `digione serve` process and an HTTP client of it."""

    process: subprocess.Popen[bytes]
    http: httpx.Client


@contextmanager
def serving(settings: Settings, log: Path) -> Iterator[Server]:
    """`digione serve` (with its embedded broker, relay and projections) until the block
    ends; then SIGINT, and SIGKILL if it has not stopped within 20 s."""
    port = free_loopback_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=environment(settings),
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0, limits=CLIENT_LIMITS)
        try:
            _wait_until_up(process, http, log)
            yield Server(process, http)
        finally:
            http.close()
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], http: httpx.Client, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"digione serve exited:\n{log.read_text(errors='replace')}")
        try:
            if http.get("/livez").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"digione serve did not answer:\n{log.read_text(errors='replace')}")
