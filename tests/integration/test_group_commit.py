"""Concurrent commands of a tenant are recorded together, each still its own command."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from api.bootstrap import bootstrap
from api.settings import Settings
from domain.application import TenantApplication
from domain.commands import Actor, Outcome, PutOrg
from domain.errors import ConcurrentUpdateError
from domain.ids import aggregate_id
from domain.keyed import KeyAnsweredError, KeyedCommand
from domain.roster import Org
from domain.tenant_tables import IdempotentAnswer
from tests.tenant_cleanup import drop_tenants

Command = Callable[[], Outcome]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TenantApplication]:
    """One tenant for the module on each backend: each test names records of its own."""
    database_url = None
    if request.param == "postgres":
        database_url = str(request.getfixturevalue("postgres_database_url"))
    settings = Settings.explicit(
        database_url=database_url, data_dir=tmp_path_factory.mktemp("group-commit")
    )
    container = bootstrap(settings)
    tenant = "t" + uuid.uuid4().hex[:10] + "g"
    container.tenants.create(tenant, name="Test municipality")
    yield container.tenants.get(tenant)
    container.close()
    if settings.is_postgres:
        drop_tenants(settings, [tenant])


@contextmanager
def a_group_forming(app: TenantApplication) -> Iterator[Callable[[list[Command]], list[Any]]]:
    """Keeps the tenant's committer busy, so that the commands run meanwhile queue behind
    it; `run(commands)` runs them in threads and releases the committer once all of them
    wait, so that they are recorded as one group. Each command's outcome or error."""
    holding, released = threading.Event(), threading.Event()

    def hold(_cursor: object, _position: int) -> None:
        holding.set()
        released.wait(30)

    holder = threading.Thread(target=app._save_grouped, args=((), [hold]))
    holder.start()
    assert holding.wait(30)

    def run(commands: list[Command]) -> list[Any]:
        results: list[Any] = [None] * len(commands)

        def call(index: int) -> None:
            try:
                results[index] = commands[index]()
            except Exception as error:  # noqa: BLE001 - the error is the command's result
                results[index] = error

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(commands))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while app.group_commit.queued < len(commands) and time.monotonic() < deadline:
            time.sleep(0.005)
        groups = app.group_commit.groups
        released.set()
        for thread in threads:
            thread.join()
        # The holder's group, then theirs: all of them in one.
        assert app.group_commit.groups == groups + 2
        return results

    try:
        yield run
    finally:
        released.set()
        holder.join()


def put_school(app: TenantApplication, sourced_id: str) -> Command:
    admin = Actor(app.tenant, "admin", "admin-1")
    command = PutOrg(sourced_id, "active", f"Koulu {sourced_id}", "school", sourced_id, None)
    return lambda: app.put_org(admin, command)


def keyed(app: TenantApplication, key: str, command: Command) -> Command:
    """`command` sent with an Idempotency-Key whose answer is the outcome's position."""
    sent = KeyedCommand(
        "admin:admin-1", key, "digest", lambda outcome: (201, json.dumps(outcome.position))
    )

    def run() -> Outcome:
        with app.keyed(sent):
            return command()

    return run


def recorded_at(app: TenantApplication, position: int) -> object:
    """The aggregate id of the event at a store position."""
    (notification,) = app.recorder.select_notifications(start=position, limit=1)
    return notification.originator_id


def test_concurrent_commands_are_all_recorded_each_answering_its_own_position(
    app: TenantApplication,
) -> None:
    schools = [f"grouped-{n}" for n in range(6)]

    with a_group_forming(app) as run:
        outcomes = run([put_school(app, school) for school in schools])

    assert all(isinstance(outcome, Outcome) for outcome in outcomes)
    assert len({outcome.position for outcome in outcomes}) == len(schools)
    for school, outcome in zip(schools, outcomes, strict=True):
        assert recorded_at(app, outcome.position) == aggregate_id(app.tenant, "orgs", school)
        assert app.find("orgs", school) is not None


def test_a_conflicting_command_in_a_group_fails_alone_and_the_others_commit(
    app: TenantApplication,
) -> None:
    # The key was answered by a request that raced this one: its command must record nothing.
    app.tables.remember_answer("admin:admin-1", "taken", IdempotentAnswer("digest", 201, "1"))
    head = app.head_position()

    with a_group_forming(app) as run:
        first, racing, last = run(
            [
                put_school(app, "sch-a"),
                keyed(app, "taken", put_school(app, "sch-b")),
                put_school(app, "sch-c"),
            ]
        )

    assert isinstance(racing, KeyAnsweredError)
    assert app.find("orgs", "sch-b") is None
    assert isinstance(first, Outcome) and isinstance(last, Outcome)
    assert app.find("orgs", "sch-a") is not None and app.find("orgs", "sch-c") is not None
    assert app.head_position() == max(first.position, last.position) > head


def test_two_commands_of_one_record_in_a_group_record_one_and_refuse_the_other(
    app: TenantApplication,
) -> None:
    put_school(app, "twice")()
    org_id = aggregate_id(app.tenant, "orgs", "twice")
    copies: list[Org] = []
    for name in ("First", "Second"):
        copy: object = app.repository.get(org_id)
        assert isinstance(copy, Org)
        copy.revise(name=name, org_type="school", identifier="01", parent=None)
        copies.append(copy)

    with a_group_forming(app) as run:
        results = run([partial(app._outcome, "twice", False, copy) for copy in copies])

    assert sum(isinstance(result, Outcome) for result in results) == 1
    assert sum(isinstance(result, ConcurrentUpdateError) for result in results) == 1


def test_an_idempotency_key_replays_the_position_its_command_answered_in_a_group(
    app: TenantApplication,
) -> None:
    keys = [f"key-{n}" for n in range(4)]

    with a_group_forming(app) as run:
        outcomes = run([keyed(app, key, put_school(app, f"sch-{key}")) for key in keys])

    for key, outcome in zip(keys, outcomes, strict=True):
        stored = app.tables.find_answer("admin:admin-1", key)
        assert stored is not None
        assert json.loads(stored.body) == outcome.position
    assert len({outcome.position for outcome in outcomes}) == len(keys)


def test_a_failed_group_transaction_fails_every_command_of_it_and_records_nothing(
    app: TenantApplication,
) -> None:
    head = app.head_position()

    def broken(_cursor: object, _position: int) -> None:
        raise RuntimeError("the disk is full")

    with a_group_forming(app) as run:
        results = run(
            [
                put_school(app, "sch-x"),
                lambda: app._outcome("none", False, side_writes=[broken]),
                put_school(app, "sch-y"),
            ]
        )

    assert all(isinstance(result, RuntimeError) for result in results)
    assert app.head_position() == head
    assert app.find("orgs", "sch-x") is None and app.find("orgs", "sch-y") is None
