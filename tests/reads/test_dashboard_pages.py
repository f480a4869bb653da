"""The class dashboard's pre-rendered default page (projections/class_dashboard_pages.py):
the same answer as the live read, names sealed at rest, blanked on erasure, read live once
the time moves past what the page holds."""

# ruff: noqa: F811 - the tests take the shared-runtime fixtures imported below as arguments

from __future__ import annotations

import json

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.deps import build_read_service
from domain.commands import Actor
from projections.class_dashboard_pages import (
    StoredPage,
    leave_pages,
    stored_page,
    teachers_page,
)
from projections.reads.access import read_retried
from projections.reads.class_dashboard import ClassDashboardReads
from projections.reads.disclosures import disclosures_of
from projections.reads.unsealing import Unsealer
from tests.builders import School, a_school, a_user, put
from tests.conftest import FakeClock
from tests.read_engine import end_the_read_engines_connections
from tests.reads.school import (
    PERSONAL_WORDS,
    a_line_item,
    an_assessment_of,
    an_attainment_of,
    another_student,
    read,
)
from tests.reads.shared_runtime import (  # noqa: F401 - the fixtures of this module's tests
    backend,
    clock,
    container,
    running,
    shared_runtime,
    tenant,
)

DASHBOARD = "/api/v1/dashboards/classes/cls-4a"


@pytest.fixture
def school(running: TestClient, container: Container, tenant: str) -> School:
    """Class 4A with stu-1 and stu-2 of a_school, and stu-3."""
    built = a_school(running, container, tenant)
    another_student(running, built, "stu-3", given="Sanni", family="Kolmas")
    return built


def _live(container: Container, tenant: str) -> bytes:
    """The default page as the live read answers it (what the route answered before)."""
    reads = build_read_service(
        ClassDashboardReads, container, container.projections.class_dashboard
    )
    answer = reads.dashboard(
        container.tenants.get(tenant), Actor(tenant, "teacher", "tch-1"), "cls-4a"
    )
    return orjson.dumps(answer)


def _stored(container: Container, tenant: str) -> StoredPage | None:
    with container.engine.connect() as connection:
        return stored_page(
            connection,
            container.projections.class_dashboard.pages,
            tenant=tenant,
            class_id="cls-4a",
        )


def _class_4a(pages: sa.Table, tenant: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (pages.c.tenant == tenant, pages.c.class_sourced_id == "cls-4a")


def _filled(container: Container, tenant: str, page: StoredPage) -> bytes:
    """The stored page with its slots unsealed, as the read fills them."""
    unsealer = Unsealer(container.tenants.get(tenant).sealer)
    return page.body({student: unsealer.name(personal) for student, personal in page.slots})


def _answers_as_the_live_read(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> bytes:
    """Reads the page over HTTP and checks it against the live read and the stored page."""
    response = read(running, container, tenant, DASHBOARD, school.teacher)
    assert response.status_code == 200, response.text
    page = _stored(container, tenant)
    assert page is not None and page.holds(clock())
    live = _live(container, tenant)
    assert response.content == live
    assert _filled(container, tenant, page) == live
    return response.content


# Both backends: the pages' rendering (and its locks) differs between them.
def test_the_stored_page_answers_exactly_what_the_live_read_answers_as_the_class_changes(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    pages = []
    check = _answers_as_the_live_read

    pages.append(check(running, container, tenant, school, clock))
    a_line_item(running, school, "li-1", due="2026-02-14T16:00:00Z")  # past due: missing
    a_line_item(running, school, "li-2", due="2026-03-20T16:00:00Z")  # not due yet
    pages.append(check(running, container, tenant, school, clock))
    an_assessment_of(running, school, sourcedId="res-1", student="stu-1", lineItem="li-1", score=12)
    an_assessment_of(
        running, school, student="stu-2", lineItem="li-1", score=0, scoreStatus="not submitted"
    )
    an_assessment_of(running, school, student="stu-3", lineItem="li-1", score=9, late=True)
    pages.append(check(running, container, tenant, school, clock))
    an_assessment_of(running, school, sourcedId="res-1", student="stu-1", lineItem="li-1", score=16)
    an_attainment_of(running, school, "stu-3", "MA.3-6.T5", 3, "2026-02-16", "li-1")
    pages.append(check(running, container, tenant, school, clock))
    put(
        running,
        school.admin,
        "users",
        "stu-3",
        "user",
        a_user("stu-3", "student", given="Sanna", family="Kolmas"),
    )
    another_student(running, school, "stu-4", given="Veeti", family="Neljäs")
    pages.append(check(running, container, tenant, school, clock))

    assert len(set(pages)) == len(pages)  # every change changed the page
    last = json.loads(pages[-1])
    assert [s["name"] for s in last["students"]] == [
        "Aino Virtanen",
        "Eero Oppilas",
        "Sanna Kolmas",
        "Veeti Neljäs",
    ]
    assert {m["student"] for m in last["missingWork"]} == {"stu-2", "stu-4"}
    assert [w["student"] for w in last["lateWork"]] == ["stu-3"]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_the_default_page_is_answered_from_the_stored_page_and_other_pages_live(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    read(running, container, tenant, DASHBOARD, school.teacher)
    pages = container.projections.class_dashboard.pages
    with container.engine.begin() as connection:
        template = connection.execute(
            sa.select(pages.c.template).where(*_class_4a(pages, tenant))
        ).scalar_one()
        altered = bytes(template).replace(b'"title":"cls-4a"', b'"title":"Stored"')
        connection.execute(pages.update().where(pages.c.tenant == tenant).values(template=altered))

    default = read(running, container, tenant, DASHBOARD, school.teacher)
    smaller = read(running, container, tenant, DASHBOARD, school.teacher, limit=49)

    assert b'"title":"Stored"' in default.content
    assert b"Stored" not in smaller.content and smaller.status_code == 200
    recorded = [
        (d.recipient, d.count)
        for d in disclosures_of(container.engine, tenant, "stu-1")
        if d.category == "identity"
    ]
    assert recorded == [("tch-1", 3)]  # each read, stored or live, is recorded


def test_a_stored_page_holds_no_plaintext_name_only_sealed_slots(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    read(running, container, tenant, DASHBOARD, school.teacher)

    pages = container.projections.class_dashboard.pages
    with container.engine.connect() as connection:
        rows = connection.execute(sa.select(pages).where(pages.c.tenant == tenant)).all()

    assert {row.class_sourced_id for row in rows} == {"cls-4a", "cls-5b"}
    for row in rows:
        stored = bytes(row.template) + json.dumps(row.slots).encode()
        assert not any(word.encode() in stored for word in PERSONAL_WORDS + ("Sanni", "Kolmas"))
    slots = next(row.slots for row in rows if row.class_sourced_id == "cls-4a")
    assert {student for student, _ in slots} == {"stu-1", "stu-2", "stu-3"}
    assert all("ciphertext" in personal for _, personal in slots)


def test_an_erased_students_slots_are_blanked_and_the_page_reads_erased_as_the_live_read(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    a_line_item(running, school, "li-1", due="2026-02-14T16:00:00Z")  # stu-2 in missingWork
    read(running, container, tenant, DASHBOARD, school.teacher)
    app = container.tenants.get(tenant)

    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-2", reason="Huoltajan pyyntö", basis=None)
    body = _answers_as_the_live_read(running, container, tenant, school, clock)

    page = _stored(container, tenant)
    assert page is not None
    erased = [personal for student, personal in page.slots if student == "stu-2"]
    assert len(erased) == 2  # on the students list and in missing work
    assert all("ciphertext" not in personal and personal.get("erased") for personal in erased)
    answer = json.loads(body)
    assert [s["name"] for s in answer["students"] if s["sourcedId"] == "stu-2"] == ["erased"]
    assert b"Eero" not in body


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_page_past_a_due_date_is_read_live_and_shows_the_work_now_missing(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    a_line_item(running, school, "li-2", due="2026-03-02T10:00:00Z")  # the clock: 09:30
    before = _answers_as_the_live_read(running, container, tenant, school, clock)

    clock.advance(hours=1)  # li-2 is past due (and the teacher's token still valid)
    after = read(running, container, tenant, DASHBOARD, school.teacher)

    page = _stored(container, tenant)
    assert page is not None and not page.holds(clock())
    assert json.loads(before)["missingWork"] == []
    assert after.content == _live(container, tenant)
    assert {m["student"] for m in after.json()["missingWork"]} == {"stu-1", "stu-2", "stu-3"}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_page_left_to_the_batch_that_catches_up_is_read_live_and_rendered_by_it(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    """A batch with a backlog behind it leaves its classes' pages (leave_pages): until a
    later batch renders them, the class reads live, names and disclosure as ever."""
    read(running, container, tenant, DASHBOARD, school.teacher)
    pages = container.projections.class_dashboard.pages
    with container.engine.begin() as connection:
        leave_pages(connection, pages, [(tenant, "cls-4a")])

    meanwhile = read(running, container, tenant, DASHBOARD, school.teacher)

    page = _stored(container, tenant)
    assert page is not None and not page.holds(clock()) and page.slots == []
    assert meanwhile.status_code == 200 and meanwhile.content == _live(container, tenant)
    assert "Aino Virtanen" in [s["name"] for s in meanwhile.json()["students"]]
    another_student(running, school, "stu-5", given="Ville", family="Viides", class_id="cls-5b")
    _answers_as_the_live_read(running, container, tenant, school, clock)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_page_past_its_time_is_rendered_anew_by_the_next_change_in_the_tenant(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    a_line_item(running, school, "li-2", due="2026-03-02T10:00:00Z")  # the clock: 09:30
    read(running, container, tenant, DASHBOARD, school.teacher)
    clock.advance(hours=1)  # li-2 is past due: the stored page no longer holds

    another_student(running, school, "stu-5", given="Ville", family="Viides", class_id="cls-5b")
    body = _answers_as_the_live_read(running, container, tenant, school, clock)

    assert {m["student"] for m in json.loads(body)["missingWork"]} == {"stu-1", "stu-2", "stu-3"}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_read_whose_pooled_connection_was_ended_reads_on_a_new_one_and_is_recorded(
    running: TestClient, container: Container, tenant: str, school: School
) -> None:
    first = read(running, container, tenant, DASHBOARD, school.teacher)
    ended = end_the_read_engines_connections(container)

    again = read(running, container, tenant, DASHBOARD, school.teacher)

    assert ended >= 1  # the first read left its connection pooled
    assert again.status_code == 200, again.text
    assert again.content == first.content
    recorded = [
        d.count
        for d in disclosures_of(container.engine, tenant, "stu-1")
        if d.category == "identity"
    ]
    assert recorded == [2]  # the read that met the ended connection is recorded too


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_stored_page_asked_first_of_an_ended_connection_is_read_again_on_a_new_one(
    running: TestClient, container: Container, tenant: str, school: School, clock: FakeClock
) -> None:
    # The page is asked in PostgreSQL's binary result format, beside SQLAlchemy's own
    # statements: a dropped connection must still be found dropped, and the read retried
    # on a new one, not on another pooled connection that the restart ended as well.
    read(running, container, tenant, DASHBOARD, school.teacher)
    with container.read_engine.connect() as one, container.read_engine.connect() as two:
        one.execute(sa.text("SELECT 1"))
        two.execute(sa.text("SELECT 1"))  # both go back to the pool, open
    ended = end_the_read_engines_connections(container)

    found = read_retried(
        container.read_engine,
        lambda connection: teachers_page(
            connection,
            container.projections.class_dashboard,
            tenant=tenant,
            class_id="cls-4a",
            teacher="tch-1",
            today=clock().date(),
        ),
    )

    assert ended >= 2
    assert found is not None
    teaches, page = found
    assert teaches
    assert page.subjects == ["stu-1", "stu-2", "stu-3"]
