"""`digione projections status` and `digione projections rebuild`, and the rebuild benchmark."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.settings import Settings
from bench.rebuild import measure_rebuild_rate
from domain.application import TenantApplication
from projections.roster import RosterProjection
from streams.broker import EmbeddedBroker
from tests.builders import a_school
from tests.projections.publishing import StorePublisher
from tests.projections.read_models import expected_read_model, read_model


def environment(settings: Settings, *, bootstrap: str | None = None) -> dict[str, str | None]:
    """The DIGIONE_* environment of the test's settings (None unsets a variable): the CLI
    reads the environment by design, so every other DIGIONE_* of the developer's is unset."""
    return {
        **{name: None for name in os.environ if name.startswith("DIGIONE_")},
        "DIGIONE_DATABASE_URL": settings.database_url,
        "DIGIONE_DATA_DIR": str(settings.data_dir),
        "DIGIONE_KAFKA_BOOTSTRAP": bootstrap,
        "COLUMNS": "200",
    }


def test_status_shows_position_head_lag_and_parked_of_each_projection_per_tenant(
    client: TestClient,
    container: Container,
    tenant: str,
    settings: Settings,
) -> None:
    a_school(client, container, tenant)
    head = container.tenants.get(tenant).head_position()

    result = CliRunner().invoke(cli.app, ["projections", "status"], env=environment(settings))

    assert result.exit_code == 0, result.output
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.output.splitlines()
        if tenant in line
    ]
    assert ["roster", tenant, "0", str(head), str(head), "0"] in rows
    assert len(rows) == len(container.projections.all)
    # No `serve` runs here: no worker process reports its loops.
    assert "worker process: no recent report" in result.output


def test_rebuild_from_the_topics_without_a_configured_broker_says_where_the_broker_runs(
    settings: Settings,
    container: Container,
) -> None:
    result = CliRunner().invoke(
        cli.app, ["projections", "rebuild", "--from-topics"], env=environment(settings)
    )

    assert result.exit_code == 2
    said = " ".join(result.output.split())  # the console wraps to its width
    assert "DIGIONE_KAFKA_BOOTSTRAP" in said and "digione serve" in said


def test_rebuild_of_an_unknown_projection_is_refused(
    settings: Settings,
    container: Container,
    broker: EmbeddedBroker,
) -> None:
    result = CliRunner().invoke(
        cli.app,
        ["projections", "rebuild", "dashboards"],
        env=environment(settings, bootstrap=broker.bootstrap),
    )

    assert result.exit_code == 2
    assert "no projection 'dashboards'; known: roster" in result.output


# Rebuilding "roster" drops the tables every tenant shares: on the embedded default only,
# where the database is the test's own.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_rebuild_drops_the_read_model_and_builds_it_again_from_the_topics(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    settings: Settings,
    publisher: StorePublisher,
    broker: EmbeddedBroker,
) -> None:
    a_school(client, container, tenant)
    publisher.publish()

    result = CliRunner().invoke(
        cli.app,
        ["projections", "rebuild", "roster", "--from-topics"],
        env=environment(settings, bootstrap=broker.bootstrap),
    )

    assert result.exit_code == 0, result.output
    assert f"roster rebuilt: {publisher.published} messages" in result.output
    assert read_model(container.engine, RosterProjection(), tenant) == expected_read_model(app)


def test_the_rebuild_benchmark_reports_its_rate_beside_a_bare_insert(
    container: Container,
    app: TenantApplication,
    broker: EmbeddedBroker,
) -> None:
    result = measure_rebuild_rate(
        engine=container.engine,
        app=app,
        bootstrap=broker.bootstrap,
        topic_prefix="digione",
        students=100,
    )

    assert result.events == 302 and result.rebuild_events_per_s > 0
    assert result.insert_rows == 302 and result.insert_rows_per_s > 0
    assert result.topics_events_per_s is not None and result.topics_events_per_s > 0
    assert set(result.as_dict()) >= {"rebuild_events_per_s", "insert_rows_per_s", "ratio"}
