"""The disclosure record: who received which category of a person's data, when, on what basis."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.problems import problem_of
from projections.reads.disclosures import (
    HELD_IDLE_SECONDS,
    STATUTORY_TASK,
    DisclosureLog,
    DisclosureNotRecordedError,
    UnknownDisclosureCategoryError,
    create_table,
    disclosures_of,
)
from tests.access.conftest import Pupil, export, head
from tests.conftest import FakeClock


def test_the_export_lists_an_admins_earlier_read_of_the_student_with_its_date_category_and_basis(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    read = running.get(
        f"/api/v1/roster/users/stu-1?min_position={head(container, tenant)}",
        headers=pupil.school.admin,
    )
    assert read.status_code == 200, read.text

    document = export(running, pupil.school.guardian, "stu-1").json()

    assert [
        (d["recipient"], d["recipientRole"], d["category"], d["basis"], d["day"], d["count"])
        for d in document["disclosures"]
    ] == [
        ("admin-1", "admin", "contact", "statutory task", "2026-03-02", 1),
        ("admin-1", "admin", "identity", "statutory task", "2026-03-02", 1),
    ]
    assert document["disclosures"][0]["firstAt"].startswith("2026-03-02T09:30")


def test_an_export_is_itself_recorded_as_a_disclosure_of_all_data_to_its_caller(
    running: TestClient, container: Container, tenant: str, pupil: Pupil
) -> None:
    export(running, pupil.school.guardian, "stu-1", at_least=head(container, tenant))

    document = export(running, pupil.school.admin, "stu-1").json()

    assert [
        (d["recipient"], d["recipientRole"], d["category"], d["basis"])
        for d in document["disclosures"]
    ] == [("grd-1", "guardian", "all", "right of access (GDPR art. 15)")]


def test_disclosures_to_one_recipient_on_one_day_are_one_row_with_first_and_last_time_and_count(
    container: Container, tenant: str, clock: FakeClock
) -> None:
    first = clock()
    for _ in range(3):
        container.disclosures.record(
            tenant=tenant,
            subjects=["stu-1", "stu-2", "stu-1"],
            recipient="tch-1",
            recipient_role="teacher",
            categories=["assessment"],
            basis=STATUTORY_TASK,
            at=clock(),
        )
        clock.advance(minutes=20)

    [row] = disclosures_of(container.engine, tenant, "stu-1")

    assert (row.recipient, row.category, row.day) == ("tch-1", "assessment", first.date())
    assert row.count == 3
    assert (row.first_at, row.last_at) == (first, first + timedelta(minutes=40))


def test_a_disclosure_on_another_day_is_a_row_of_its_own(
    container: Container, tenant: str, clock: FakeClock
) -> None:
    for _ in range(2):
        container.disclosures.record(
            tenant=tenant,
            subjects=["stu-1"],
            recipient="oppimissovellus",
            recipient_role="service",
            categories=["identity"],
            basis="consent 7b1c",
            at=clock(),
        )
        clock.advance(days=1)

    rows = disclosures_of(container.engine, tenant, "stu-1")

    assert [(r.day, r.count) for r in rows] == [(date(2026, 3, 2), 1), (date(2026, 3, 3), 1)]
    assert {r.basis for r in rows} == {"consent 7b1c"}


def test_a_disclosure_under_an_unknown_category_is_refused_and_nothing_is_recorded(
    container: Container, tenant: str
) -> None:
    with pytest.raises(UnknownDisclosureCategoryError):
        container.disclosures.record(
            tenant=tenant,
            subjects=["stu-1"],
            recipient="tch-1",
            recipient_role="teacher",
            categories=["assessment", "grades"],
            basis=STATUTORY_TASK,
        )

    assert disclosures_of(container.engine, tenant, "stu-1") == []


def test_concurrent_reads_disclosing_the_same_rows_are_each_counted_with_their_times(
    container: Container, tenant: str, clock: FakeClock
) -> None:
    readers = 12
    start = clock()
    times = [start + timedelta(seconds=index) for index in range(readers)]
    barrier = threading.Barrier(readers)

    def read(at: datetime) -> int:
        barrier.wait()
        return container.disclosures.record(
            tenant=tenant,
            subjects=["stu-1", "stu-2"],
            recipient="tch-1",
            recipient_role="teacher",
            categories=["assessment", "attainment"],
            basis=STATUTORY_TASK,
            at=at,
        )

    with ThreadPoolExecutor(readers) as pool:
        written = list(pool.map(read, times))

    assert written == [4] * readers
    for subject in ("stu-1", "stu-2"):
        rows = disclosures_of(container.engine, tenant, subject)
        assert [(r.category, r.count) for r in rows] == [
            ("assessment", readers),
            ("attainment", readers),
        ]
        assert {(r.first_at, r.last_at) for r in rows} == {(times[0], times[-1])}


def test_a_disclosure_that_cannot_be_recorded_is_a_503_for_the_reader_and_records_nothing(
    tenant: str, tmp_path: Path
) -> None:
    # The write of the second row fails (as a full disk would), after the first row went in.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'failing.sqlite'}")
    create_table(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER disk_full BEFORE INSERT ON disclosures"
            " WHEN NEW.category = 'attainment' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    broken = DisclosureLog(engine)
    try:
        with pytest.raises(DisclosureNotRecordedError) as refused:
            broken.record(
                tenant=tenant,
                subjects=["stu-1"],
                recipient="tch-1",
                recipient_role="teacher",
                categories=["assessment", "attainment"],
                basis=STATUTORY_TASK,
            )
    finally:
        broken.close()

    answer = problem_of(refused.value)
    assert answer is not None and answer.status == 503
    assert "not sent" in answer.detail
    assert disclosures_of(engine, tenant, "stu-1") == []
    engine.dispose()


def test_a_closed_disclosure_log_refuses_to_record_instead_of_losing_the_disclosure(
    container: Container, tenant: str
) -> None:
    log = DisclosureLog(container.engine)
    log.close()

    with pytest.raises(DisclosureNotRecordedError) as refused:
        _teacher_reads(log, tenant, "stu-1")

    answer = problem_of(refused.value)
    assert answer is not None and answer.status == 503
    assert disclosures_of(container.engine, tenant, "stu-1") == []


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_disclosure_is_recorded_after_the_writers_database_session_was_ended(
    container: Container, tenant: str
) -> None:
    log = DisclosureLog(container.engine)
    try:
        _teacher_reads(log, tenant, "stu-1")
        # The session of the writer's kept connection ends, as an administrator's
        # pg_terminate_backend or a server restart ends it (from a session of another
        # pool, so never the writer's own).
        administrator = sa.create_engine(container.settings.sqlalchemy_url)
        with administrator.connect() as admin:
            ended = admin.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND query LIKE '%INSERT INTO disclosures%'"
                )
            ).scalar_one()
        administrator.dispose()
        assert ended == 1

        assert _teacher_reads(log, tenant, "stu-2") == 1
    finally:
        log.close()

    assert [
        (subject, [r.count for r in disclosures_of(container.engine, tenant, subject)])
        for subject in ("stu-1", "stu-2")
    ] == [("stu-1", [1]), ("stu-2", [1])]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_an_idle_disclosure_log_gives_its_database_connection_back(
    container: Container, tenant: str
) -> None:
    engine = sa.create_engine(container.settings.sqlalchemy_url, pool_pre_ping=True)
    given_back = threading.Event()
    sa.event.listen(engine, "checkin", lambda *_: given_back.set())
    log = DisclosureLog(engine)
    try:
        _teacher_reads(log, tenant, "stu-1")
        # Kept while reads keep coming; back in the pool once none came for a while, so an
        # idle server holds no connection of the budget for it.
        assert given_back.wait(10 * HELD_IDLE_SECONDS)
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        log.close()
        engine.dispose()


def _teacher_reads(log: DisclosureLog, tenant: str, subject: str) -> int:
    """Records that teacher tch-1 read `subject`'s assessments (rows recorded)."""
    return log.record(
        tenant=tenant,
        subjects=[subject],
        recipient="tch-1",
        recipient_role="teacher",
        categories=["assessment"],
        basis=STATUTORY_TASK,
    )
