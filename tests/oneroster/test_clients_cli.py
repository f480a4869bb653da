"""`digione clients create` and `clients end`: a service's OAuth client and its agreement."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.settings import Settings
from domain.agreements import Agreement
from tests.builders import School
from tests.projections.test_admin import environment


def _create(settings: Settings, tenant: str, *extra: str) -> dict[str, str]:
    result = CliRunner().invoke(
        cli.app,
        ["clients", "create", "--tenant", tenant, "--name", "learnapp",
         "--scope", "roster.readonly", "--category", "identity", *extra],
        env=environment(settings),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created: dict[str, str] = json.loads(result.stdout)
    return created


def test_create_prints_the_secret_once_and_records_the_agreement_as_an_event(
    container: Container, tenant: str, settings: Settings, school: School
) -> None:
    created = _create(settings, tenant, "--school", "sch-1")

    app = container.tenants.get(tenant)
    agreement = app.agreement(created["client_id"])
    assert set(created) == {"client_id", "client_secret"}
    assert created["client_id"] == f"learnapp@{tenant}"
    assert isinstance(agreement, Agreement)
    assert agreement.service == "learnapp" and agreement.schools == ["sch-1"]
    assert agreement.scopes == ["https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly"]
    assert agreement.categories == ["identity"] and agreement.basis == "statutory"
    stored = app.tables.client_secret_hash(created["client_id"])
    assert stored is not None and created["client_secret"] not in stored
    events = app.recorder.select_notifications(1, limit=100_000)
    assert not any(created["client_secret"].encode() in n.state for n in events)


def test_a_second_client_of_the_same_name_and_an_unknown_scope_are_refused(
    container: Container, tenant: str, settings: Settings, school: School
) -> None:
    _create(settings, tenant)

    again = CliRunner().invoke(
        cli.app,
        ["clients", "create", "--tenant", tenant, "--name", "learnapp", "--scope", "roster.readonly"],
        env=environment(settings),
    )  # fmt: skip
    unknown = CliRunner().invoke(
        cli.app,
        ["clients", "create", "--tenant", tenant, "--name", "other", "--scope", "roster.write"],
        env=environment(settings),
    )  # fmt: skip

    assert again.exit_code == 2 and "exists already" in again.output
    assert unknown.exit_code == 2 and "roster.write" in unknown.output


def test_end_stops_the_clients_tokens(
    client: TestClient, container: Container, tenant: str, settings: Settings, school: School
) -> None:
    created = _create(settings, tenant)
    auth = (created["client_id"], created["client_secret"])
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    ended = CliRunner().invoke(
        cli.app, ["clients", "end", "--tenant", tenant, "--name", "learnapp"],
        env=environment(settings),
    )  # fmt: skip

    assert ended.exit_code == 0, ended.output
    assert client.get("/ims/oneroster/rostering/v1p2/orgs", headers=headers).status_code == 401
    again = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert again.status_code == 401


def test_events_subscribe_a_client_and_update_changes_its_terms_as_one_event(
    container: Container, tenant: str, settings: Settings, school: School
) -> None:
    created = _create(settings, tenant, "--events", "assessment.result.recorded")
    app = container.tenants.get(tenant)
    assert app.agreement(created["client_id"]).events == ["assessment.result.recorded"]  # type: ignore[union-attr]
    head = app.recorder.max_notification_id() or 0

    updated = CliRunner().invoke(
        cli.app,
        ["clients", "update", "--tenant", tenant, "--name", "learnapp",
         "--events", "attainment", "--category", "contact"],
        env=environment(settings),
    )  # fmt: skip
    wrong = CliRunner().invoke(
        cli.app,
        ["clients", "update", "--tenant", tenant, "--name", "learnapp", "--events", "privacy"],
        env=environment(settings),
    )  # fmt: skip

    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout)["events"] == ["attainment"]
    agreement = app.agreement(created["client_id"])
    assert agreement is not None and agreement.events == ["attainment"]
    assert agreement.categories == ["contact"] and agreement.scopes  # scopes kept
    assert agreement.covers("fi.digione.attainment.objective_attainment.assessed.v1")
    assert not agreement.covers("fi.digione.assessment.result.recorded.v1")
    assert wrong.exit_code == 2 and "privacy" in wrong.output
    changes = app.recorder.select_notifications(head + 1, limit=100)
    assert [n.topic.rsplit(".", 1)[-1] for n in changes] == ["Changed"]


def test_a_consent_based_client_names_its_purpose_and_a_client_may_take_clear_delivery(
    container: Container, tenant: str, settings: Settings, school: School
) -> None:
    def clients(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli.app, ["clients", *args], env=environment(settings))
        return result.exit_code, result.output

    no_purpose = clients("create", "--tenant", tenant, "--name", "learnapp",
                         "--scope", "roster.readonly", "--basis", "consent")  # fmt: skip
    bad_delivery = clients("create", "--tenant", tenant, "--name", "learnapp",
                           "--scope", "roster.readonly", "--delivery", "plain")  # fmt: skip
    created = _create(settings, tenant, "--basis", "consent", "--purpose", "learning-app",
                      "--delivery", "clear")  # fmt: skip
    updated = clients("update", "--tenant", tenant, "--name", "learnapp",
                      "--purpose", "homework-help", "--delivery", "sealed")  # fmt: skip

    assert no_purpose[0] == 2 and "purpose" in no_purpose[1]
    assert bad_delivery[0] == 2 and "delivery must be one of" in bad_delivery[1]
    assert updated[0] == 0, updated[1]
    agreement = container.tenants.get(tenant).agreement(created["client_id"])
    assert agreement is not None
    assert (agreement.purpose, agreement.delivery) == ("homework-help", "sealed")


def test_describe_tells_families_about_a_consent_service_once_and_refuses_a_bad_purpose(
    container: Container, tenant: str, settings: Settings, school: School
) -> None:
    created = _create(settings, tenant, "--basis", "consent", "--purpose", "learning-app",
                      "--scope", "gradebook.readonly")  # fmt: skip
    app = container.tenants.get(tenant)
    head = app.recorder.max_notification_id() or 0
    describe = ["clients", "describe", "--tenant", tenant, "--name", "learnapp",
                "--title", "Learn App", "--description-fi", "Harjoitussovellus.",
                "--description-en", "A practice app.", "--purpose", "learning-app"]  # fmt: skip

    told = CliRunner().invoke(cli.app, describe, env=environment(settings))
    again = CliRunner().invoke(cli.app, describe, env=environment(settings))  # records nothing
    wrong = CliRunner().invoke(cli.app, [*describe[:-1], "Käyttö"], env=environment(settings))
    # Families asked only for "research" could never let data flow for learning-app.
    elsewhere = CliRunner().invoke(cli.app, [*describe[:-1], "research"], env=environment(settings))

    assert told.exit_code == 0 and again.exit_code == 0, told.output
    assert json.loads(told.stdout)["receives"] == ["assessment", "identity", "roster"]
    agreement = app.agreement(created["client_id"])
    assert agreement is not None and agreement.title == "Learn App"
    assert agreement.descriptions == {"fi": "Harjoitussovellus.", "sv": "", "en": "A practice app."}
    assert wrong.exit_code == 2 and "purposes must be" in wrong.output
    assert elsewhere.exit_code == 2 and "'learning-app' must be among" in elsewhere.output
    changes = app.recorder.select_notifications(head + 1, limit=100)
    assert [n.topic.rsplit(".", 1)[-1] for n in changes] == ["Described"]
    assert [s.service for s in app.consent_agreements()] == ["learnapp"]


def _read_headers(client: TestClient, created: dict[str, str]) -> dict[str, str]:
    auth = (created["client_id"], created["client_secret"])
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_end_refuses_the_next_request_of_a_client_that_was_reading_until_then(
    client: TestClient, container: Container, tenant: str, settings: Settings, school: School
) -> None:
    headers = _read_headers(client, _create(settings, tenant))
    before = client.get("/ims/oneroster/rostering/v1p2/users/stu-1", headers=headers)

    ended = CliRunner().invoke(
        cli.app, ["clients", "end", "--tenant", tenant, "--name", "learnapp"],
        env=environment(settings),
    )  # fmt: skip

    assert before.status_code == 200, before.text
    assert ended.exit_code == 0, ended.output
    after = client.get("/ims/oneroster/rostering/v1p2/users/stu-1", headers=headers)
    assert after.status_code == 401


def test_a_category_taken_away_by_update_is_withheld_from_the_clients_next_request(
    client: TestClient, container: Container, tenant: str, settings: Settings, school: School
) -> None:
    headers = _read_headers(client, _create(settings, tenant))
    before = client.get("/ims/oneroster/rostering/v1p2/users/stu-1", headers=headers)

    updated = CliRunner().invoke(
        cli.app,
        ["clients", "update", "--tenant", tenant, "--name", "learnapp", "--category", "contact"],
        env=environment(settings),
    )  # fmt: skip

    assert before.status_code == 200 and before.json()["user"]["givenName"] != ""
    assert updated.exit_code == 0, updated.output
    after = client.get("/ims/oneroster/rostering/v1p2/users/stu-1", headers=headers)
    assert after.status_code == 200 and after.json()["user"]["givenName"] == ""
