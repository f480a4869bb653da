"""The auditors' replay: events in store order, decoded, personal data sealed or erased."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from domain.commands import Actor
from domain.ids import aggregate_id
from projections.reads.disclosures import disclosures_of
from streams.broker import EmbeddedBroker
from tests.builders import a_school, an_assessment, bearer, put
from tests.projections.publishing import StorePublisher
from tests.projections.test_admin import environment


def _school_with_results(client: TestClient, container: Container, tenant: str) -> Any:
    school = a_school(client, container, tenant)
    put(client, school.admin, "demographics", "stu-1", "demographics", {"birthDate": "2016-05-04"})
    for result, student in (("res-1", "stu-1"), ("res-2", "stu-2")):
        answer = client.post(
            "/api/v1/assessments",
            headers=school.teacher,
            json=an_assessment(sourcedId=result, student=student, comment="Hyvää työtä."),
        )
        assert answer.status_code == 201, answer.text
    return school


def _replay(settings: Settings, tenant: str, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        cli.app, ["replay", "--tenant", tenant, *args], env=environment(settings)
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_replay_by_subject_returns_exactly_that_subjects_events_in_store_order(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    _school_with_results(client, container, tenant)

    events = _replay(settings, tenant, "--subject", "stu-1")

    concerning = {
        str(aggregate_id(tenant, collection, sourced_id))
        for collection, sourced_id in (
            ("users", "stu-1"),
            ("demographics", "stu-1"),
            ("enrollments", "enr-1"),
            ("results", "res-1"),
        )
    }
    assert {e["aggregateId"] for e in events} == concerning
    everything = _replay(settings, tenant)
    assert events == [e for e in everything if e["aggregateId"] in concerning]
    positions = [e["position"] for e in everything]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_replay_shows_personal_fields_sealed_and_erased_ones_as_erased(
    client: TestClient,
    container: Container,
    app: TenantApplication,
    tenant: str,
    settings: Settings,
) -> None:
    _school_with_results(client, container, tenant)
    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-1", reason="pyyntö", basis=None)

    registered = _replay(settings, tenant, "--type", "roster.user.registered")
    output = json.dumps(registered)
    by_user = {e["fields"]["sourced_id"]: e for e in registered}

    assert "Aino" not in output and "Eero" not in output and "ciphertext" not in output
    assert set(by_user["stu-1"]["fields"]["personal"]) == {"erased"}
    assert set(by_user["stu-2"]["fields"]["personal"]) == {"sealed"}
    assert {e["type"] for e in registered} == {"fi.digione.roster.user.registered.v1"}


def test_replay_as_csv_has_a_header_and_one_row_per_event_after_a_position(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    _school_with_results(client, container, tenant)
    everything = _replay(settings, tenant)

    result = CliRunner().invoke(
        cli.app,
        [
            "replay",
            "--tenant",
            tenant,
            "--after",
            str(everything[2]["position"]),
            "--format",
            "csv",
        ],
        env=environment(settings),
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))

    assert result.exit_code == 0, result.output
    assert [int(r["position"]) for r in rows] == [e["position"] for e in everything[3:]]
    assert json.loads(rows[0]["fields"]) == everything[3]["fields"]


def test_an_auditor_pages_through_the_events_over_http(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    _school_with_results(client, container, tenant)
    auditor = bearer(container, tenant, "auditor", "aud-1")
    everything = _replay(settings, tenant)

    first = client.get("/api/v1/audit/events?limit=3", headers=auditor)
    last = json.loads(first.text.splitlines()[-1])["position"]
    rest = client.get(f"/api/v1/audit/events?after={last}&limit=10000", headers=auditor)
    paged = [json.loads(line) for line in (first.text + rest.text).splitlines()]

    assert first.status_code == rest.status_code == 200
    assert first.headers["content-type"].startswith("application/x-ndjson")
    assert paged == everything


def test_a_replay_of_an_unknown_format_is_refused_and_says_what_to_use(
    settings: Settings, tenant: str
) -> None:
    result = CliRunner().invoke(
        cli.app, ["replay", "--tenant", tenant, "--format", "xml"], env=environment(settings)
    )

    assert result.exit_code == 2
    assert "use jsonl or csv" in result.output


def test_replay_until_a_time_stops_at_the_events_that_occurred_by_then(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    _school_with_results(client, container, tenant)
    everything = _replay(settings, tenant)
    cut = everything[len(everything) // 2]["occurredAt"]

    until = _replay(settings, tenant, "--until", cut)

    assert until == [e for e in everything if e["occurredAt"] <= cut]
    assert 0 < len(until) < len(everything)


def test_replay_until_a_time_that_is_not_one_is_refused(settings: Settings, tenant: str) -> None:
    result = CliRunner().invoke(
        cli.app, ["replay", "--tenant", tenant, "--until", "yesterday"], env=environment(settings)
    )

    assert result.exit_code == 2
    assert "ISO 8601" in result.output


def _grant(settings: Settings, tenant: str, *args: str) -> Any:
    return CliRunner().invoke(
        cli.app, ["audit", "grant", "--tenant", tenant, *args], env=environment(settings)
    )


def _disclosed_to(container: Container, tenant: str, subject: str, auditor: str) -> set[str]:
    return {
        d.category
        for d in disclosures_of(container.engine, tenant, subject)
        if d.recipient == auditor and d.recipient_role == "auditor"
    }


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_an_auditor_sees_the_personal_fields_of_granted_subjects_only_and_each_is_disclosed(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    _school_with_results(client, container, tenant)
    granted = _grant(
        settings, tenant, "--auditor", "aud-1", "--subject", "stu-1", "--reason", "valitus 12/2026"
    )

    events = _replay(settings, tenant, "--auditor", "aud-1", "--type", "roster.user.registered")
    over_http = client.get(
        "/api/v1/audit/events?limit=10000", headers=bearer(container, tenant, "auditor", "aud-1")
    )
    by_user = {e["fields"]["sourced_id"]: e["fields"]["personal"] for e in events}

    assert granted.exit_code == 0, granted.output
    assert by_user["stu-1"]["opened"]["data"]["givenName"] == "Aino"
    assert set(by_user["stu-2"]) == {"sealed"}
    assert "Aino" in over_http.text and "Eero" not in over_http.text
    assert "Hyvää työtä" in over_http.text  # stu-1's assessment comment
    assert _disclosed_to(container, tenant, "stu-1", "aud-1") == {
        "identity",
        "contact",
        "demographics",
        "assessment",
    }
    assert _disclosed_to(container, tenant, "stu-2", "aud-1") == set()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_without_a_grant_an_auditor_sees_no_personal_field_and_nothing_is_disclosed(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    _school_with_results(client, container, tenant)
    _grant(settings, tenant, "--auditor", "aud-1", "--subject", "stu-1", "--reason", "valitus")

    cli_replay = json.dumps(_replay(settings, tenant, "--auditor", "aud-2"))
    anonymous = json.dumps(_replay(settings, tenant))
    over_http = client.get(
        "/api/v1/audit/events?limit=10000", headers=bearer(container, tenant, "auditor", "aud-2")
    )

    for shown in (cli_replay, anonymous, over_http.text):
        assert "Aino" not in shown and "Eero" not in shown and "Hyvää" not in shown
        assert '"opened"' not in shown
    assert _disclosed_to(container, tenant, "stu-1", "aud-2") == set()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_grant_is_an_event_in_the_log_and_an_erased_subject_stays_erased_under_it(
    client: TestClient,
    container: Container,
    app: TenantApplication,
    tenant: str,
    settings: Settings,
) -> None:
    _school_with_results(client, container, tenant)
    _grant(settings, tenant, "--auditor", "aud-1", "--subject", "stu-1", "--reason", "valitus")
    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-1", reason="pyyntö", basis=None)

    grants = _replay(settings, tenant, "--type", "privacy.audit_grant")
    registered = _replay(settings, tenant, "--auditor", "aud-1", "--type", "roster.user.registered")

    assert [(g["fields"]["auditor"], g["fields"]["subject"]) for g in grants] == [
        ("aud-1", "stu-1")
    ]
    assert set(grants[0]["fields"]["reason"]) == {"sealed"}
    by_user = {e["fields"]["sourced_id"]: e["fields"]["personal"] for e in registered}
    assert set(by_user["stu-1"]) == {"erased"}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_grant_of_an_unknown_subject_is_refused_and_records_nothing(
    app: TenantApplication, tenant: str, settings: Settings
) -> None:
    head = app.recorder.max_notification_id() or 0

    result = _grant(settings, tenant, "--auditor", "aud-1", "--subject", "nobody", "--reason", "x")

    assert result.exit_code == 2
    assert "'nobody', which is not in users" in result.output
    assert (app.recorder.max_notification_id() or 0) == head


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(
        tmp_path_factory.mktemp("replay-broker"), stop_grace_seconds=0.2
    ) as started:
        yield started


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_replay_from_kafka_gives_the_same_sequence_as_the_store_for_the_same_range(
    client: TestClient,
    container: Container,
    app: TenantApplication,
    tenant: str,
    settings: Settings,
    broker: EmbeddedBroker,
) -> None:
    _school_with_results(client, container, tenant)
    publisher = StorePublisher(app=app, engine=container.engine, bootstrap=broker.bootstrap)
    publisher.publish()
    # A retried publication repeats positions on the topics: a replay shows each once.
    publisher.publish(again_from=3)
    env = environment(settings, bootstrap=broker.bootstrap)

    def replayed(*args: str) -> list[dict[str, Any]]:
        result = CliRunner().invoke(cli.app, ["replay", "--tenant", tenant, *args], env=env)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    from_kafka = replayed("--from-kafka", "--after", "5")
    from_store = replayed("--after", "5")

    assert len(from_store) > 10
    assert from_kafka == from_store
    assert replayed("--from-kafka", "--subject", "stu-2") == replayed("--subject", "stu-2")
