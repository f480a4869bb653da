"""`digione serve` in a process of its own, for tests that kill it or run two side by side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.settings import Settings
from streams.broker import free_loopback_port
from tests.processes import SMALL_POOLS

ROOT = Path(__file__).resolve().parents[2]
_START_SECONDS = 90.0
#: One client for the polls of a starting serve: `httpx.get` builds a client, and its TLS
#: context (16 ms of CPU, unused over http), at each call.
_POLLS = httpx.Client()


class ServeProcess:
    """One `digione serve` on a free loopback port, on the settings' database and data
    directory (so it shares the master key and the tenants with the test's container)."""

    def __init__(self, settings: Settings, *, bootstrap: str, tenant: str, log: Path) -> None:
        self.port = free_loopback_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # From nothing but what the test says: no DIGIONE_ variable of the developer's.
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGIONE_")}
        environment |= {
            "PYTHONPATH": str(ROOT),
            "DIGIONE_DATA_DIR": str(settings.data_dir),
            "DIGIONE_KAFKA_BOOTSTRAP": bootstrap,
            "DIGIONE_ONLY_TENANTS": json.dumps([tenant]),
            **SMALL_POOLS,
        }
        if settings.database_url is not None:
            environment["DIGIONE_DATABASE_URL"] = settings.database_url
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_answering(log)

    def _wait_until_answering(self, log: Path) -> None:
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited {self.process.returncode}: {log.read_text()}")
            try:
                _POLLS.get(f"{self.base_url}/healthz", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"serve did not answer in {_START_SECONDS} s: {log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; whatever was in flight is cut off."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()
