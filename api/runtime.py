"""The moving parts of `digione serve`: the broker, the relay, the projection runner and the
retention schedule, built by the composition root and started and stopped together.

With DIGIONE_KAFKA_BOOTSTRAP unset, the embedded broker (Tansu, in memory) runs as a child
process on a loopback port chosen when the system is built, and stops with the runtime;
with it set, that cluster is used and nothing else is started.

`start(worker_process=True)` (what `digione serve` does by default) runs the relay, the
runner, the fan-out, retention and the checkpoints in a worker process of their own
(api/worker.py), supervised here, so that they never hold the HTTP process's GIL;
`start()` runs them on threads of this process (the worker itself, tests, tools).
Either way `health()` says how they are: from this process's loops, or from the worker's
report in the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from api.checkpoint_schedule import CheckpointSchedule
from api.key_events import KeyForgetting
from api.runtime_report import read_report
from api.tenants import Tenants
from api.worker_process import WORKER_REPORT, WorkerProcess
from projections.runner import ProjectionRunner
from streams.broker import EmbeddedBroker
from streams.fanout import ServiceFanOut
from streams.relay import Relay, TenantRelayStatus

__all__ = ["Loop", "RetentionSchedule", "Runtime", "RuntimeHealth", "Supervisor"]

log = logging.getLogger(__name__)

#: How long `start(worker_process=True)` waits for the worker's first report.
WORKER_START_SECONDS = 60.0


class RetentionSchedule:
    """Shreds kept personal data whose retention has ended: at start, then every interval.

    Each shredding is an event (Erasure.RetainedDataShredded), so the schedule is auditable.
    """

    def __init__(self, tenants: Tenants, *, interval_seconds: float = 3600.0) -> None:
        self._tenants = tenants
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> list[tuple[str, str, str]]:
        """Shreds what is due in every tenant; (tenant, subject, retention class) of each."""
        done = []
        for tenant in self._tenants.ids():
            for subject, retention_class in self._tenants.get(tenant).run_retention():
                log.info(
                    "retention ended: shredded %s data of %s in %s",
                    retention_class,
                    subject,
                    tenant,
                )
                done.append((tenant, subject, retention_class))
        return done

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="digione-retention", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("the retention run failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


@dataclass(frozen=True)
class Loop:
    """One of the runtime's background loops, as the supervisor sees it."""

    name: str
    start: Callable[[], None]
    stop: Callable[[], None]
    is_running: Callable[[], bool]
    #: The error it stopped with, when it keeps one (the projection runner does).
    failure: Callable[[], BaseException | None] = lambda: None


@dataclass
class _Watch:
    loop: Loop
    restarts: int = 0
    #: Restarts since the loop last ran `healthy_seconds` without ending: the back-off's count.
    recent: int = 0
    down_since: float | None = None
    restart_due: float | None = None
    last_error: str | None = None
    last_restart_at: str | None = None
    running_since: float = field(default_factory=time.monotonic)


class Supervisor:
    """Restarts any loop that ended by itself (an error, or too many in a row), with back-off.

    Every `check_seconds` it looks at each loop; one found ended is restarted after
    `first_backoff_seconds`, doubling up to `max_backoff_seconds` while it keeps ending
    within `healthy_seconds` of its restart. `status()` says, per loop, whether it runs,
    how often it was restarted and the last error (its type and message: the loops' errors
    are the database's or the broker's, about connections, not a row's values).
    """

    def __init__(
        self,
        loops: list[Loop],
        *,
        check_seconds: float = 0.5,
        first_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        healthy_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._watches = [_Watch(loop) for loop in loops]
        self._check = check_seconds
        self._first = first_backoff_seconds
        self._cap = max_backoff_seconds
        self._healthy = healthy_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts every loop, then watches them on a daemon thread."""
        now = self._clock()
        for watch in self._watches:
            watch.loop.start()
            watch.running_since = now
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="digione-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops watching (first, so nothing is restarted while stopping), then every loop,
        in the reverse order of starting."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for watch in reversed(self._watches):
            watch.loop.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._check):
            try:
                self.check_once()
            except Exception:
                log.exception("the supervisor's check failed; it checks again")

    def check_once(self) -> None:
        """Notes the loops that ended and restarts those whose back-off is over."""
        now = self._clock()
        for watch in self._watches:
            loop = watch.loop
            if loop.is_running():
                if watch.recent and now - watch.running_since >= self._healthy:
                    watch.recent = 0
                continue
            if self._stop.is_set():
                return
            with self._lock:
                if watch.down_since is None:
                    failure = loop.failure()
                    watch.down_since = now
                    watch.last_error = (
                        "it ended without an error"
                        if failure is None
                        else f"{type(failure).__name__}: {str(failure)[:300]}"
                    )
                    wait = min(self._first * 2**watch.recent, self._cap)
                    watch.restart_due = now + wait
                    log.error(
                        "the %s stopped (%s); restarting it in %g s",
                        loop.name,
                        watch.last_error,
                        wait,
                    )
                if watch.restart_due is not None and now < watch.restart_due:
                    continue
            try:
                loop.stop()
                loop.start()
            except Exception as error:  # noqa: BLE001 - retried after a longer back-off
                with self._lock:
                    watch.recent += 1
                    watch.last_error = f"{type(error).__name__}: {str(error)[:300]}"
                    watch.restart_due = now + min(self._first * 2**watch.recent, self._cap)
                log.error("restarting the %s failed (%s)", loop.name, watch.last_error)
                continue
            with self._lock:
                watch.restarts += 1
                watch.recent += 1
                watch.down_since = None
                watch.restart_due = None
                watch.running_since = now
                watch.last_restart_at = datetime.now(UTC).isoformat()
            log.warning("restarted the %s (restart %d)", loop.name, watch.restarts)

    @property
    def all_running(self) -> bool:
        return all(watch.loop.is_running() for watch in self._watches)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per loop: `running`, `restarts`, `lastError`, `lastRestartAt`."""
        with self._lock:
            return {
                watch.loop.name: {
                    "running": watch.loop.is_running(),
                    "restarts": watch.restarts,
                    "lastError": watch.last_error,
                    "lastRestartAt": watch.last_restart_at,
                }
                for watch in self._watches
            }


@dataclass(frozen=True)
class RuntimeHealth:
    """How the background parts are, as /healthz reports them."""

    #: Per tenant: the relay's positions (as stored now) and its state.
    relay: dict[str, TenantRelayStatus]
    #: The projection runner's failure ("Type: message"), if it stopped with one.
    failure: str | None
    #: Per loop: running, restarts, last error, last restart.
    loops: dict[str, dict[str, Any]]

    @property
    def healthy(self) -> bool:
        return (
            self.failure is None
            and all(loop["running"] for loop in self.loops.values())
            and all(r.get("state") == "ok" for r in self.relay.values())
        )


class Runtime:
    """Starts and stops the broker (when embedded), the relay, the runner and retention."""

    def __init__(
        self,
        *,
        engine: Engine,
        tenants: Tenants,
        bootstrap: str,
        broker: EmbeddedBroker | None,
        relay: Relay,
        runner: ProjectionRunner,
        retention: RetentionSchedule,
        checkpoints: CheckpointSchedule | None = None,
        fanout: ServiceFanOut | None = None,
        run_fanout: bool = True,
        keys: KeyForgetting | None = None,
        worker: WorkerProcess | None = None,
    ) -> None:
        self._engine = engine
        self._tenants = tenants
        #: Drops subject keys erased by other processes from this one's cache.
        self.keys = keys
        #: The worker process that runs the loops below when started with worker_process.
        self.worker = worker
        self.worker_supervisor = (
            None
            if worker is None
            else Supervisor(
                [
                    Loop(
                        "worker process",
                        worker.start,
                        worker.stop,
                        lambda: worker.is_running,
                        worker.failure,
                    )
                ]
            )
        )
        self._in_worker = False
        #: Whether the worker is supervised by another process (observe_worker).
        self._observing = False
        #: The Kafka bootstrap address the relay publishes to and the runner reads from.
        self.bootstrap = bootstrap
        self.broker = broker
        self.relay = relay
        self.runner = runner
        self.retention = retention
        #: Signs and publishes the ledgers' checkpoints (the auditors' copies outside the store).
        self.checkpoints = checkpoints
        extra = (
            []
            if checkpoints is None
            else [
                Loop(
                    "ledger checkpoints",
                    checkpoints.start,
                    checkpoints.stop,
                    lambda: checkpoints.is_running,
                )
            ]
        )
        #: The service fan-out (streams/fanout.py): idle while no agreement subscribes;
        #: supervised here unless it runs as a process of its own (`digione fanout`).
        self.fanout = fanout
        fanout_loops = (
            []
            if fanout is None or not run_fanout
            else [
                Loop(
                    "service fan-out",
                    fanout.start,
                    fanout.stop,
                    lambda: fanout.is_running,
                    lambda: fanout.failure,
                )
            ]
        )
        # Started in this order, stopped in the reverse: the relay, the runner, the
        # fan-out, retention, the checkpoints.
        self.supervisor = Supervisor(
            [
                Loop("relay", relay.start, relay.stop, lambda: relay.is_running),
                Loop(
                    "projection runner",
                    runner.start,
                    runner.stop,
                    lambda: runner.is_running,
                    lambda: runner.failure,
                ),
                *fanout_loops,
                Loop(
                    "retention schedule",
                    retention.start,
                    retention.stop,
                    lambda: retention.is_running,
                ),
                *extra,
            ]
        )
        self._started = False
        self._listening = False

    @property
    def started(self) -> bool:
        """Whether start() ran and stop() has not: /healthz reports the relay only then."""
        return self._started

    def start(self, *, worker_process: bool = False) -> None:
        """Starts the broker if embedded, then the relay, the runner and retention: on
        threads here, or in the worker process (supervised here) with `worker_process`."""
        if self._started:
            return
        if worker_process and self.worker_supervisor is None:
            raise ValueError("this runtime was built without a worker process")
        if self.broker is not None:
            self.broker.start()
            log.info("embedded broker listening on %s", self.bootstrap)
        if self.keys is not None:
            self.keys.start()
        if not self._listening:
            # After a command is saved the relay is woken, so it publishes within
            # milliseconds: in this process, or in the worker (a datagram on SQLite; on
            # PostgreSQL the store's own NOTIFY wakes it).
            self._tenants.add_save_listener(self._wake_relay)
            self._listening = True
        self._in_worker = worker_process
        if worker_process:
            assert self.worker_supervisor is not None
            self.worker_supervisor.start()
            self._wait_for_worker()
        else:
            self.supervisor.start()
        self._started = True

    def _wait_for_worker(self, within: float = WORKER_START_SECONDS) -> None:
        """Returns once the worker reports its loops running, as `start()` returns with
        them running in process (so serve answers once its reads can become fresh); after
        `within` seconds it returns anyway (the supervisor goes on restarting the worker)."""
        assert self.worker is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            report = read_report(self._engine, WORKER_REPORT)
            if report is not None and report["pid"] == self.worker.pid:
                return
            time.sleep(0.05)
        log.warning("the worker process reported nothing in %g s; serving without it", within)

    def observe_worker(self, *, wake_port: int | None) -> None:
        """For another HTTP process of `serve` (uvicorn workers): the worker process runs
        elsewhere, supervised by serve; this process wakes it after saves (`wake_port`) and
        reports its health from its report. Starts dropping keys erased elsewhere."""
        if self._started:
            return
        if self.worker is None:
            raise ValueError("this runtime was built without a worker process")
        self.worker.wake_port = wake_port
        if self.keys is not None:
            self.keys.start()
        if not self._listening:
            self._tenants.add_save_listener(self._wake_relay)
            self._listening = True
        self._in_worker = True
        self._observing = True
        self._started = True

    def _wake_relay(self, position: int) -> None:
        if not self._started:
            return
        if self._in_worker:
            if self.worker is not None:
                self.worker.wake(position)
        else:
            self.relay.wake()

    def stop(self) -> None:
        """Stops everything start() started, in the reverse order; harmless when stopped."""
        if self.keys is not None:
            self.keys.stop()  # also when started by itself (tools, tests)
        if not self._started:
            return
        self._started = False
        if self._observing:
            self._observing = False
        elif self._in_worker:
            assert self.worker_supervisor is not None
            self.worker_supervisor.stop()
        else:
            self.supervisor.stop()
            self.runner.close()
        if self.broker is not None:
            self.broker.stop()

    def health(self) -> RuntimeHealth:
        """The loops' state for /healthz: nothing when not started; this process's loops;
        or, with a worker process, its supervision here and its last report (a worker
        that wrote none lately is reported as not running)."""
        if not self._started:
            return RuntimeHealth({}, None, {})
        if not self._in_worker:
            failure = self.runner.failure
            return RuntimeHealth(
                self.relay.status(),
                None if failure is None else f"{type(failure).__name__}: {failure}"[:300],
                self.supervisor.status(),
            )
        assert self.worker_supervisor is not None
        report = read_report(self._engine, WORKER_REPORT)
        loops = self.worker_supervisor.status()
        if self._observing:  # serve supervises it: the worker says how often it restarted
            loops["worker process"].update(
                running=report is not None,
                restarts=0 if report is None else report["restarts"],
            )
        # Positions as stored now; the state and errors are the worker's (this process's
        # relay never runs, so its own state means nothing).
        relay = self.relay.status()
        reported = {} if report is None else report["relay"]
        for tenant, state in relay.items():
            mine = reported.get(tenant, {})
            state["state"] = mine.get("state", "ok")
            state["last_error"] = mine.get("last_error")
            state["since"] = mine.get("since")
        if report is None:
            loops["worker process"]["running"] = False
            return RuntimeHealth(relay, None, loops)
        loops.update(report["loops"])
        return RuntimeHealth(relay, report["failure"], loops)
