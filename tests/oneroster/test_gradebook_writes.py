"""Gradebook writes a vendor relies on beyond line items and results: a result's verbal
assessment comes back as written, and an erasure reaches it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.oneroster.gradebook import BASE_PATH
from tests.builders import School
from tests.oneroster.conftest import ClientFactory, Project
from tests.oneroster.test_gradebook_provider import a_line_item, a_result

WRITER = ("gradebook.readonly", "gradebook.createput", "gradebook.delete")
postgres_only = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


@postgres_only
def test_a_results_comment_round_trips_and_an_erasure_blanks_it_with_a_newer_date(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    auth = vendor("gradeapp", scopes=WRITER)
    # Another client reads: the writer's own reads wait for the runner, which is not running.
    reader = vendor("readapp", scopes=("gradebook.readonly",))
    item = client.put(
        f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth, json={"lineItem": a_line_item()}
    )
    assert item.status_code == 201, item.text
    written = client.put(
        f"{BASE_PATH}/results/vendor-r-1",
        headers=auth,
        json={"result": a_result(comment="Hyvää työtä, murtoluvut sujuvat.")},
    )
    assert written.status_code == 201, written.text
    project()

    read = client.get(f"{BASE_PATH}/results/vendor-r-1", headers=reader).json()["result"]
    erased = client.post(
        "/api/v1/erasures", json={"subject": "stu-1", "reason": "test"}, headers=school.admin
    )
    assert erased.status_code == 202, erased.text
    project()
    after = client.get(f"{BASE_PATH}/results/vendor-r-1", headers=reader).json()["result"]

    assert read["comment"] == "Hyvää työtä, murtoluvut sujuvat."
    assert after["comment"] == "erased"
    assert after["dateLastModified"] > read["dateLastModified"]
