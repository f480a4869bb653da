"""Admin commands run beside a live `digione serve` (real processes sharing the database):
the server takes the change before its next request, so it never keeps honouring what the
command retired, nor accepts what can no longer be kept."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from domain.sealing import ERASED
from tests.builders import a_school, a_user
from tests.conftest import FakeClock
from tests.processes import Server, digione, serving


def _put_user(server: Server, token: str, sourced_id: str, given: str) -> httpx.Response:
    return server.http.put(
        f"/api/v1/roster/users/{sourced_id}",
        json={"user": a_user(sourced_id, "student", given=given, family="Tuore")},
        headers={"Authorization": f"Bearer {token}"},
    )


def _read_user(server: Server, token: str, sourced_id: str, at: int) -> httpx.Response:
    """The roster read of a user once the server's read model reached store position `at`
    (the server's projections find a new tenant's topics on their next refresh)."""
    deadline = time.monotonic() + 90
    while True:
        response = server.http.get(
            f"/api/v1/roster/users/{sourced_id}?min_position={at}",
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 504 or time.monotonic() > deadline:
            return response


def _issued(settings: Settings, tenant: str) -> str:
    issued = digione(
        settings, "token", "issue", "--tenant", tenant, "--role", "admin", "--subject", "admin-1"
    )
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip()


def test_keys_rotate_beside_serve_retires_old_tokens_and_honours_new_ones_at_once(
    client: TestClient,
    container: Container,
    tenant: str,
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    clock.now = datetime.now(UTC)  # the server runs on the real clock
    a_school(client, container, tenant)
    old = container.tokens.issue(tenant=tenant, role="admin", subject="admin-1")

    with serving(settings, tmp_path / "serve.log") as server:
        assert _put_user(server, old, "stu-8", "Ennen").status_code == 201
        rotated = digione(settings, "keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        new = _issued(settings, tenant)

        refused = _put_user(server, old, "stu-9", "Vanha")
        accepted = _put_user(server, new, "stu-10", "Uusi")
        health = server.http.get("/healthz", headers={"Authorization": f"Bearer {old}"})

    assert refused.status_code == 401
    assert health.status_code == 401
    assert accepted.status_code == 201, accepted.text
    # What the server accepted after the rotation is kept: it opens with the new key.
    restarted = bootstrap(settings)
    app = restarted.tenants.get(tenant)
    details: dict[str, Any] = {u: app.personal_details(u) for u in ("stu-1", "stu-8", "stu-10")}
    restarted.close()
    assert {u: d["givenName"] for u, d in details.items() if d is not ERASED} == {
        "stu-1": "Aino",
        "stu-8": "Ennen",
        "stu-10": "Uusi",
    }


def test_tenant_shred_beside_serve_erases_reads_and_refuses_new_personal_data_at_once(
    client: TestClient,
    container: Container,
    tenant: str,
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    clock.now = datetime.now(UTC)  # the server runs on the real clock
    a_school(client, container, tenant)
    token = container.tokens.issue(tenant=tenant, role="admin", subject="admin-1")
    app = container.tenants.get(tenant)

    with serving(settings, tmp_path / "serve.log") as server:
        before = _read_user(server, token, "stu-1", app.head_position())
        assert before.json().get("givenName") == "Aino", before.text
        shredded = digione(settings, "tenant", "shred", tenant, "--yes")
        assert shredded.returncode == 0, shredded.stderr
        head = app.head_position()

        after = _read_user(server, token, "stu-1", head)
        refused = _put_user(server, token, "stu-9", "Hylätty")

    assert after.status_code == 200
    assert "Aino" not in after.text
    assert refused.status_code == 409, refused.text
    assert "offboarded" in refused.json()["detail"]
    assert app.head_position() == head
