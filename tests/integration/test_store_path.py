"""The store path of grouped commands: the ledger chain, notifications and the connection
the recorder holds for group commits, across other processes' writes and failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import sql

from api.settings import Settings
from domain.application import TenantApplication
from domain.commands import Actor, PutOrg
from domain.errors import ConcurrentUpdateError
from domain.ids import aggregate_id
from domain.tenant_tables import IdempotentAnswer
from tests.builders import a_student_put
from tests.integration.test_group_commit import a_group_forming, keyed, put_school
from tests.integration.test_ledger import Store
from tests.integration.test_validated_reads import a_new_school


def test_groups_chain_on_the_events_another_process_recorded_in_between(
    app: TenantApplication, other_process: TenantApplication
) -> None:
    already = app.ledger.verify().checked
    positions: list[int] = []

    for round_ in range(3):
        with a_group_forming(app) as run:
            grouped = run([put_school(app, f"here-{round_}-{n}") for n in range(4)])
        positions += [outcome.position for outcome in grouped]
        positions.append(put_school(other_process, f"there-{round_}")().position)
    report = app.ledger.verify()

    assert report.ok, report.problem
    assert report.checked == already + len(set(positions)) == already + 15
    assert report.head_position == max(positions)
    assert other_process.ledger.verify().ok


def test_groups_with_and_without_side_rows_chain_one_after_another_on_the_ledger(
    app: TenantApplication,
) -> None:
    put_school(app, "mixed-warm")()  # the process now knows the store head
    already = app.ledger.verify().checked
    positions: list[int] = []

    for round_ in range(2):
        with a_group_forming(app) as run:
            plain = run([put_school(app, f"plain-{round_}-{n}") for n in range(3)])
        with a_group_forming(app) as run:
            answered = run(
                [
                    keyed(app, f"mixed-{round_}-{n}", put_school(app, f"keyed-{round_}-{n}"))
                    for n in range(3)
                ]
            )
        positions += [outcome.position for outcome in [*plain, *answered]]
    report = app.ledger.verify()

    assert report.ok, report.problem
    assert report.checked == already + len(set(positions)) == already + 12
    assert report.head_position == max(positions) == app.head_position()


def test_a_group_after_a_failed_group_transaction_chains_on_the_last_recorded_event(
    app: TenantApplication,
) -> None:
    before = put_school(app, "before")().position
    already = app.ledger.verify().checked

    def broken(_cursor: object, _position: int) -> None:
        raise RuntimeError("the disk is full")

    with a_group_forming(app) as run:
        failed = run(
            [put_school(app, "lost-1"), lambda: app._outcome("none", False, side_writes=[broken])]
        )
    with a_group_forming(app) as run:
        after = run([put_school(app, "after-1"), put_school(app, "after-2")])
    report = app.ledger.verify()

    assert all(isinstance(result, RuntimeError) for result in failed)
    assert app.find("orgs", "lost-1") is None
    assert min(outcome.position for outcome in after) > before
    assert report.ok, report.problem
    assert report.checked == already + 2
    assert report.head_position == max(outcome.position for outcome in after)


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_grouped_command_is_recorded_after_the_server_closed_every_connection(
    app: TenantApplication, settings: Settings
) -> None:
    put_school(app, "first")()  # the recorder now holds a connection for group commits
    database = str(settings.database_url).rsplit("/", 1)[1]
    with psycopg.connect(str(settings.database_url), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )

    outcome = put_school(app, "second")()

    assert app.find("orgs", "second") is not None
    assert app.head_position() == outcome.position
    assert app.ledger.verify().ok


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_grouped_command_notifies_the_stores_listeners(
    app: TenantApplication, settings: Settings
) -> None:
    channel = getattr(app.recorder, "channel_name")  # noqa: B009
    with psycopg.connect(str(settings.database_url), autocommit=True) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

        with a_group_forming(app) as run:
            run([put_school(app, "heard")])
        heard = list(listener.notifies(timeout=30, stop_after=1))

    assert [notify.channel for notify in heard] == [channel]


@pytest.mark.parametrize("backend", ["postgres"])
def test_an_event_inserted_by_another_writer_after_grouped_commands_takes_the_next_position(
    app: TenantApplication,
) -> None:
    put_school(app, "warm")()
    last = put_school(app, "known-head")().position  # recorded at the head this process knew
    store = Store(app)

    with getattr(app.factory, "datastore").transaction(commit=True) as cursor:  # noqa: B009
        cursor.execute(
            f"INSERT INTO {store.events} (originator_id, originator_version, topic, state)"
            " VALUES (gen_random_uuid(), 1, 'elsewhere', '') RETURNING notification_id"
        )
        foreign = int(cursor.fetchone()["notification_id"])
    after = put_school(app, "after-foreign")().position

    assert foreign == last + 1
    assert after == foreign + 1
    assert app.ledger.verify().first_bad_position == foreign


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_records_events_are_read_in_every_shape_of_the_stores_read(
    app: TenantApplication,
) -> None:
    school = put_school(app, "read-shapes")
    for _ in range(3):
        school()  # the same put again records nothing; a renamed one records a revision
    admin = Actor(app.tenant, "admin", "admin-1")
    for n in range(4):
        app.put_org(admin, PutOrg("read-shapes", "active", f"Nimi {n}", "school", "rs", None))
    record = aggregate_id(app.tenant, "orgs", "read-shapes")

    def versions(**shape: Any) -> list[int]:
        return [e.originator_version for e in app.recorder.select_events(record, **shape)]

    every = versions()
    assert len(every) >= 5
    assert versions(gt=2) == [v for v in every if v > 2]
    assert versions(lte=3) == [v for v in every if v <= 3]
    assert versions(gt=1, lte=4) == [v for v in every if 1 < v <= 4]
    assert versions(desc=True) == every[::-1]
    assert versions(desc=True, limit=2) == every[::-1][:2]
    assert versions(gt=1, desc=True, limit=1) == [every[-1]]


def test_grouped_saves_with_side_rows_are_recorded_after_many_sent_as_another_process_wrote(
    app: TenantApplication, other_process: TenantApplication
) -> None:
    """A save with side rows is sent as one query, refused when another process wrote since
    (then saved in two steps): many of those in a row leave the held connection recording
    the next save, every event on the ledger's chain."""
    admin = Actor(app.tenant, "admin", "admin-1")

    def answer(_position: int) -> IdempotentAnswer:
        return IdempotentAnswer("digest", 201, "{}")

    put_school(app, "warm")()  # the process knows the store head
    for n in range(3):
        app._save_grouped(
            [a_new_school(app.tenant, f"before-{n}")],
            [app.tables.answer_write("admin:admin-1", f"b{n}", answer)],
        )
    positions: list[int] = []
    for n in range(8):
        other_process.put_org(admin, PutOrg(f"there-{n}", "active", "Koulu", "school", "x", None))
        position = app._save_grouped(
            [a_new_school(app.tenant, f"here-{n}")],
            [app.tables.answer_write("admin:admin-1", f"k{n}", answer)],
        )
        assert position is not None
        positions.append(position)

    last = app._save_grouped(
        [a_new_school(app.tenant, "last")],
        [app.tables.answer_write("admin:admin-1", "last", answer)],
    )

    assert last is not None
    assert positions == sorted(set(positions)) and last > positions[-1]
    assert last == app.head_position()
    assert all(app.find("orgs", f"here-{n}") is not None for n in range(8))
    report = app.ledger.verify()
    assert report.ok, report.problem


def test_a_save_whose_side_row_the_database_refuses_records_nothing_and_the_next_is_chained(
    app: TenantApplication,
) -> None:
    """A side row refused by the database (a key answered already) fails its whole save,
    sent with the events as one pipeline; the held connection then records the next save,
    and the ledger's chain runs on over it."""

    def answer(_position: int) -> IdempotentAnswer:
        return IdempotentAnswer("digest", 201, "{}")

    put_school(app, "warm")()  # the process knows the store head: the one-step save
    first = app._save_grouped(
        [a_new_school(app.tenant, "first")], [app.tables.answer_write("admin:a", "k", answer)]
    )
    head = app.head_position()

    with pytest.raises(ConcurrentUpdateError):
        app._save_grouped(
            [a_new_school(app.tenant, "refused")],
            [app.tables.answer_write("admin:a", "k", answer)],
        )
    after = app._save_grouped(
        [a_new_school(app.tenant, "after")], [app.tables.answer_write("admin:a", "k2", answer)]
    )

    assert first == head and app.find("orgs", "refused") is None
    assert after is not None and after > head and after == app.head_position()
    assert app.find("orgs", "after") is not None
    report = app.ledger.verify()
    assert report.ok, report.problem
    assert report.head_position == after


def _put_users(app: TenantApplication, prefix: str, count: int) -> list[int]:
    admin = Actor(app.tenant, "admin", "admin-1")
    return [
        app.put_user(
            admin,
            a_student_put(
                f"{prefix}-{n}", givenName=f"Aino {n}", familyName="Aalto", email=f"{n}@x.fi"
            ),
        ).position
        for n in range(count)
    ]


def test_user_puts_of_two_processes_at_once_are_all_recorded(
    app: TenantApplication, other_process: TenantApplication
) -> None:
    """Two processes put users at once (two HTTP workers): each knows the store head from
    its own last save, so many one-step saves are refused (the other wrote since) and
    saved again in two steps. A refused one-step save (a pipeline) must leave the
    connection's prepared statements as the server has them: the next save ran a statement
    by a name the server had never prepared ("prepared statement does not exist", a 500)."""
    app.put_org(
        Actor(app.tenant, "admin", "admin-1"), PutOrg("sch-1", "active", "K", "school", "1", None)
    )
    count = 150
    with ThreadPoolExecutor(2) as pool:
        here = pool.submit(_put_users, app, "here", count)
        there = pool.submit(_put_users, other_process, "there", count)
        positions = here.result() + there.result()

    assert len(set(positions)) == 2 * count
    assert max(positions) == app.head_position()
    report = app.ledger.verify()
    assert report.ok, report.problem
