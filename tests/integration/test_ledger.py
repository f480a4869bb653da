"""The auditors' ledger: a hash chain over the stored events that shows any change to them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.commands import Actor, PutOrg
from domain.ledger import LEDGER_FROM_EVENTS
from tests.builders import a_school


def _orgs(app: TenantApplication, tenant: str, count: int, *, first: int = 0) -> list[int]:
    admin = Actor(tenant, "admin", "admin-1")
    return [
        app.put_org(
            admin,
            PutOrg(
                sourced_id=f"org-{n}",
                status="active",
                name=f"Koulu {n}",
                org_type="school",
                identifier=f"K{n}",
                parent=None,
            ),
        ).position
        for n in range(first, first + count)
    ]


class Store:
    """Raw SQL on a tenant's event store, as someone with database access would write it."""

    def __init__(self, app: TenantApplication) -> None:
        self.app = app
        self.postgres = app.ledger.sql.postgres
        schema = getattr(app.recorder, "datastore").schema if self.postgres else None  # noqa: B009
        table = app.recorder.events_table_name  # type: ignore[attr-defined]
        self.events = f'"{schema}"."{table}"' if self.postgres else f'"{table}"'
        self.ledger = f'"{schema}".digione_ledger' if self.postgres else "digione_ledger"
        self.position = "notification_id" if self.postgres else "rowid"
        self.p = "%s" if self.postgres else "?"

    def run(self, statement: str, *params: Any) -> None:
        with getattr(self.app.factory, "datastore").transaction(commit=True) as cursor:  # noqa: B009
            cursor.execute(statement, params)

    def state_at(self, position: int) -> bytes:
        with getattr(self.app.factory, "datastore").transaction(commit=False) as cursor:  # noqa: B009
            cursor.execute(
                f"SELECT state FROM {self.events} WHERE {self.position} = {self.p}", (position,)
            )
            return bytes(cursor.fetchone()["state"])

    def move(self, source: int, target: int) -> None:
        self.run(
            f"UPDATE {self.events} SET {self.position} = {self.p} WHERE {self.position} = {self.p}",
            target,
            source,
        )


def test_an_untouched_log_verifies_to_its_head(app: TenantApplication, tenant: str) -> None:
    positions = _orgs(app, tenant, 5)

    report = app.ledger.verify()

    assert report.ok, report.problem
    assert report.checked == 5
    assert report.head_position == positions[-1] == app.head_position()


def test_one_changed_byte_of_one_stored_event_fails_verify_at_its_position(
    app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 5)
    store = Store(app)
    state = bytearray(store.state_at(positions[2]))
    state[len(state) // 2] ^= 0x01

    store.run(
        f"UPDATE {store.events} SET state = {store.p} WHERE {store.position} = {store.p}",
        bytes(state),
        positions[2],
    )
    report = app.ledger.verify()

    assert not report.ok
    assert report.first_bad_position == positions[2]
    assert report.checked == 2
    assert "bytes were changed" in (report.problem or "")


def test_a_deleted_event_fails_verify_at_its_position(app: TenantApplication, tenant: str) -> None:
    positions = _orgs(app, tenant, 5)
    store = Store(app)

    store.run(f"DELETE FROM {store.events} WHERE {store.position} = {store.p}", positions[1])
    report = app.ledger.verify()

    assert not report.ok
    assert report.first_bad_position == positions[1]
    assert "missing" in (report.problem or "")


def test_two_reordered_events_fail_verify_at_the_first_of_them(
    app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 5)
    store = Store(app)

    store.move(positions[1], 1_000_000)
    store.move(positions[3], positions[1])
    store.move(1_000_000, positions[3])
    report = app.ledger.verify()

    assert not report.ok
    assert report.first_bad_position == positions[1]


def test_an_event_recorded_behind_the_ledgers_back_fails_verify_at_its_position(
    app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 3)
    store = Store(app)
    forged = positions[-1] + 1

    store.run(
        f"INSERT INTO {store.events} ({store.position}, originator_id, originator_version,"
        f" topic, state) SELECT {store.p}, originator_id, originator_version + 100, topic, state"
        f" FROM {store.events} WHERE {store.position} = {store.p}",
        forged,
        positions[0],
    )
    report = app.ledger.verify()

    assert not report.ok
    assert report.first_bad_position == forged
    assert "not in the ledger" in (report.problem or "")


def test_an_erasure_leaves_the_log_verifying(
    client: TestClient, container: Container, app: TenantApplication, tenant: str
) -> None:
    a_school(client, container, tenant)

    app.erase(Actor(tenant, "admin", "dpo"), subject="stu-1", reason="pyyntö", basis=None)
    report = app.ledger.verify()

    assert report.ok, report.problem
    assert report.head_position == app.head_position()


def test_a_store_that_predates_the_ledger_is_chained_once_when_it_opens(
    container: Container, app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 4)
    store = Store(app)
    store.run(f"DELETE FROM {store.ledger}")
    migrations = store.ledger.replace("digione_ledger", "digione_migrations")
    store.run(f"DELETE FROM {migrations} WHERE name = {store.p}", LEDGER_FROM_EVENTS)
    assert not app.ledger.verify().ok

    container.tenants.close()
    reopened = container.tenants.get(tenant)
    later = _orgs(reopened, tenant, 1, first=len(positions))
    report = reopened.ledger.verify()

    assert report.ok, report.problem
    assert report.checked == len(positions) + 1
    assert report.head_position == later[-1]


@pytest.mark.parametrize("page_size", [1, 2, 1000])
def test_verify_reads_the_store_in_pages_of_any_size(
    app: TenantApplication, tenant: str, page_size: int
) -> None:
    positions = _orgs(app, tenant, 5)
    store = Store(app)
    store.run(f"DELETE FROM {store.events} WHERE {store.position} = {store.p}", positions[4])

    report = app.ledger.verify(page_size=page_size)

    assert report.first_bad_position == positions[4]


def test_commands_recorded_at_the_same_time_chain_in_store_order(
    app: TenantApplication, tenant: str
) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(lambda n: _orgs(app, tenant, 8, first=n * 8), range(4)))

    report = app.ledger.verify()

    assert report.ok, report.problem
    assert report.checked == 32 == len({p for batch in batches for p in batch})
