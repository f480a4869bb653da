"""An event the fan-out cannot route is parked, the rest flows on, and `digione fanout
retry` delivers it once the cause is fixed (real broker, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.app import create_app
from api.bootstrap import Container
from api.oneroster.clients_cli import create_client
from api.runtime import Runtime
from api.settings import Settings
from streams.fanout import FanOutHandler, ServiceFanOut
from tests.builders import a_school, an_assessment
from tests.projections.test_admin import environment
from tests.services.test_service_fanout import _decoded, _fanout_caught_up, _results


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def settings(tmp_path: Path, postgres_database_url: str) -> Settings:
    # The test runs a fan-out of its own, with a school lookup that fails for one student.
    return Settings.explicit(
        database_url=postgres_database_url, data_dir=tmp_path / "var", service_fanout=False
    )


@pytest.fixture
def running(container: Container) -> Iterator[tuple[TestClient, Runtime]]:
    runtime = container.runtime
    runtime.start()
    with TestClient(create_app(container)) as client:
        yield client, runtime
    runtime.stop()


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
    env = environment(settings, bootstrap=runtime.bootstrap)

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
