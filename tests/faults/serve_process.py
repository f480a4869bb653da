"""`digione serve` as a real process: started with explicit settings, its log in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from streams.broker import free_loopback_port
from tests.processes import CLIENT_LIMITS, SMALL_POOLS

REPO_ROOT = Path(__file__).resolve().parents[2]
#: One client for the polls of a starting serve: `httpx.get` builds a client, and its TLS
#: context (16 ms of CPU, unused over http), at each call.
_POLLS = httpx.Client()


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, limits=CLIENT_LIMITS)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, within: float = 60.0) -> int:
        """SIGTERM, then the exit code (SIGKILL, and a failure, if it takes too long)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"serve did not stop within {within} s of SIGTERM") from None


def _environment(settings: dict[str, str]) -> dict[str, str]:
    # Only what the test names: never the developer's own DIGIONE_ variables.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGIONE_")}
    env |= SMALL_POOLS
    env.update({f"DIGIONE_{name.upper()}": value for name, value in settings.items()})
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def serving(settings: dict[str, str], log: Path, *, within: float = 90.0) -> Iterator[Served]:
    """A `digione serve` process with `settings` (DIGIONE_ names, lower case, unprefixed),
    answering on a free port; SIGTERMed (or killed) at the end."""
    port = free_loopback_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            cwd=REPO_ROOT,
            env=_environment(settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + within
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {process.returncode}:\n{served.log_text()}"
                )
            try:
                if _POLLS.get(f"{served.url}/livez", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not answer within {within} s")
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
