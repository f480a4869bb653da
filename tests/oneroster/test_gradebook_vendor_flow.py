"""A vendor's gradebook client end to end, on the real relay, broker and runner: it gets a
token, writes a line item and results (extra credit too), reads them back at once without
min_position, and deletes; the teacher's class dashboard and the guardian's view show the
assessment the service wrote."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container
from api.oneroster.clients_cli import create_client
from api.oneroster.gradebook import BASE_PATH
from domain.application import TenantApplication
from tests.builders import a_school
from tests.oneroster.test_gradebook_provider import a_line_item, a_result


@pytest.fixture
def backend() -> str:
    """SQLite keeps the run short; the commands and reads run on PostgreSQL elsewhere."""
    return "sqlite"


@pytest.fixture
def running(container: Container) -> Iterator[TestClient]:
    runtime = container.runtime
    runtime.start()
    with TestClient(create_app(container)) as client:
        yield client
    runtime.stop()


def test_a_vendor_gradebook_writes_reads_its_writes_at_once_and_deletes(
    running: TestClient, container: Container, tenant: str, app: TenantApplication
) -> None:
    client = running
    school = a_school(client, container, tenant)
    made = create_client(
        container,
        tenant=tenant,
        name="gradeapp",
        scopes=["gradebook.readonly", "gradebook.createput", "gradebook.delete"],
        categories=[],
        basis="statutory",
        schools=["sch-1"],
    )
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
            "scope": "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput "
            "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly "
            "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.delete",
        },
    )
    assert token.status_code == 200, token.text
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}

    created = client.put(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth, json={"lineItem": a_line_item()})  # fmt: skip
    assert created.status_code == 201, created.text
    updated = client.put(
        f"{BASE_PATH}/lineItems/vendor-li-1",
        headers=auth,
        json={"lineItem": a_line_item(title="Murtoluvut, koe 1")},
    )
    assert updated.status_code == 200, updated.text
    extra = client.put(
        f"{BASE_PATH}/results/vendor-r-1",
        headers={**auth, "Idempotency-Key": "r-1-first"},
        json={"result": a_result(score=12, comment="Lisätehtävät ratkaistu")},
    )
    assert extra.status_code == 201, extra.text
    graded = client.put(
        f"{BASE_PATH}/results/vendor-r-2",
        headers=auth,
        json={"result": a_result(student={"sourcedId": "stu-2"}, score=None, textScore="9")},
    )
    assert graded.status_code == 201, graded.text

    # Read-your-writes: no min_position, and the writes are there.
    result = client.get(f"{BASE_PATH}/results/vendor-r-1", headers=auth)
    assert result.status_code == 200, result.text
    body = result.json()["result"]
    assert body["score"] == 12
    assert body["lineItem"]["sourcedId"] == "vendor-li-1"
    assert body["scoreDate"] == "2026-02-20"
    item = client.get(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth).json()["lineItem"]
    assert item["title"] == "Murtoluvut, koe 1"
    assert item["school"]["sourcedId"] == "sch-1"
    of_item = client.get(
        f"{BASE_PATH}/classes/cls-4a/lineItems/vendor-li-1/results", headers=auth
    ).json()["results"]
    assert {(r["student"]["sourcedId"], r.get("score"), r.get("textScore")) for r in of_item} == {
        ("stu-1", 12, None),
        ("stu-2", None, "9"),
    }
    assert {r.get("scoreScale", {}).get("sourcedId") for r in of_item} == {None, "cls-4a.fi-4-10"}

    # The native views show what the service wrote, the service as its assessor.
    head = app.recorder.max_notification_id()
    dashboard = client.get(
        f"/api/v1/dashboards/classes/cls-4a?min_position={head}", headers=school.teacher
    )
    assert dashboard.status_code == 200, dashboard.text
    assert "vendor-li-1" in dashboard.text and "Murtoluvut, koe 1" in dashboard.text
    child = client.get(
        f"/api/v1/guardians/me/children/stu-1?min_position={head}", headers=school.guardian
    )
    assert child.status_code == 200, child.text
    assert "Lisätehtävät ratkaistu" in child.text

    # Delete: 204, and gone from the collections at once.
    assert client.delete(f"{BASE_PATH}/results/vendor-r-2", headers=auth).status_code == 204
    left = client.get(f"{BASE_PATH}/results", headers=auth).json()["results"]
    assert [r["sourcedId"] for r in left] == ["vendor-r-1"]
    assert client.delete(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth).status_code == 204
    assert client.get(f"{BASE_PATH}/lineItems", headers=auth).json()["lineItems"] == []
    gone = client.get(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth)
    assert gone.status_code == 404, gone.text
    again = client.delete(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth)
    assert again.status_code == 404, again.text


def test_a_clients_read_after_its_own_write_waits_for_it_instead_of_answering_stale(
    client: TestClient, container: Container, tenant: str
) -> None:
    """With the runner not yet started nothing reaches the read model: the read after the
    client's write waits for the write's position (504 server_busy when it never comes)
    rather than answering from a read model without it; once the runner runs, the same
    read finds the line item."""
    a_school(client, container, tenant)
    made = create_client(
        container,
        tenant=tenant,
        name="gradeapp",
        scopes=["gradebook.readonly", "gradebook.createput"],
        categories=[],
        basis="statutory",
        schools=[],
    )
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(made["client_id"], made["client_secret"]),
    )
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    written = client.put(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth, json={"lineItem": a_line_item()})  # fmt: skip
    assert written.status_code == 201, written.text

    stale = client.get(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth)
    assert stale.status_code == 504, stale.text
    assert (
        stale.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]
        == "server_busy"
    )

    container.runtime.start()
    try:
        fresh = client.get(f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth)
        assert fresh.status_code == 200, fresh.text
    finally:
        container.runtime.stop()
