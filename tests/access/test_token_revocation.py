"""`digione token revoke` beside a running app: the revoked token is refused (401) from the
next request on, by every process sharing the database; the rest keep working."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.settings import Settings
from api.token_revocations import revocations_table
from api.tokens import token_id
from tests.builders import a_school
from tests.conftest import FakeClock
from tests.processes import digione


def _roster_write(client: TestClient, token: str) -> int:
    """A command only an admin may give: 401 when the token is refused."""
    response = client.put(
        "/api/v1/roster/orgs/sch-9",
        json={"org": {"name": "Uusi koulu", "type": "school", "identifier": "09"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    status: int = response.status_code
    return status


def test_a_token_revoked_by_its_id_is_refused_at_once_and_the_subjects_other_token_is_not(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    a_school(client, container, tenant)
    stolen = container.tokens.issue(tenant=tenant, role="admin", subject="admin-1")
    kept = container.tokens.issue(tenant=tenant, role="admin", subject="admin-1")
    assert _roster_write(client, stolen) in (200, 201)

    revoked = digione(settings, "token", "revoke", "--tenant", tenant, "--jti", token_id(stolen))

    assert revoked.returncode == 0, revoked.stderr
    assert _roster_write(client, stolen) == 401
    assert client.get("/healthz", headers={"Authorization": f"Bearer {stolen}"}).status_code == 401
    assert _roster_write(client, kept) in (200, 201)


def test_revoking_a_subject_refuses_every_token_it_held_but_not_one_issued_afterwards(
    client: TestClient, container: Container, tenant: str, settings: Settings, clock: FakeClock
) -> None:
    a_school(client, container, tenant)
    # The command runs on the real clock: these tokens are issued a minute before it …
    clock.now = datetime.now(UTC) - timedelta(minutes=1)
    tokens = [container.tokens.issue(tenant=tenant, role="admin", subject="admin-1") for _ in "ab"]
    other = container.tokens.issue(tenant=tenant, role="admin", subject="admin-2")

    revoked = digione(settings, "token", "revoke", "--tenant", tenant, "--subject", "admin-1")
    # … and the person's next token after it.
    clock.now = datetime.now(UTC) + timedelta(seconds=2)
    afterwards = container.tokens.issue(tenant=tenant, role="admin", subject="admin-1")

    assert revoked.returncode == 0, revoked.stderr
    assert [_roster_write(client, t) for t in tokens] == [401, 401]
    assert _roster_write(client, other) in (200, 201)
    assert _roster_write(client, afterwards) in (200, 201)


def test_a_revocation_in_one_tenant_leaves_the_same_subject_in_another_tenant_alone(
    client: TestClient, container: Container, tenant: str, settings: Settings, tenant_prefix: str
) -> None:
    other_tenant = tenant_prefix + "b"
    container.tenants.create(other_tenant, name="Other municipality")
    token = container.tokens.issue(tenant=other_tenant, role="admin", subject="admin-1")

    revoked = digione(settings, "token", "revoke", "--tenant", tenant, "--subject", "admin-1")

    assert revoked.returncode == 0, revoked.stderr
    assert _roster_write(client, token) in (200, 201)


@pytest.mark.parametrize(
    "arguments", [(), ("--jti", "x", "--subject", "y")], ids=["neither", "both"]
)
def test_token_revoke_needs_exactly_one_of_jti_and_subject(
    tmp_path: Path, arguments: tuple[str, ...]
) -> None:
    settings = Settings.explicit(data_dir=tmp_path / "var")

    result = digione(settings, "token", "revoke", "--tenant", "vantaa", *arguments)

    assert result.returncode == 2
    assert "exactly one of --jti" in result.stderr


def test_token_revoke_of_an_unknown_tenant_says_so(tmp_path: Path) -> None:
    settings = Settings.explicit(data_dir=tmp_path / "var")

    result = digione(settings, "token", "revoke", "--tenant", "nosuch", "--jti", "x")

    assert result.returncode == 2
    assert "no tenant 'nosuch'" in result.stderr


def test_a_command_verifies_its_bearer_token_once(
    client: TestClient, container: Container, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_school(client, container, tenant)
    token = container.tokens.issue(tenant=tenant, role="admin", subject="admin-1")
    verified: list[str] = []
    verify_async = container.tokens.verify_async

    async def counting_verify(candidate: str) -> object:
        verified.append(candidate)
        return await verify_async(candidate)

    monkeypatch.setattr(container.tokens, "verify_async", counting_verify)

    assert _roster_write(client, token) in (200, 201)
    assert verified == [token]


def test_requests_are_checked_against_revocations_held_in_memory_read_again_after_a_revocation(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    a_school(client, container, tenant)
    token = container.tokens.issue(tenant=tenant, role="admin", subject="admin-1")
    assert _roster_write(client, token) in (200, 201)

    with _revocation_reads(container) as reads:
        answers = [_roster_write(client, token) for _ in range(3)]
        reads_before_revoking = len(reads)
        digione(settings, "token", "revoke", "--tenant", tenant, "--jti", token_id(token))
        refused = _roster_write(client, token)

    assert all(answer in (200, 201) for answer in answers)
    assert reads_before_revoking == 0
    assert refused == 401
    assert len(reads) == 1


@contextmanager
def _revocation_reads(container: Container) -> Iterator[list[str]]:
    """The statements that read the revocations table in this process, as they run."""
    reads: list[str] = []

    def record(_c: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and revocations_table.name in statement:
            reads.append(statement)

    sa.event.listen(container.engine, "before_cursor_execute", record)
    try:
        yield reads
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", record)
