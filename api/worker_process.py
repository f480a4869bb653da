"""The background worker as `digione serve` sees it: a child process it starts, watches
(through its Supervisor, which restarts it when it dies) and stops.

The worker (api/worker.py, `digione worker`) is a fresh Python process with the serve
process's settings, handed over as JSON in its environment, and the address of the Kafka
cluster (the embedded broker stays a child of serve, so a restarted worker finds it where
it was). On SQLite, where the database cannot notify, serve sends the worker a datagram on
a loopback port after each save, so its relay publishes at once rather than at its next
poll; on PostgreSQL the worker LISTENs to the event stores' own notifications.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from typing import Final

from api.settings import Settings

__all__ = [
    "PARENT_ENV",
    "RESTARTS_ENV",
    "SETTINGS_ENV",
    "WAKE_PORT_ENV",
    "WORKER_REPORT",
    "WorkerProcess",
    "free_wake_port",
]

log = logging.getLogger(__name__)

#: The worker's settings (JSON), as serve resolved them.
SETTINGS_ENV: Final = "DIGIONE_WORKER_SETTINGS"
#: How often serve restarted the worker before starting this one (for /healthz).
RESTARTS_ENV: Final = "DIGIONE_WORKER_RESTARTS"
#: The loopback UDP port the worker is woken on (SQLite only).
WAKE_PORT_ENV: Final = "DIGIONE_WORKER_WAKE_PORT"
#: The pid of the serve process that started the worker: once it is no longer the
#: worker's parent, serve is gone and the worker stops.
PARENT_ENV: Final = "DIGIONE_WORKER_PARENT"
#: The name of the worker's row in api/runtime_report.py.
WORKER_REPORT: Final = "worker"


class WorkerProcess:
    """Starts, watches and stops the worker child process."""

    def __init__(
        self,
        settings: Settings,
        *,
        bootstrap: str,
        wake_port: int | None,
        stop_seconds: float = 40.0,
    ) -> None:
        self._settings = settings
        self._bootstrap = bootstrap
        #: The loopback UDP port the worker is woken on (SQLite only).
        self.wake_port = wake_port
        self._stop_seconds = stop_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self._waker: socket.socket | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def child_environment(self) -> dict[str, str]:
        """What a child of serve (the worker, an HTTP worker) is told: serve's settings,
        with the Kafka cluster serve uses (its embedded broker, if it runs one), and the
        worker's wake-up port."""
        values = self._settings.at_broker(self._bootstrap).model_dump(mode="json")
        environment = {SETTINGS_ENV: json.dumps(values)}
        if self.wake_port is not None:
            environment[WAKE_PORT_ENV] = str(self.wake_port)
        return environment

    def start(self) -> None:
        if self.is_running:
            return
        environment = {**os.environ, **self.child_environment()}
        environment[RESTARTS_ENV] = str(self._starts)
        environment[PARENT_ENV] = str(os.getpid())
        # A session of its own: Ctrl-C at a terminal reaches serve alone, which stops the
        # worker after the HTTP requests drained (a worker stopping by itself meanwhile
        # would be restarted). A worker whose serve died stops by itself (api/worker.py).
        self._process = subprocess.Popen(
            [sys.executable, "-m", "api.worker"], env=environment, start_new_session=True
        )
        self._starts += 1
        log.info("started the worker process (pid %d)", self._process.pid)

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def failure(self) -> BaseException | None:
        """Why the process ended, when it ended by itself with a non-zero status."""
        code = None if self._process is None else self._process.poll()
        if code is None or code == 0:
            return None
        return RuntimeError(f"the worker process exited with status {code}")

    def stop(self) -> None:
        """SIGTERM: the worker finishes its batches and stops; killed if it takes too long."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self._stop_seconds)
        except subprocess.TimeoutExpired:
            log.warning("the worker process did not stop in %g s: killed", self._stop_seconds)
            process.kill()
            process.wait()

    def wake(self, _position: int) -> None:
        """Asks the worker's relay to publish now (after a save here; SQLite only)."""
        if self.wake_port is None:
            return
        if self._waker is None:
            self._waker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._waker.setblocking(False)
        try:
            self._waker.sendto(b"w", ("127.0.0.1", self.wake_port))
        except OSError:  # a full buffer or no worker yet: the worker's poll catches up
            pass


def free_wake_port() -> int:
    """A free loopback UDP port for the worker's wake-ups."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
