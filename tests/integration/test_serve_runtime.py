"""`digione serve`'s moving parts together: embedded broker, relay, projections, freshness."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from api.runtime_report import read_report
from api.worker_process import WORKER_REPORT
from tests.builders import a_school, a_user, put


@pytest.fixture
def running(container: Container) -> Iterator[TestClient]:
    runtime = container.runtime
    runtime.start()
    with TestClient(create_app(container)) as client:
        yield client
    runtime.stop()


def test_a_write_is_readable_at_once_with_the_position_its_command_answered(
    running: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(running, container, tenant)
    answer = put(
        running,
        school.admin,
        "users",
        "stu-9",
        "user",
        a_user("stu-9", "student", given="Onni", family="Tuore"),
    )

    read = running.get(
        f"/api/v1/roster/users/stu-9?min_position={answer.json()['position']}", headers=school.admin
    )

    assert read.status_code == 200
    assert read.json()["givenName"] == "Onni"
    assert read.json()["roles"][0]["role"] == "student"


def _caught_up(
    client: TestClient, admin: dict[str, str], tenant: str, head: int, *, within: float
) -> dict[str, Any]:
    deadline, health = time.monotonic() + within, {}
    while time.monotonic() < deadline:
        health = client.get("/healthz", headers=admin).json()
        mine = [p for p in health["projections"] if p["tenant"] == tenant]
        if health["relay"].get(tenant, {}).get("published") == head and all(
            p["position"] == head for p in mine
        ):
            break
        time.sleep(0.02)
    return health


def test_healthz_shows_relay_and_projections_at_the_store_head_within_a_second(
    running: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(running, container, tenant)
    # A new tenant's topics are found by the next refresh of the runner; then it streams.
    head = container.tenants.get(tenant).head_position()
    _caught_up(running, school.admin, tenant, head, within=60)

    put(
        running,
        school.admin,
        "users",
        "stu-9",
        "user",
        a_user("stu-9", "student", given="Onni", family="Tuore"),
    )
    # The contract is a second on a machine serving requests (`make run` measured ~0.1 s);
    # the suite runs four workers on two cores, so the test allows twice that.
    head = container.tenants.get(tenant).head_position()
    health = _caught_up(running, school.admin, tenant, head, within=2.0)

    assert health["relay"][tenant]["lag"] == 0
    assert {p["lag"] for p in health["projections"] if p["tenant"] == tenant} == {0}
    assert health["status"] == "ok"


# The same code whatever stores the events: one backend is enough.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_read_asking_for_a_position_not_yet_reached_answers_504_with_the_current_one(
    running: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(running, container, tenant)
    head = container.tenants.get(tenant).head_position()

    read = running.get(
        f"/api/v1/roster/orgs/sch-1?min_position={head + 1000}", headers=school.admin
    )

    assert read.status_code == 504
    assert "reached store position" in read.json()["detail"]


def _everything_caught_up(client: TestClient, admin: dict[str, str], *, within: float) -> bool:
    """Whether the relay and every projection reached the admin's tenant's head (the only
    tenant of the test's database) in `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        health = client.get("/healthz", headers=admin).json()
        if all(r.get("lag") == 0 for r in health["relay"].values()) and all(
            p["lag"] == 0 for p in health["projections"]
        ):
            return True
        time.sleep(0.1)
    return False


def test_a_caught_up_runtime_leaves_the_processor_idle(
    running: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(running, container, tenant)
    assert _everything_caught_up(running, school.admin, within=120), "the runtime never caught up"

    # CPU time of this process (the runtime's threads, the broker is a child process):
    # a client library polling in a loop spends a core; waiting on sockets spends ~nothing.
    seconds = 3.0
    used = time.process_time()
    time.sleep(seconds)
    used = time.process_time() - used

    assert used < 0.25 * seconds, f"the idle runtime used {used:.2f} s of CPU in {seconds} s"


def test_a_running_services_public_healthz_names_no_tenant_position_or_error(
    running: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(running, container, tenant)
    head = container.tenants.get(tenant).head_position()
    _caught_up(running, school.admin, tenant, head, within=60)

    response = running.get("/healthz")

    assert response.json() == {"status": "ok"}
    assert tenant not in response.text


def test_an_admins_healthz_shows_the_relay_of_their_own_tenant_only(
    running: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(running, container, tenant)
    other = tenant.removesuffix("a") + "b"
    container.tenants.create(other, name="Other municipality")

    health = running.get("/healthz", headers=school.admin).json()

    assert set(health["relay"]) == {tenant}
    assert other not in str(health)


def _worker_pid(container: Container, *, other_than: int | None) -> int:
    """The pid of the worker process once it reports (a new one when `other_than`)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = read_report(container.engine, WORKER_REPORT)
        if report is not None and report["pid"] != other_than:
            pid: int = report["pid"]
            return pid
        time.sleep(0.1)
    raise AssertionError("no worker process reported within 60 s")


# The worker process is a fresh interpreter: one backend (PostgreSQL, whose NOTIFY wakes
# it) keeps the suite's time; `serve --demo` on SQLite runs the same code.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_serve_runs_the_relay_and_projections_in_a_worker_process_restarted_when_it_dies(
    container: Container, tenant: str
) -> None:
    runtime = container.runtime
    runtime.start(worker_process=True)
    try:
        with TestClient(create_app(container)) as client:
            school = a_school(client, container, tenant)
            first = _worker_pid(container, other_than=None)
            head = container.tenants.get(tenant).head_position()
            _caught_up(client, school.admin, tenant, head, within=60)
            answer = put(client, school.admin, "users", "stu-9", "user",
                         a_user("stu-9", "student", given="Onni", family="Tuore"))  # fmt: skip
            fresh = client.get(
                f"/api/v1/roster/users/stu-9?min_position={answer.json()['position']}",
                headers=school.admin,
            )

            os.kill(first, signal.SIGKILL)
            second = _worker_pid(container, other_than=first)
            answer = put(client, school.admin, "users", "stu-10", "user",
                         a_user("stu-10", "student", given="Aino", family="Uusi"))  # fmt: skip
            head = container.tenants.get(tenant).head_position()
            health = _caught_up(client, school.admin, tenant, head, within=60)
    finally:
        runtime.stop()

    # This process ran none of the loops: the worker did, and the runner it restarted.
    assert not runtime.relay.is_running and not runtime.runner.is_running
    assert fresh.status_code == 200 and fresh.json()["givenName"] == "Onni"
    assert second != first
    assert health["loops"]["worker process"]["restarts"] == 1
    assert health["loops"]["projection runner"]["running"]
    assert health["relay"][tenant]["lag"] == 0
    assert {p["lag"] for p in health["projections"] if p["tenant"] == tenant} == {0}
    assert health["status"] == "ok"
