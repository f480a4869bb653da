"""The roster read model holds what was put, built from every roster event, with personal
fields stored sealed (ciphertext that unseals to the names, never plaintext)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.ids import aggregate_id
from projections.erasure import SHREDDING_EVENTS
from projections.roster import IGNORED_EVENT_TYPES, RosterProjection
from projections.sealed import sealed_value
from streams.event_types import by_topic, catalogue
from tests.builders import a_school, put
from tests.projections.conftest import RunnerFactory
from tests.projections.publishing import StorePublisher
from tests.projections.read_models import expected_read_model, read_model
from tests.projections.roster_changes import a_changing_school

pytestmark = pytest.mark.broker


def test_every_roster_event_type_is_handled_or_deliberately_ignored() -> None:
    roster = RosterProjection()
    roster_types = {t.type_name for t in catalogue() if t.family == "roster"}

    # The gradebook's line items and results, which the OneRoster gradebook service reads.
    gradebook = {
        t.type_name
        for t in catalogue()
        if t.family == "assessment"
        and any(f".{a}." in t.type_name for a in ("line_item", "result", "category", "score_scale"))
    }
    # The consents, which consent-based OneRoster clients read through.
    consents = {t.type_name for t in catalogue() if ".consent.consent." in t.type_name}
    handled = set(roster.handlers)

    assert gradebook and consents
    assert handled - roster_types == set(SHREDDING_EVENTS) | gradebook | consents
    assert roster_types - handled == IGNORED_EVENT_TYPES


def test_the_read_model_of_a_school_holds_what_was_put(
    client: TestClient,
    container: Container,
    tenant: str,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    a_school(client, container, tenant)
    publisher.publish()

    runner_for(roster).run_once()

    model = read_model(container.engine, roster, tenant)
    orgs = {r["sourced_id"]: r for r in model["orgs"]}
    assert (orgs["dist-1"]["type"], orgs["dist-1"]["name"], orgs["dist-1"]["parent"]) == (
        "district",
        "Testikunta",
        None,
    )
    assert (orgs["sch-1"]["type"], orgs["sch-1"]["identifier"], orgs["sch-1"]["parent"]) == (
        "school",
        "01",
        "dist-1",
    )
    [year] = model["academic_sessions"]
    assert (year["sourced_id"], year["type"], year["start_date"], year["end_date"]) == (
        "year-2026",
        "schoolYear",
        "2025-08-11",
        "2026-05-30",
    )
    [course] = model["courses"]
    assert (course["course_code"], course["org"], course["subject_codes"]) == (
        "MA4",
        "sch-1",
        ["MA"],
    )
    classes = {r["sourced_id"]: r for r in model["classes"]}
    assert set(classes) == {"cls-4a", "cls-5b"}
    assert {(c["course"], c["school"], tuple(c["terms"])) for c in classes.values()} == {
        ("ma-4", "sch-1", ("year-2026",))
    }
    assert {(r["class_sourced_id"], r["term"]) for r in model["class_terms"]} == {
        ("cls-4a", "year-2026"),
        ("cls-5b", "year-2026"),
    }
    users = {r["sourced_id"]: r for r in model["users"]}
    assert set(users) == {"grd-1", "stu-1", "stu-2", "tch-1", "tch-2"}
    assert users["stu-1"]["agents"] == ["grd-1"]
    assert users["stu-1"]["roles"] == [
        {
            "roleType": "primary",
            "role": "student",
            "org": "sch-1",
            "beginDate": None,
            "endDate": None,
        }
    ]
    assert all(u["enabled_user"] for u in users.values())
    assert {(r["user_sourced_id"], r["role"], r["org"]) for r in model["user_roles"]} == {
        ("grd-1", "guardian", "sch-1"),
        ("stu-1", "student", "sch-1"),
        ("stu-2", "student", "sch-1"),
        ("tch-1", "teacher", "sch-1"),
        ("tch-2", "teacher", "sch-1"),
    }
    assert [(r["user_sourced_id"], r["agent"]) for r in model["user_agents"]] == [
        ("stu-1", "grd-1")
    ]
    assert {
        (r["sourced_id"], r["user_sourced_id"], r["class_sourced_id"], r["role"])
        for r in model["enrollments"]
    } == {
        ("enr-1", "stu-1", "cls-4a", "student"),
        ("enr-2", "stu-2", "cls-4a", "student"),
        ("enr-3", "tch-1", "cls-4a", "teacher"),
        ("enr-4", "tch-2", "cls-5b", "teacher"),
    }
    records = [
        r
        for name in ("orgs", "academic_sessions", "courses", "classes", "users", "enrollments")
        for r in model[name]
    ]
    assert {r["status"] for r in records} == {"active"}
    assert all(r["date_last_modified"] for r in records)


def test_personal_fields_are_stored_sealed_and_unseal_to_the_names(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    school = a_school(client, container, tenant, student_name=("Zelmiina", "Quxström"))
    put(
        client,
        school.admin,
        "demographics",
        "stu-1",
        "demographics",
        {"birthDate": "2016-05-04", "cityOfBirth": "Kaupunkila"},
    )
    publisher.publish()

    runner_for(roster).run_once()

    model = read_model(container.engine, roster, tenant)
    stored = json.dumps(model, ensure_ascii=False)
    for plaintext in ("Zelmiina", "Quxström", "Kaupunkila", "2016-05-04", "stu-1@example"):
        assert plaintext not in stored
    [student] = [u for u in model["users"] if u["sourced_id"] == "stu-1"]
    assert set(student["personal"]) == {"subject", "retention", "nonce", "ciphertext"}
    assert student["personal"]["subject"] == str(aggregate_id(tenant, "users", "stu-1"))
    opened = app.sealer.unseal(sealed_value(student["personal"]))
    assert isinstance(opened, dict)
    assert (opened["givenName"], opened["familyName"]) == ("Zelmiina", "Quxström")
    [demographics] = model["demographics"]
    opened = app.sealer.unseal(sealed_value(demographics["personal"]))
    assert isinstance(opened, dict)
    assert (opened["birthDate"], opened["cityOfBirth"]) == ("2016-05-04", "Kaupunkila")


def test_every_kind_of_roster_change_reaches_the_read_model(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    publisher: StorePublisher,
    runner_for: RunnerFactory,
    roster: RosterProjection,
) -> None:
    a_changing_school(client, container, tenant)
    publisher.publish()

    runner_for(roster).run_once()

    recorded = {
        by_topic()[n.topic].type_name for n in app.recorder.select_notifications(1, limit=100_000)
    }
    # Erasure is tested apart; the gradebook rows by tests/oneroster/test_gradebook_*.
    gradebook = {t for t in roster.handlers if ".assessment." in t}
    consents = {t for t in roster.handlers if ".consent.consent." in t}  # test_consent_clients
    roster_handlers = set(roster.handlers) - set(SHREDDING_EVENTS) - gradebook - consents
    assert roster_handlers <= recorded, "the script should record every roster event"
    assert read_model(container.engine, roster, tenant) == expected_read_model(app)
