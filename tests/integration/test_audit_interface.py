"""The auditors' interface: `digione audit verify` and `GET /api/v1/audit/…`, auditors only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from tests.builders import bearer
from tests.integration.test_ledger import Store, _orgs
from tests.projections.test_admin import environment

AUDIT_PATHS = ["/api/v1/audit/verify", "/api/v1/audit/keys", "/api/v1/audit/events"]


def test_audit_verify_exits_zero_on_an_untouched_log_and_names_its_head(
    app: TenantApplication, tenant: str, settings: Settings
) -> None:
    positions = _orgs(app, tenant, 3)

    result = CliRunner().invoke(
        cli.app, ["audit", "verify", "--tenant", tenant], env=environment(settings)
    )

    assert result.exit_code == 0, result.output
    assert f"{tenant}: ok, 3 events verified up to position {positions[-1]}" in result.output


def test_audit_verify_exits_non_zero_with_the_first_altered_position(
    app: TenantApplication, tenant: str, settings: Settings
) -> None:
    positions = _orgs(app, tenant, 4)
    store = Store(app)
    store.run(f"DELETE FROM {store.events} WHERE {store.position} = {store.p}", positions[2])

    result = CliRunner().invoke(
        cli.app, ["audit", "verify", "--tenant", tenant], env=environment(settings)
    )

    assert result.exit_code == 1, result.output
    assert f"{tenant}: ALTERED at position {positions[2]}" in result.output


def test_audit_verify_of_an_unknown_tenant_says_so(settings: Settings) -> None:
    result = CliRunner().invoke(
        cli.app, ["audit", "verify", "--tenant", "nosuchtenant"], env=environment(settings)
    )

    assert result.exit_code == 2
    assert "no tenant 'nosuchtenant'" in result.output


def test_an_auditor_verifies_the_tenants_log_over_http(
    client: TestClient, container: Container, app: TenantApplication, tenant: str
) -> None:
    positions = _orgs(app, tenant, 3)
    auditor = bearer(container, tenant, "auditor", "aud-1")

    untouched = client.get("/api/v1/audit/verify", headers=auditor)
    Store(app).move(positions[1], positions[-1] + 10)
    altered = client.get("/api/v1/audit/verify", headers=auditor)

    assert untouched.status_code == 200
    assert untouched.json()["ok"] is True
    assert untouched.json()["headPosition"] == positions[-1]
    assert altered.status_code == 200
    assert altered.json()["ok"] is False
    assert altered.json()["firstBadPosition"] == positions[1]


# Refused before any read: one backend is enough, and SQLite is the cheaper to build.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["teacher", "admin", "guardian", "student", "service"])
@pytest.mark.parametrize("path", AUDIT_PATHS)
def test_no_one_but_an_auditor_reaches_an_audit_endpoint(
    client: TestClient, container: Container, tenant: str, role: str, path: str
) -> None:
    response = client.get(path, headers=bearer(container, tenant, role, "someone"))

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
