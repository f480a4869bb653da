"""A command checks its references on this process's copies and its save checks that they
did not change since (domain/validated_reads.py): a change made through another replica of
the API is never missed, and a save that read a changed record records nothing."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.settings import libpq_form
from domain.application import TenantApplication
from domain.commands import Actor, PutEnrollment, PutOrg, PutUser
from domain.errors import InvalidValueError
from domain.ids import aggregate_id
from domain.recorders import StaleReadsError
from domain.roster import Org, Role
from domain.validated_reads import ReadSet
from tests.builders import School, an_assessment


def test_a_teacher_whose_enrollment_another_replica_ended_cannot_assess_through_this_one(
    client: TestClient,
    school: School,
    tenant: str,
    app: TenantApplication,
    other_process: TenantApplication,
) -> None:
    first = client.post("/api/v1/assessments", json=an_assessment(), headers=school.teacher)
    assert first.status_code == 201
    # Another API process on the same store ends the teacher's enrollment in the class this
    # one has just read (and keeps a copy of).
    other_process.put_enrollment(
        Actor(tenant, "admin", "adm-1"),
        PutEnrollment(
            "enr-3", "active", "tch-1", "cls-4a", "sch-1", "teacher", True, None, date(2026, 1, 31)
        ),
    )
    head = app.head_position()

    second = client.post(
        "/api/v1/assessments",
        json=an_assessment(assessedAt="2026-02-20"),
        headers=school.teacher,
    )

    assert second.status_code == 403, second.text
    assert "only a teacher of class 'cls-4a'" in second.json()["detail"]
    assert app.head_position() == head


def test_a_user_another_replica_made_a_student_cannot_be_enrolled_as_a_teacher_through_this_one(
    school: School, tenant: str, app: TenantApplication, other_process: TenantApplication
) -> None:
    # Enrolling tch-2 in class 5B (the school's) read them: this process keeps a copy.
    admin = Actor(tenant, "admin", "adm-1")
    other_process.put_user(
        admin,
        PutUser(
            "tch-2",
            "active",
            True,
            [Role("primary", "student", "sch-1")],
            "sch-1",
            [],
            [],
            {"givenName": "Pekka", "familyName": "Opettaja"},
        ),
    )
    head = app.head_position()

    with pytest.raises(InvalidValueError, match="has no teacher role"):
        app.put_enrollment(
            admin,
            PutEnrollment(
                "enr-9", "active", "tch-2", "cls-4a", "sch-1", "teacher", False, None, None
            ),
        )

    assert app.head_position() == head


def a_new_school(tenant: str, sourced_id: str) -> Org:
    return Org.register(
        aggregate_id(tenant, "orgs", sourced_id),
        sourced_id=sourced_id,
        name=f"Koulu {sourced_id}",
        org_type="school",
        identifier=sourced_id,
        parent=None,
    )


def read_at(record_id: object, version: int) -> ReadSet:
    reads = ReadSet()
    reads.note(record_id, version)  # type: ignore[arg-type]
    return reads


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "path", ["in one statement", "with a side write", "after another replica's save"]
)
def test_a_save_whose_command_read_a_record_since_changed_records_nothing(
    tenant: str, app: TenantApplication, other_process: TenantApplication, path: str
) -> None:
    admin = Actor(tenant, "admin", "adm-1")
    app.put_org(admin, PutOrg("sch-1", "active", "Koulu", "school", "01", None))
    renamed = PutOrg("sch-1", "active", "Uusi koulu", "school", "01", None)
    if path == "after another replica's save":
        # This process no longer knows the store's head: its save reads it under the lock.
        other_process.put_org(admin, renamed)
    else:
        app.put_org(admin, renamed)
    side_writes = [lambda cursor, _position: cursor.execute("SELECT 1")]
    writes = side_writes if path == "with a side write" else []
    school = aggregate_id(tenant, "orgs", "sch-1")
    head = app.head_position()

    with pytest.raises(StaleReadsError):
        app._save(a_new_school(tenant, "sch-2"), side_writes=writes, reads=read_at(school, 1))

    assert app.head_position() == head
    assert app.recorder.select_events(aggregate_id(tenant, "orgs", "sch-2")) == []
    # Read at the version the store holds, the same save is recorded.
    position = app._save(
        a_new_school(tenant, "sch-3"), side_writes=writes, reads=read_at(school, 2)
    )
    assert position == head + 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_side_writes_alone_whose_command_read_a_record_since_changed_are_refused(
    tenant: str, app: TenantApplication
) -> None:
    """A save of side writes and no event (its transaction opened without the events'
    statement) checks the command's reads as a save of events does."""
    admin = Actor(tenant, "admin", "adm-1")
    app.put_org(admin, PutOrg("sch-1", "active", "Koulu", "school", "01", None))
    app.put_org(admin, PutOrg("sch-1", "active", "Uusi koulu", "school", "01", None))
    school = aggregate_id(tenant, "orgs", "sch-1")
    side_writes = [lambda cursor, _position: cursor.execute("SELECT 1")]

    with pytest.raises(StaleReadsError):
        app._save(side_writes=side_writes, reads=read_at(school, 1))

    # Read at the version the store holds, the same side writes are saved (no event).
    assert app._save(side_writes=side_writes, reads=read_at(school, 2)) is None


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_the_check_of_a_commands_reads_looks_up_each_record_and_never_scans_the_store(
    app: TenantApplication, postgres_database_url: str
) -> None:
    """The check runs under the store's lock for every command that read records. From its
    sixth call PostgreSQL may run a function's statements with a generic plan; the check
    must still look up each record read in the events' index, never read every event of
    the store (which grows by the year)."""
    recorder = app.recorder
    schema = recorder.datastore.schema  # type: ignore[attr-defined]
    events_table = recorder.events_table_name  # type: ignore[attr-defined]
    events = sql.Identifier(schema, events_table)
    # The statement the save sends.
    expect_versions = recorder._expect_versions  # type: ignore[attr-defined]
    records = [UUID(int=n) for n in (1, 2)]
    plans: list[str] = []
    with psycopg.connect(libpq_form(postgres_database_url), autocommit=True) as connection:
        # 1,000 records of 40 events each, before PostgreSQL's statistics caught up with
        # them (a store just filled: an import, a year's assessments).
        connection.execute(
            sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(r), 12, '0'))::uuid, v,"
                " 'domain.roster:User.Revised', '{{}}'::bytea"
                " FROM generate_series(1, 1000) AS r, generate_series(1, 40) AS v"
            ).format(events)
        )
        # Each plan the server runs, those inside the function too, as a notice.
        connection.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        connection.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice"):
            connection.execute(f"SET auto_explain.{setting}")
        for _ in range(8):
            # Both records read at their version 40, their last.
            connection.execute(expect_versions, (records, [40, 40]))

    probes = [plan for plan in plans if "unnest(read_ids, read_versions)" in plan]
    assert len(probes) == 8, plans
    for plan in probes:
        assert "Seq Scan" not in plan, plan
        assert f"{events_table}_pkey" in plan, plan
