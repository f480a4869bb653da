"""Exactly one effect per Idempotency-Key with real `digione serve` processes on PostgreSQL:
a server SIGKILLed mid-command and restarted while the client retries, and two servers
given the same keyed commands at once."""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import Actor
from domain.ids import aggregate_id
from domain.tenant_core import generated_id
from streams.broker import EmbeddedBroker
from tests.builders import a_school, an_assessment
from tests.conftest import FakeClock
from tests.integration.serve_process import ServeProcess

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.broker,
    pytest.mark.fault,
    # Two processes share one database only on PostgreSQL (SQLite's file is one host's).
    pytest.mark.parametrize("backend", ["postgres"]),
]

KEYS = 24
STREAMS = 4


@pytest.fixture
def clock() -> FakeClock:
    # The servers check tokens by the real clock: issue them by it too.
    return FakeClock(datetime.now(UTC))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path_factory.mktemp("broker")) as started:
        yield started


def _serve(container: Container, broker: EmbeddedBroker, tenant: str, log: Path) -> ServeProcess:
    return ServeProcess(container.settings, bootstrap=broker.bootstrap, tenant=tenant, log=log)


def _body(i: int) -> dict[str, Any]:
    # No line item: each key is a result of its own (the one-result rule is not in play).
    return an_assessment(grade=str(4 + i % 7), comment=f"Arvio {i}.")


#: Built once: `httpx.post` builds a TLS context for each call (16 ms, unused over http).
_TLS = ssl.create_default_context()


def _send(
    base_url: str, headers: dict[str, str], i: int, *, timeout: float = 10.0
) -> httpx.Response | None:
    """POSTs assessment `i` under key k-i; None when no answer came (the server died)."""
    try:
        return httpx.post(
            f"{base_url}/api/v1/assessments",
            json=_body(i),
            headers={**headers, "Idempotency-Key": f"k-{i}"},
            timeout=timeout,
            verify=_TLS,
        )
    except httpx.TransportError:
        return None


def _effects_per_key(app: TenantApplication, tenant: str) -> Counter[str]:
    """How many result events (recorded or corrected) the store holds for each key."""
    teacher = Actor(tenant, "teacher", "tch-1")
    key_of = {
        str(aggregate_id(tenant, "results", generated_id(teacher, f"k-{i}"))): f"k-{i}"
        for i in range(KEYS)
    }
    effects: Counter[str] = Counter()
    for notification in app.recorder.select_notifications(1, limit=1_000_000):
        if notification.topic.partition(":")[2].startswith("Result."):
            effects[key_of.get(str(notification.originator_id), "unkeyed")] += 1
    return effects


def test_a_server_killed_mid_command_and_restarted_records_each_retried_key_once(
    container: Container,
    tenant: str,
    app: TenantApplication,
    broker: EmbeddedBroker,
    tmp_path: Path,
) -> None:
    with TestClient(create_app(container)) as client:
        school = a_school(client, container, tenant)
    answers: dict[int, httpx.Response] = {}
    first = _serve(container, broker, tenant, tmp_path / "serve-1.log")
    killed = threading.Event()

    def stream(offset: int) -> None:
        # Each stream sends its keys one after another until the server is gone.
        for i in range(offset, KEYS, STREAMS):
            if killed.is_set():
                return
            answer = _send(first.base_url, school.teacher, i)
            if answer is not None and answer.status_code == 201:
                answers[i] = answer

    streams = [threading.Thread(target=stream, args=(s,)) for s in range(STREAMS)]
    for thread in streams:
        thread.start()
    # Kill while the streams are mid-flight: some keys answered, some sent and cut off.
    while len(answers) < KEYS // 3 and any(thread.is_alive() for thread in streams):
        threading.Event().wait(0.01)
    first.kill()
    killed.set()
    for thread in streams:
        thread.join()

    second = _serve(container, broker, tenant, tmp_path / "serve-2.log")
    try:
        # The client retries every key it has no answer for, and repeats a few answered ones.
        retried = {i: _send(second.base_url, school.teacher, i) for i in range(KEYS)}
    finally:
        second.stop()

    assert 0 < len(answers) < KEYS, "the kill came before or after every command"
    assert all(r is not None and r.status_code == 201 for r in retried.values()), [
        (i, r.status_code if r else None, r.text if r else None) for i, r in retried.items()
    ]
    for i, answer in answers.items():
        again = retried[i]
        assert again is not None and again.json() == answer.json()
        assert again.headers.get("idempotent-replayed") == "true"
    assert _effects_per_key(app, tenant) == Counter({f"k-{i}": 1 for i in range(KEYS)})
    assert app.tables.count_answers() == KEYS


def test_two_servers_given_the_same_keyed_commands_at_once_record_each_once_and_agree(
    container: Container,
    tenant: str,
    app: TenantApplication,
    broker: EmbeddedBroker,
    tmp_path: Path,
) -> None:
    with TestClient(create_app(container)) as client:
        school = a_school(client, container, tenant)
    servers = [_serve(container, broker, tenant, tmp_path / f"serve-{n}.log") for n in (1, 2)]
    pairs: dict[int, list[httpx.Response | None]] = {i: [None, None] for i in range(KEYS)}
    try:

        def send_both(i: int) -> None:
            start = threading.Barrier(2)

            def one(n: int) -> None:
                start.wait()
                pairs[i][n] = _send(servers[n].base_url, school.teacher, i, timeout=30.0)

            both = [threading.Thread(target=one, args=(n,)) for n in (0, 1)]
            for thread in both:
                thread.start()
            for thread in both:
                thread.join()

        for batch in range(0, KEYS, 8):
            senders = [
                threading.Thread(target=send_both, args=(i,)) for i in range(batch, batch + 8)
            ]
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join()
    finally:
        for server in servers:
            server.stop()

    for i, (one, other) in pairs.items():
        assert one is not None and other is not None, i
        assert (one.status_code, other.status_code) == (201, 201), (i, one.text, other.text)
        assert one.json() == other.json(), i
    assert _effects_per_key(app, tenant) == Counter({f"k-{i}": 1 for i in range(KEYS)})
