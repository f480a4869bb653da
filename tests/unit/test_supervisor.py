"""The runtime's supervisor: a loop that ends is restarted, with back-off, and reported."""

from __future__ import annotations

import threading

from api.runtime import Loop, Supervisor
from tests.conftest import Ticking


class FailingLoop:
    """A loop on a real thread that ends with an error after `runs` starts have failed."""

    def __init__(self, name: str, *, failures: int, events: list[str]) -> None:
        self.name, self.failures, self.events = name, failures, events
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.started = 0
        self._stop = threading.Event()

    def start(self) -> None:
        self.started += 1
        self.events.append(f"start {self.name}")
        self._stop.clear()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if self.started <= self.failures:
            self.thread.join(5)

    def _run(self) -> None:
        if self.started <= self.failures:
            self.error = ConnectionError("the database went away")
            return
        self._stop.wait(30)

    def stop(self) -> None:
        self.events.append(f"stop {self.name}")
        self._stop.set()
        if self.thread is not None:
            self.thread.join(5)

    def loop(self) -> Loop:
        return Loop(
            self.name,
            self.start,
            self.stop,
            lambda: self.thread is not None and self.thread.is_alive(),
            lambda: self.error,
        )


def _supervisor(loops: list[FailingLoop], clock: Ticking) -> Supervisor:
    return Supervisor(
        [loop.loop() for loop in loops],
        first_backoff_seconds=1.0,
        max_backoff_seconds=8.0,
        healthy_seconds=60.0,
        clock=clock,
    )


def test_a_loop_that_ends_with_an_error_is_restarted_after_its_back_off_and_reported() -> None:
    clock, events = Ticking(), list[str]()
    runner = FailingLoop("runner", failures=1, events=events)
    supervisor = _supervisor([runner], clock)
    runner.start()

    supervisor.check_once()
    down = supervisor.status()["runner"]
    clock.now += 0.5
    supervisor.check_once()
    still_waiting = runner.started
    clock.now += 0.6
    supervisor.check_once()

    assert down["running"] is False
    assert down["lastError"] == "ConnectionError: the database went away"
    assert still_waiting == 1
    assert runner.started == 2
    after = supervisor.status()["runner"]
    assert after["running"] is True and after["restarts"] == 1 and after["lastRestartAt"]
    runner.stop()


def test_the_back_off_doubles_while_a_loop_keeps_failing_and_resets_once_it_runs_healthy() -> None:
    clock, events = Ticking(), list[str]()
    runner = FailingLoop("runner", failures=3, events=events)
    supervisor = _supervisor([runner], clock)
    runner.start()
    restarted_at: list[float] = []
    first_check = clock.now
    for _ in range(200):
        supervisor.check_once()
        if runner.started > len(restarted_at) + 1:
            restarted_at.append(clock.now)
        clock.now += 0.25
    gaps = [b - a for a, b in zip([first_check, *restarted_at], restarted_at, strict=False)]

    assert runner.started == 4  # three failed starts, then one that runs
    # 1 s, 2 s, 4 s after the check that found it ended (a restarted loop that fails at
    # once is found by the next check, 0.25 s later).
    assert gaps == [1.0, 0.25 + 2.0, 0.25 + 4.0]
    clock.now += 61
    supervisor.check_once()
    runner.failures, runner.started = 5, 4  # it fails again, after a healthy minute
    runner.stop()
    supervisor.check_once()
    clock.now += 1.0
    supervisor.check_once()
    assert runner.started == 5, "after a healthy run the back-off starts again at 1 s"
    runner.stop()


def test_a_stopped_supervisor_restarts_nothing_and_stops_its_loops_in_reverse_order() -> None:
    events: list[str] = []
    relay = FailingLoop("relay", failures=0, events=events)
    runner = FailingLoop("runner", failures=0, events=events)
    supervisor = Supervisor([relay.loop(), runner.loop()], check_seconds=0.01)
    supervisor.start()

    supervisor.stop()
    supervisor.check_once()

    assert events == ["start relay", "start runner", "stop runner", "stop relay"]
