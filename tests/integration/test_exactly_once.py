"""A keyed command is recorded with its answer or not at all, and a student's one result for
a line item is claimed with the result's events; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import Actor, Outcome, RecordAssessment, RecordAttainment
from domain.errors import ConcurrentUpdateError, ResultExistsError
from domain.ids import aggregate_id
from domain.keyed import KeyAnsweredError, KeyedCommand
from tests.builders import School, a_school, an_assessment

DOOMED = "doomed-key"


def _execute(app: TenantApplication, *statements: str) -> None:
    """Runs SQL in the tenant's own store (its SQLite file or PostgreSQL schema)."""
    datastore = getattr(app.factory, "datastore")  # noqa: B009
    with datastore.transaction(commit=True) as cursor:
        for statement in statements:
            cursor.execute(statement)


def _rows(app: TenantApplication, statement: str) -> list[tuple[Any, ...]]:
    datastore = getattr(app.factory, "datastore")  # noqa: B009
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(statement)
        rows = cursor.fetchall()
    return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]


def _table(app: TenantApplication, name: str, backend: str) -> str:
    return f'"tenant_{app.tenant}".{name}' if backend == "postgres" else name


def _refuse_answers_for(app: TenantApplication, backend: str, key: str) -> None:
    """Makes the database refuse to store the answer of `key`: the write after the events
    fails, as a full disk or a lost connection would make it."""
    table = _table(app, "digione_idempotency", backend)
    if backend == "postgres":
        schema = f'"tenant_{app.tenant}"'
        _execute(
            app,
            f"CREATE FUNCTION {schema}.refuse_answer() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'the test refuses this answer'; END $$",
            f"CREATE TRIGGER refuse_answer BEFORE INSERT ON {table} FOR EACH ROW"
            f" WHEN (NEW.idempotency_key = '{key}') EXECUTE FUNCTION {schema}.refuse_answer()",
        )
    else:
        _execute(
            app,
            f"CREATE TRIGGER refuse_answer BEFORE INSERT ON {table}"
            f" WHEN NEW.idempotency_key = '{key}'"
            " BEGIN SELECT RAISE(ABORT, 'the test refuses this answer'); END",
        )


def _accept_answers_again(app: TenantApplication, backend: str) -> None:
    table = _table(app, "digione_idempotency", backend)
    on_table = f" ON {table}" if backend == "postgres" else ""
    _execute(app, f"DROP TRIGGER refuse_answer{on_table}")


def _results_recorded(app: TenantApplication) -> list[str]:
    return [
        str(n.originator_id)
        for n in app.recorder.select_notifications(1, limit=100_000)
        if n.topic.endswith("Result.Recorded")
    ]


def _with_line_item(client: TestClient, container: Container, tenant: str, *ids: str) -> School:
    school = a_school(client, container, tenant)
    for line_item in ids or ("li-1",):
        item: dict[str, Any] = {
            "title": f"Koe {line_item}",
            "assignDate": "2026-02-01T08:00:00Z",
            "dueDate": "2026-02-14T16:00:00Z",
            "class": {"sourcedId": "cls-4a"},
            "category": {"sourcedId": "test"},
        }
        answer = client.put(
            f"/api/v1/lineItems/{line_item}", json={"lineItem": item}, headers=school.teacher
        )
        assert answer.status_code == 201, answer.text
    return school


def test_a_command_whose_answer_cannot_be_stored_records_nothing_and_its_retry_records_once(
    container: Container, tenant: str, app: TenantApplication, backend: str
) -> None:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        school = _with_line_item(client, container, tenant)
        _refuse_answers_for(app, backend, DOOMED)
        head = app.head_position()
        headers = {**school.teacher, "Idempotency-Key": DOOMED}
        body = an_assessment(lineItem="li-1")

        failed = client.post("/api/v1/assessments", json=body, headers=headers)

        assert not failed.is_success
        assert app.head_position() == head
        assert _results_recorded(app) == []
        assert app.tables.find_answer("teacher:tch-1", DOOMED) is None
        assert app.tables.result_slots() == {}

        _accept_answers_again(app, backend)
        retried = client.post("/api/v1/assessments", json=body, headers=headers)
        again = client.post("/api/v1/assessments", json=body, headers=headers)

    assert retried.status_code == again.status_code == 201
    assert again.json() == retried.json()
    # One event (PostgreSQL's ids may skip the one the failed transaction drew).
    assert len(app.recorder.select_notifications(head + 1, limit=100)) == 1
    assert len(_results_recorded(app)) == 1
    assert app.tables.result_slots() == {("stu-1", "li-1"): retried.json()["sourcedId"]}


def test_a_no_op_command_with_a_key_stores_its_answer(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    org: dict[str, Any] = {"sourcedId": "sch-1", "status": "active", "name": "Koulu"}
    org |= {"type": "school", "identifier": "01", "parent": None}
    first = client.put("/api/v1/roster/orgs/sch-1", json={"org": org}, headers=school.admin)
    headers = {**school.admin, "Idempotency-Key": "same-again"}
    head = app.head_position()

    unchanged = client.put("/api/v1/roster/orgs/sch-1", json={"org": org}, headers=headers)

    assert first.status_code in (200, 201), first.text
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json() == {"sourcedId": "sch-1", "position": head, "changed": False}
    stored = app.tables.find_answer("admin:admin-1", "same-again")
    assert stored is not None and json.loads(stored.body) == unchanged.json()
    assert app.head_position() == head


def _keyed(key: str, principal: str = "teacher:tch-1") -> KeyedCommand:
    def answer(outcome: Outcome) -> tuple[int, str]:
        return 201, json.dumps({"id": outcome.id, "position": outcome.position})

    return KeyedCommand(principal=principal, key=key, request_hash="same", answer=answer)


def _assessment(**overrides: Any) -> RecordAssessment:
    fields: dict[str, Any] = {
        "sourced_id": None,
        "student": "stu-1",
        "school_class": "cls-4a",
        "line_item": None,
        "score": None,
        "grade": "8",
        "comment": "Hyvää työtä.",
        "objectives": [],
        "assessed_at": date(2026, 2, 10),
    }
    return RecordAssessment(**(fields | overrides))


def test_a_retry_that_raced_past_the_answer_in_another_process_records_nothing(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    a_school(client, container, tenant)
    teacher = Actor(tenant, "teacher", "tch-1")
    # A second application on the same store: another server process, with its own cache.
    container.tenants._apps.pop(tenant)
    other = container.tenants.get(tenant)
    with app.keyed(_keyed("raced")) as first:
        outcome = app.record_assessment(teacher, _assessment(), idempotency_seed="raced")
    head = app.head_position()
    assert first.answer is not None

    # The other process looked before the first answer existed, so it runs the command too.
    try:
        with other.keyed(_keyed("raced")):
            other.record_assessment(teacher, _assessment(), idempotency_seed="raced")
        raced: KeyAnsweredError | None = None
    except KeyAnsweredError as error:
        raced = error

    assert raced is not None, "the raced retry recorded the command a second time"
    assert raced.answer == first.answer
    assert json.loads(raced.answer.body)["position"] == outcome.position == head
    assert other.head_position() == head
    other.close()


def test_a_raced_attainment_retry_records_no_second_assessment_of_the_level(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    a_school(client, container, tenant)
    teacher = Actor(tenant, "teacher", "tch-1")
    command = RecordAttainment(
        student="stu-1",
        school_class="cls-4a",
        objective="MA.3-6.T5",
        level=3,
        evidence=[],
        assessed_at=date(2026, 2, 10),
    )
    container.tenants._apps.pop(tenant)
    other = container.tenants.get(tenant)
    with app.keyed(_keyed("level")):
        app.record_attainment(teacher, command)
    head = app.head_position()

    try:
        with other.keyed(_keyed("level")):
            other.record_attainment(teacher, command)
        raced = False
    except KeyAnsweredError:
        raced = True

    assert raced, "the raced retry recorded the attainment a second time"
    assert other.head_position() == head
    other.close()


def test_a_result_whose_save_failed_leaves_the_students_line_item_free(
    container: Container, tenant: str, app: TenantApplication, backend: str
) -> None:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        school = _with_line_item(client, container, tenant)
        _refuse_answers_for(app, backend, DOOMED)
        failed = client.post(
            "/api/v1/assessments",
            json=an_assessment(lineItem="li-1", sourcedId="res-lost"),
            headers={**school.teacher, "Idempotency-Key": DOOMED},
        )

        other = client.post(
            "/api/v1/assessments",
            json=an_assessment(lineItem="li-1", sourcedId="res-kept"),
            headers=school.teacher,
        )

    assert not failed.is_success
    assert other.status_code == 201, other.text
    assert app.tables.result_slots() == {("stu-1", "li-1"): "res-kept"}


def test_results_recorded_before_the_slots_existed_get_their_slots_when_the_store_opens(
    client: TestClient, container: Container, tenant: str, app: TenantApplication, backend: str
) -> None:
    school = _with_line_item(client, container, tenant, "li-1", "li-2")
    slots = _table(app, "digione_result_slots", backend)
    migrations = _table(app, "digione_migrations", backend)
    first = client.post(
        "/api/v1/assessments", json=an_assessment(lineItem="li-1"), headers=school.teacher
    )
    # Before the rule: a second result of the student for the same line item was accepted.
    _execute(app, f"DELETE FROM {slots}")
    second = client.post(
        "/api/v1/assessments",
        json=an_assessment(lineItem="li-1", grade="6"),
        headers=school.teacher,
    )
    other = client.post(
        "/api/v1/assessments",
        json=an_assessment(lineItem="li-1", student="stu-2"),
        headers=school.teacher,
    )
    # A store of an earlier version: no slots, no migration done, and a slot that an earlier
    # version claimed for a result whose save then failed.
    _execute(
        app,
        f"DELETE FROM {slots}",
        f"DELETE FROM {migrations}",
        f"INSERT INTO {slots} (student, line_item, result, created_at)"
        " VALUES ('stu-1', 'li-2', 'never-recorded', '2026-01-01')",
    )
    container.tenants._apps.pop(tenant).close()

    reopened = container.tenants.get(tenant)

    assert {r.status_code for r in (first, second, other)} == {201}
    assert reopened.tables.result_slots() == {
        ("stu-1", "li-1"): first.json()["sourcedId"],
        ("stu-2", "li-1"): other.json()["sourcedId"],
    }
    refused = client.post(
        "/api/v1/assessments", json=an_assessment(lineItem="li-1"), headers=school.teacher
    )
    freed = client.post(
        "/api/v1/assessments", json=an_assessment(lineItem="li-2"), headers=school.teacher
    )
    assert refused.status_code == 409
    assert first.json()["sourcedId"] in refused.json()["detail"]
    assert freed.status_code == 201, freed.text


def test_concurrent_first_results_of_a_student_for_a_line_item_in_two_processes_record_one(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    _with_line_item(client, container, tenant)
    teacher = Actor(tenant, "teacher", "tch-1")
    container.tenants._apps.pop(tenant)
    other = container.tenants.get(tenant)
    start = threading.Barrier(8)
    refused: list[str] = []

    def record(n: int) -> None:
        replica = app if n % 2 else other
        start.wait()
        try:
            replica.record_assessment(
                teacher, _assessment(sourced_id=f"res-{n}", line_item="li-1", grade=str(4 + n % 7))
            )
        except (ResultExistsError, ConcurrentUpdateError) as error:
            refused.append(type(error).__name__)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recorded = _results_recorded(app)
    assert len(recorded) == 1
    assert len(refused) == 7
    (holder,) = app.tables.result_slots().values()
    assert str(aggregate_id(tenant, "results", holder)) == recorded[0]
    other.close()
