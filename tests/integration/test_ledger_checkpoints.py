"""Signed checkpoints of the ledger: what they show that the chain alone cannot."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from domain.ledger import GENESIS
from domain.ledger_checkpoints import signature_holds
from tests.builders import bearer
from tests.conftest import FakeClock
from tests.integration.test_ledger import Store, _orgs


def test_a_checkpoint_signs_the_ledgers_head_and_verify_checks_it(
    app: TenantApplication, tenant: str, clock: FakeClock
) -> None:
    positions = _orgs(app, tenant, 3)

    checkpoint = app.checkpoint()
    again = app.checkpoint()
    report = app.verify_ledger()

    assert checkpoint is not None and again is None  # nothing new to sign
    assert checkpoint.position == positions[-1]
    assert checkpoint.head_hash == app.ledger.head()[1].hex()
    assert checkpoint.signed_at == clock().isoformat()
    assert report.ok, report.problem
    assert report.checkpoints == 1


def test_a_checkpoint_whose_signature_does_not_match_is_reported_at_its_position(
    app: TenantApplication, tenant: str
) -> None:
    first = _orgs(app, tenant, 2)
    signed = app.checkpoint()
    _orgs(app, tenant, 2, first=2)
    app.checkpoint()
    assert signed is not None
    store = Store(app)
    checkpoints = store.ledger.replace("digione_ledger", "digione_ledger_checkpoints")

    # Its time is changed: the signature no longer covers what it states.
    store.run(
        f"UPDATE {checkpoints} SET signed_at = {store.p} WHERE position = {store.p}",
        "2026-01-01T00:00:00+00:00",
        first[-1],
    )
    report = app.verify_ledger()

    assert not report.ok
    assert report.first_bad_position == first[-1]
    assert "valid signature" in (report.problem or "")


def test_a_ledger_rewritten_with_its_events_is_caught_by_the_next_checkpoint(
    app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 4)
    signed = app.checkpoint()
    assert signed is not None
    store = Store(app)
    state = bytearray(store.state_at(positions[1]))
    state[-2] ^= 0x01
    store.run(
        f"UPDATE {store.events} SET state = {store.p} WHERE {store.position} = {store.p}",
        bytes(state),
        positions[1],
    )

    # Whoever changed the event recomputes the whole ledger to match.
    store.run(f"DELETE FROM {store.ledger}")
    with getattr(app.factory, "datastore").transaction(commit=True) as cursor:  # noqa: B009
        app.ledger.chain_recorded(cursor)
    report = app.verify_ledger()

    assert app.ledger.head()[1] != GENESIS
    assert not report.ok
    assert report.first_bad_position == signed.position
    assert "rewritten together" in (report.problem or "")


def test_a_log_cut_short_below_a_checkpoint_is_reported(
    app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 3)
    signed = app.checkpoint()
    assert signed is not None
    store = Store(app)

    store.run(f"DELETE FROM {store.events} WHERE {store.position} = {store.p}", positions[-1])
    store.run(f"DELETE FROM {store.ledger} WHERE position = {store.p}", positions[-1])
    report = app.verify_ledger()

    assert not report.ok
    assert report.first_bad_position == positions[-1]
    assert "removed" in (report.problem or "")


def test_an_auditor_checks_a_checkpoint_with_the_published_key_alone(
    client: TestClient, container: Container, app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 2)
    signed = app.checkpoint()
    assert signed is not None

    answer = client.get("/api/v1/audit/keys", headers=bearer(container, tenant, "auditor", "a"))
    key = answer.json()["keys"][0]
    public_key = bytes.fromhex(key["publicKey"])

    assert answer.status_code == 200
    assert key["algorithm"] == "Ed25519" and key["keyId"] == signed.key_id
    assert signature_holds(signed, public_key)
    assert not signature_holds(replace(signed, position=positions[0]), public_key)


def test_asking_for_the_ledger_key_or_a_verification_writes_nothing(
    client: TestClient, container: Container, app: TenantApplication, tenant: str
) -> None:
    _orgs(app, tenant, 2)
    auditor = bearer(container, tenant, "auditor", "a")
    before = (app.tables.load_tenant_kek(), app.tables.count_subject_keys(), app.checkpoints())

    answer = client.get("/api/v1/audit/keys", headers=auditor)
    verified = client.get("/api/v1/audit/verify", headers=auditor)

    assert answer.status_code == verified.status_code == 200
    assert verified.json()["checkpoints"] == 0  # verifying signs nothing
    assert (app.tables.load_tenant_kek(), app.tables.count_subject_keys(), app.checkpoints()) == (
        before
    )
