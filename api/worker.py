"""`digione worker` (internal): the relay, the projection runner, the service fan-out,
retention and the ledger checkpoints in a process of their own, off the HTTP process's GIL.

`digione serve` starts it (api/worker_process.py), restarts it when it dies and stops it
with SIGTERM; it is not meant to be run by hand. It reads its settings from serve
(DIGIONE_WORKER_SETTINGS), and:
- wakes its relay on the event stores' notifications (PostgreSQL LISTEN, one connection
  for every tenant's channel), or on serve's datagrams after each save (SQLite), with the
  relay's own short poll as the fallback for both;
- writes its report (loops, failures, the relay's state) for /healthz every second
  (api/runtime_report.py);
- stops when serve stops it, or by itself when serve is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

import orjson
import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from api.bootstrap import Container, bootstrap
from api.heap import settle_heap
from api.runtime_report import BEAT_SECONDS, clear_report, write_report
from api.settings import Settings
from api.worker_process import (
    PARENT_ENV,
    RESTARTS_ENV,
    SETTINGS_ENV,
    WAKE_PORT_ENV,
    WORKER_REPORT,
)
from streams.relay import Relay

__all__ = ["main", "run"]

log = logging.getLogger("api.worker")

#: How often the PostgreSQL listener looks for new tenants' channels.
CHANNEL_REFRESH_SECONDS = 2.0


def run(settings: Settings, *, wake_port: int | None, restarts: int, parent: int) -> int:
    """Runs the background parts until SIGTERM/SIGINT or until `parent` (serve's pid) is
    no longer this process's parent; the exit status."""
    stop = threading.Event()

    def requested(_signum: int, _frame: object) -> None:
        stop.set()

    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, requested)
    if os.getppid() != parent:
        log.warning("serve is gone: the worker does not start")
        return 0
    container = bootstrap(settings, role="background")
    runtime = container.runtime
    wakers: list[threading.Thread] = []
    try:
        runtime.start()
        wakers = _start_wakers(container, runtime.relay, stop, wake_port)
        settle_heap()
        while True:
            _report(container, restarts)
            if stop.wait(BEAT_SECONDS):
                break
            if os.getppid() != parent:
                log.warning("serve is gone: the worker stops")
                break
    finally:
        stop.set()
        runtime.stop()
        for waker in wakers:
            waker.join(timeout=5)
        try:
            clear_report(container.engine, WORKER_REPORT)
        except Exception:  # the report goes stale by itself
            log.debug("could not clear the worker's report", exc_info=True)
        container.close()
    return 0


def _report(container: Container, restarts: int) -> None:
    runtime = container.runtime
    try:
        failure = runtime.runner.failure
        relay = {
            tenant: {"state": s["state"], "last_error": s["last_error"], "since": s["since"]}
            for tenant, s in runtime.relay.status().items()
        }
        report: dict[str, Any] = {
            "pid": os.getpid(),
            "restarts": restarts,
            "loops": runtime.supervisor.status(),
            "failure": None if failure is None else f"{type(failure).__name__}: {failure}"[:300],
            "relay": relay,
        }
        write_report(container.engine, WORKER_REPORT, report)
    except Exception as error:  # noqa: BLE001 - /healthz reads a stale report as degraded
        log.warning("could not write the worker's report (%s)", error)


def _start_wakers(
    container: Container, relay: Relay, stop: threading.Event, wake_port: int | None
) -> list[threading.Thread]:
    threads = []
    url = container.settings.libpq_url
    if url is not None:
        threads.append(
            threading.Thread(
                target=_listen_to_stores,
                args=(container, url, relay, stop),
                name="digione-store-notifications",
                daemon=True,
            )
        )
    if wake_port is not None:
        threads.append(
            threading.Thread(
                target=_take_datagrams,
                args=(wake_port, relay, stop),
                name="digione-wake-datagrams",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    return threads


def _listen_to_stores(container: Container, url: str, relay: Relay, stop: threading.Event) -> None:
    """Wakes the relay on each event store's NOTIFY (the recorder notifies in every save,
    naming its schema) for that store's tenant; listens again after a lost connection."""
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
                listening: set[str] = set()
                #: The tenant of each store's schema, which its notifications name.
                tenant_of: dict[str, str] = {}
                while not stop.is_set():
                    for tenant in container.tenants.ids():
                        recorder = container.tenants.get(tenant).recorder
                        if not isinstance(recorder, PostgresApplicationRecorder):
                            continue
                        channel = recorder.channel_name
                        if channel not in listening:
                            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                            listening.add(channel)
                        schema = recorder.datastore.schema
                        if schema and schema not in tenant_of:
                            tenant_of[schema] = tenant
                            relay.wake(tenant)  # whatever was saved before listening
                    for notice in connection.notifies(timeout=CHANNEL_REFRESH_SECONDS):
                        # That tenant's events alone; a notification naming no schema
                        # known here (an older save path's): every tenant's.
                        relay.wake(tenant_of.get(notice.payload))
        except Exception as error:  # noqa: BLE001 - the relay polls meanwhile
            log.warning("lost the event stores' notifications (%s); listening again", error)
            stop.wait(1.0)


def _take_datagrams(port: int, relay: Relay, stop: threading.Event) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", port))
        receiver.settimeout(0.5)
        while not stop.is_set():
            try:
                receiver.recv(64)
            except TimeoutError:
                continue
            relay.wake()


def main() -> None:
    """The worker's entry (`python -m api.worker`, `digione worker`)."""
    from api.log_format import configure

    encoded = os.environ.get(SETTINGS_ENV)
    settings = Settings.explicit(**orjson.loads(encoded)) if encoded else Settings()
    configure(settings.log_level)
    port = os.environ.get(WAKE_PORT_ENV)
    restarts = int(os.environ.get(RESTARTS_ENV, "0"))
    # Started by hand (no serve): the parent it has now is the one to outlive.
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())
    wake = int(port) if port else None
    sys.exit(run(settings, wake_port=wake, restarts=restarts, parent=parent))


if __name__ == "__main__":
    main()
