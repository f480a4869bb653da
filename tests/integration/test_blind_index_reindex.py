"""`digione keys reindex`: the blind index rebuilt from the sealed details of every user."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import a_school


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_reindex_finds_users_recorded_before_the_index_and_not_erased_ones(
    client: TestClient, container: Container, tenant: str
) -> None:
    school = a_school(client, container, tenant)
    app = container.tenants.get(tenant)
    for user in ("stu-1", "stu-2"):  # as if recorded before the index existed
        app.tables.delete_blind_index(user)
    erased = client.post(
        "/api/v1/erasures", json={"subject": "stu-2", "reason": "test"}, headers=school.admin
    )
    assert erased.status_code == 202, erased.text
    assert app.users_with("email", "stu-1@example.invalid") == []
    seen: list[tuple[int, int]] = []

    indexed = app.reindex_users(lambda done, total: seen.append((done, total)))

    assert app.users_with("email", "stu-1@example.invalid") == ["stu-1"]
    assert app.users_with("givenName", "Eero") == []
    assert seen[-1][0] == seen[-1][1] == indexed + 1
