"""The fan-out when things go wrong (real broker, PostgreSQL): killed with SIGKILL mid-stream
and restarted, every permitted event reaches the services at least once and nothing they had
no right to; an event it cannot route is parked, the rest flows on, and `digione fanout
retry` delivers it once the cause is fixed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.oneroster.clients_cli import create_client
from api.runtime import Runtime
from api.settings import Settings
from streams.fanout import FanOutHandler, ServiceFanOut
from tests.builders import a_school, an_assessment
from tests.processes import ROOT, environment
from tests.projections.test_admin import environment as cli_environment
from tests.services.test_service_fanout import (
    _decoded,
    _fanout_caught_up,
    _results,
    _wait_for,
)


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def settings(tmp_path: Path, postgres_database_url: str) -> Settings:
    # The fan-out runs as a process of its own here (or one the test builds), not inside
    # the runtime.
    return Settings.explicit(
        database_url=postgres_database_url, data_dir=tmp_path / "var", service_fanout=False
    )


def _fanout_process(settings: Settings, bootstrap: str, log: Path) -> subprocess.Popen[bytes]:
    env = environment(settings)
    env["DIGIONE_KAFKA_BOOTSTRAP"] = bootstrap
    env["DIGIONE_SERVICE_FANOUT"] = "false"
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", "fanout"], env=env, cwd=ROOT,
            stdout=sink, stderr=sink,
        )  # fmt: skip


def _positions(messages: list[dict[str, Any]], student: str) -> set[int]:
    return {m["position"] for m in _results(messages) if m["data"]["data_subject"] == student}


def test_a_fanout_killed_mid_stream_delivers_every_permitted_event_and_nothing_else(
    running: tuple[TestClient, Runtime],
    container: Container,
    tenant: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    client, runtime = running
    create_client(container, tenant=tenant, name="statapp", scopes=["roster.readonly"],
                  categories=[], basis="statutory", schools=[], events=["assessment"])  # fmt: skip
    create_client(container, tenant=tenant, name="consentapp", scopes=["roster.readonly"],
                  categories=[], basis="consent", schools=[], events=["assessment"],
                  purpose="learning-app")  # fmt: skip
    school = a_school(client, container, tenant)
    granted = client.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={"student": "stu-1", "grantedBy": "grd-1", "recipient": "consentapp",
              "purposes": ["learning-app"], "categories": ["assessment"]},
    )  # fmt: skip
    assert granted.status_code == 201
    log = tmp_path / "fanout.log"
    process = _fanout_process(settings, runtime.bootstrap, log)
    recorded: dict[str, set[int]] = {"stu-1": set(), "stu-2": set()}

    def record(i: int) -> None:
        student = ("stu-1", "stu-2")[i % 2]
        answer = client.post(
            "/api/v1/assessments",
            headers=school.teacher,
            json=an_assessment(student=student, sourcedId=f"res-{i}", grade=str(4 + i % 7)),
        )
        assert answer.status_code == 201, answer.text
        recorded[student].add(answer.json()["position"])

    try:
        for i in range(30):
            record(i)
        _wait_for(container, tenant, "statapp", lambda ms: len(_results(ms)) >= 5)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        for i in range(30, 60):
            record(i)
        process = _fanout_process(settings, runtime.bootstrap, log)
        everything = recorded["stu-1"] | recorded["stu-2"]
        _wait_for(
            container, tenant, "statapp",
            lambda ms: _positions(ms, "stu-1") | _positions(ms, "stu-2") >= everything,
        )  # fmt: skip
        _wait_for(
            container, tenant, "consentapp", lambda ms: _positions(ms, "stu-1") >= recorded["stu-1"]
        )
        _fanout_caught_up(container, tenant)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    statapp = _decoded(container, tenant, "statapp")
    consentapp = _decoded(container, tenant, "consentapp")
    assert _positions(statapp, "stu-1") == recorded["stu-1"]
    assert _positions(statapp, "stu-2") == recorded["stu-2"]
    assert _positions(consentapp, "stu-1") == recorded["stu-1"]
    assert not [m for m in consentapp if m["data"].get("data_subject") == "stu-2"]


def _fanout_failing_for(container: Container, runtime: Runtime, student: str) -> ServiceFanOut:
    def school_of(tenant: str, subject: str) -> list[str]:
        if subject == student:
            raise LookupError(f"the school register is unreachable for {subject}")
        return ["sch-1"]

    assert runtime.fanout is not None
    own = runtime.fanout.handler
    handler = FanOutHandler(
        engine=container.engine, tenant_ids=container.tenants.ids, app_of=container.tenants.get,
        registry=container.codec.registry, codec=container.codec,
        transport=own._transport_factory, ensure_topic=own._ensure_topic,
        topic_prefix=container.settings.topic_prefix, school_of=school_of,
    )  # fmt: skip
    return ServiceFanOut(handler, codec=container.codec, bootstrap=runtime.bootstrap)


def test_an_event_the_fanout_cannot_route_is_parked_and_retry_delivers_it(
    running: tuple[TestClient, Runtime], container: Container, tenant: str, settings: Settings
) -> None:
    client, runtime = running
    school = a_school(client, container, tenant)
    create_client(container, tenant=tenant, name="schoolapp", scopes=["roster.readonly"],
                  categories=[], basis="statutory", schools=["sch-1"],
                  events=["assessment"])  # fmt: skip
    fanout = _fanout_failing_for(container, runtime, "stu-2")
    fanout.start()
    try:
        posted = {
            student: client.post(
                "/api/v1/assessments", headers=school.teacher, json=an_assessment(student=student)
            ).json()["position"]
            for student in ("stu-2", "stu-1")
        }
        _fanout_caught_up(container, tenant)
    finally:
        fanout.stop()
    delivered = [
        r["data"]["data_subject"] for r in _results(_decoded(container, tenant, "schoolapp"))
    ]
    env = cli_environment(settings, bootstrap=runtime.bootstrap)

    listed = CliRunner().invoke(cli.app, ["fanout", "parked", "--tenant", tenant], env=env)
    retried = CliRunner().invoke(cli.app, ["fanout", "retry", "--tenant", tenant], env=env)
    again = CliRunner().invoke(cli.app, ["fanout", "retry", "--tenant", tenant], env=env)

    assert delivered == ["stu-1"]  # the rest of the batch flowed on
    assert listed.exit_code == 0, listed.output
    assert str(posted["stu-2"]) in listed.output and "LookupError" in listed.output
    assert retried.exit_code == 0, retried.output
    assert "1 delivered, 0 still parked" in retried.output
    results = _results(_decoded(container, tenant, "schoolapp"))
    assert sorted(r["data"]["data_subject"] for r in results) == ["stu-1", "stu-2"]
    assert again.exit_code == 2 and "nothing parked" in again.output
