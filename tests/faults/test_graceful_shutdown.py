"""SIGTERM to `digione serve` while commands are in flight: each is kept or was never taken."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from api.bootstrap import bootstrap
from api.settings import Settings
from tests.builders import bearer
from tests.faults.scenario import events_of_user, put_school, put_user
from tests.faults.serve_process import serving

pytestmark = [pytest.mark.broker]

TENANT = "shutdown"
SENDERS = 4


def test_sigterm_drains_commands_in_flight_stops_every_loop_and_exits_0(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    container = bootstrap(Settings.explicit(data_dir=data_dir))
    container.tenants.create(TENANT, name="Shutdown municipality")
    admin = bearer(container, TENANT, "admin", "admin-1")
    container.close()
    answered: dict[str, int] = {}
    unanswered: list[str] = []
    lock = threading.Lock()

    def send(sender: int, url: str, stop: threading.Event) -> None:
        n = 0
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                sourced_id = f"u-{sender}-{n}"
                n += 1
                try:
                    response = put_user(client, admin, sourced_id)
                except httpx.TransportError:
                    with lock:
                        unanswered.append(sourced_id)
                    return  # the server stopped listening
                with lock:
                    answered[sourced_id] = response.status_code

    with serving({"data_dir": str(data_dir)}, tmp_path / "serve.log") as served:
        with served.client() as client:
            put_school(client, admin)
        stop = threading.Event()
        senders = [
            threading.Thread(target=send, args=(i, served.url, stop)) for i in range(SENDERS)
        ]
        for sender in senders:
            sender.start()
        while len(answered) < 20:
            time.sleep(0.05)
        exit_code = served.terminate()
        stop.set()
        for sender in senders:
            sender.join(60)
        log = served.log_text()

    assert exit_code == 0, log[-3000:]
    assert set(answered.values()) == {201}, answered
    assert unanswered, "no command was refused by the stopped server: SIGTERM came too late"
    container = bootstrap(Settings.explicit(data_dir=data_dir))
    try:
        for sourced_id in answered:
            assert events_of_user(container, TENANT, sourced_id) == 1, sourced_id
        for sourced_id in unanswered:
            assert events_of_user(container, TENANT, sourced_id) == 0, sourced_id
    finally:
        container.close()
    assert '"traceback"' not in log and "Traceback" not in log, log[-3000:]
    assert '"level":"ERROR"' not in log, log[-3000:]
    assert "relay, projections and retention stopped" in log
