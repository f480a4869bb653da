"""An idempotent answer is kept with the code the API gives it (its HTTP status) and replayed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from domain.application import TenantApplication
from tests.builders import a_school


def test_an_accepted_erasure_is_replayed_with_its_202_from_the_stored_answer(
    client: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    school = a_school(client, container, tenant)
    headers = {**school.admin, "Idempotency-Key": "erase-once"}
    body = {"subject": "stu-1", "reason": "Huoltajan pyyntö"}
    first = client.post("/api/v1/erasures", headers=headers, json=body)

    again = client.post("/api/v1/erasures", headers=headers, json=body)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    # The row keeps the HTTP status in its `status` column, as rows stored before did.
    stored = app.tables.find_answer("admin:admin-1", "erase-once")
    assert stored is not None and stored.code == 202
