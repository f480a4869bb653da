"""The server under test: its process, its health, and what its answers must be."""

from __future__ import annotations

import logging
import multiprocessing
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import httpx

from api.bootstrap import bootstrap
from api.settings import Settings
from bench.http_client import Answer

__all__ = [
    "READ_TIMEOUT_SECONDS",
    "BenchmarkSetupError",
    "CatchUp",
    "require_status",
    "running_server",
    "wait_until_caught_up",
]

log = logging.getLogger(__name__)

#: Longer than the server waits for `min_position` before it answers 504.
READ_TIMEOUT_SECONDS = 30.0
_SERVER_START_SECONDS = 60.0
_SERVER_STOP_SECONDS = 30.0
#: How long the runtime may take to work off what a section left, before the next begins.
_CATCH_UP_SECONDS = 180.0


class BenchmarkSetupError(Exception):
    """Raised when the system under test cannot be set up or does not answer as expected."""


@dataclass(frozen=True)
class CatchUp:
    """How long the relay and every projection took to reach a tenant's store head."""

    seconds: float
    #: Projection (or "relay") → events still behind when the wait gave up; empty if none.
    behind: dict[str, int]


def require_status(response: httpx.Response | Answer, *statuses: int, what: str) -> None:
    """Raises BenchmarkSetupError unless `response` has one of `statuses`; `what` names it."""
    if response.status_code not in statuses:
        expected = " or ".join(str(status) for status in statuses)
        raise BenchmarkSetupError(
            f"{what} was answered {response.status_code}, not {expected}: {response.text[:500]}"
        )


@contextmanager
def running_server(settings: Settings, tenant: str, *also: str) -> Iterator[str]:
    """The real app and runtime under uvicorn in a process of its own, serving `tenant`
    (and the tenants `also` names); yields its base URL."""
    context = multiprocessing.get_context("spawn")
    port_receiver, port_sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_serve,
        args=(settings, frozenset({tenant, *also}), port_sender),
        name="digione-bench-server",
        # Not a daemon: with DIGIONE_HTTP_WORKERS above 1 it starts uvicorn's workers, and a
        # daemon process may have no children. It is stopped below whatever happens.
        daemon=False,
    )
    process.start()
    try:
        base_url = f"http://127.0.0.1:{_port_of(process, port_receiver)}"
        _wait_until_healthy(base_url, process)
        yield base_url
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down, then the runtime and the container
        process.join(timeout=_SERVER_STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
        if process.exitcode != 0:
            # Its worker process and connections may outlive it into the next measures.
            log.warning(
                "the server under test did not stop as `serve` does (exit status %s): "
                "its runtime may not have stopped",
                process.exitcode,
            )


def wait_until_caught_up(base_url: str, admin_token: str, tenant: str) -> CatchUp:
    """Waits until /healthz shows the relay and every projection at the tenant's store head,
    or _CATCH_UP_SECONDS pass; says how long it took and what was still behind.

    `admin_token` is an admin's of `tenant`: /healthz shows the positions only to them."""
    began = time.monotonic()
    behind: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, timeout=30.0, headers=headers) as http:
        while True:
            answer = http.get("/healthz")
            require_status(answer, 200, what="/healthz with the admin's token")
            health = answer.json()
            head = int(health["stores"][tenant]["position"])
            published = int(health["relay"].get(tenant, {}).get("published") or 0)
            behind = {
                state["projection"]: head - int(state["position"])
                for state in health["projections"]
                if state["tenant"] == tenant and int(state["position"]) < head
            }
            if published < head:
                behind["relay"] = head - published
            if not behind or time.monotonic() - began > _CATCH_UP_SECONDS:
                return CatchUp(seconds=time.monotonic() - began, behind=behind)
            time.sleep(0.1)  # polling interval, not a guess at how long it takes


def _serve(settings: Settings, tenants: frozenset[str], port_sender: Connection) -> None:
    """The server process: the app and the runtime (relay, projection runner, retention) as
    `digione serve` builds them, for the benchmark's tenant, without access logs.

    It binds a free loopback port itself and reports it, so no other process can take the
    port between choosing and binding it.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from api.app import create_app
    from api.asgi import http_workers
    from api.connection_budget import serve_process_role
    from api.heap import settle_heap
    from api.stop_signals import StopSignals

    # As `serve`: the bench's SIGTERM stops the runtime and its worker process below.
    stop_signals = StopSignals()

    # Only the benchmark's tenant: the database may hold others (another run's, or real
    # ones when DIGIONE_DATABASE_URL names a shared server), and a second relay and runner
    # over those would contend with their own and disturb what is measured.
    container = bootstrap(
        settings.model_copy(update={"only_tenants": tenants}),
        role=serve_process_role(settings.http_workers),  # as `serve`'s own process
    )
    try:
        container.runtime.start(worker_process=settings.worker_process)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port_sender.send(listener.getsockname()[1])
        port_sender.close()
        if settings.http_workers > 1:
            # As `serve` runs them, on the one listening socket.
            config = uvicorn.Config(
                **http_workers(container), log_level="warning", access_log=False
            )
            stop_signals.serving = True  # from here uvicorn takes the signals
            Multiprocess(config, sockets=[listener]).run()
            return
        app = create_app(container)
        settle_heap()
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        stop_signals.serving = True
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        stop_signals.serving = True
        container.close()


def _port_of(process: BaseProcess, port_receiver: Connection) -> int:
    """The port the server process bound, once it reports it."""
    deadline = time.monotonic() + _SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if port_receiver.poll(0.1):
            port: int = port_receiver.recv()
            return port
        _require_alive(process)
    raise BenchmarkSetupError(f"the server process bound no port in {_SERVER_START_SECONDS} s")


def _wait_until_healthy(base_url: str, process: BaseProcess) -> None:
    deadline = time.monotonic() + _SERVER_START_SECONDS
    with httpx.Client(base_url=base_url, timeout=5.0) as http:
        while time.monotonic() < deadline:
            _require_alive(process)
            try:
                if http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling interval, not a guess at the start-up time
    raise BenchmarkSetupError(f"{base_url}/healthz did not answer in {_SERVER_START_SECONDS} s")


def _require_alive(process: BaseProcess) -> None:
    if not process.is_alive():
        raise BenchmarkSetupError(
            f"the server process exited with code {process.exitcode} before answering"
        )
