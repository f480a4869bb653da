"""Gradebook writes a vendor relies on beyond line items and results: a result's verbal
assessment comes back as written (and an erasure reaches it); categories and score scales
are defined, revised and deleted through domain commands, never the school's own."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.oneroster.gradebook import BASE_PATH
from domain.application import TenantApplication
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


def _minor(body: dict[str, Any]) -> str:
    return str(body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"])


@postgres_only
def test_a_service_defines_revises_and_deletes_a_category_but_never_a_kept_record_one(
    client: TestClient, school: School, vendor: ClientFactory, project: Project,
    app: TenantApplication,
) -> None:  # fmt: skip
    auth = vendor("gradeapp", scopes=WRITER)
    reader = vendor("readapp", scopes=("gradebook.readonly",))
    body = {"category": {"sourcedId": "homework", "status": "active", "title": "Kotitehtävät",
                         "weight": 0.25}}  # fmt: skip

    created = client.put(f"{BASE_PATH}/categories/homework", headers=auth, json=body)
    body["category"]["title"] = "Kotitehtävät ja projektit"
    updated = client.put(f"{BASE_PATH}/categories/homework", headers=auth, json=body)
    project()
    read = client.get(f"{BASE_PATH}/categories/homework", headers=reader)
    before = int(app.recorder.max_notification_id() or 0)
    kept = client.put(
        f"{BASE_PATH}/categories/yearReport",
        headers=auth,
        json={"category": {"title": "Lukuvuositodistus"}},
    )
    deleted = client.delete(f"{BASE_PATH}/categories/homework", headers=auth)
    project()
    gone = client.get(f"{BASE_PATH}/categories/homework", headers=reader)

    assert (created.status_code, updated.status_code) == (201, 200), created.text
    assert read.json()["category"]["title"] == "Kotitehtävät ja projektit"
    assert read.json()["category"]["weight"] == 0.25
    assert kept.status_code == 403 and _minor(kept.json()) == "forbidden"
    assert deleted.status_code == 204, deleted.text
    assert int(app.recorder.max_notification_id() or 0) == before + 1  # the deletion only
    assert gone.status_code == 404


@postgres_only
def test_a_service_defines_a_score_scale_of_a_class_in_its_schools_beside_the_built_in_ones(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    auth = vendor("gradeapp", scopes=WRITER, schools=("sch-1",))
    reader = vendor("readapp", scopes=("gradebook.readonly",))

    def scale(class_id: str) -> dict[str, Any]:
        return {"scoreScale": {
            "title": "Tähtiasteikko", "type": "stars", "class": {"sourcedId": class_id},
            "scoreScaleValue": [{"itemValueLHS": "1", "itemValueRHS": "harjoittelee"},
                                {"itemValueLHS": "3", "itemValueRHS": "osaa hyvin"}]}}  # fmt: skip

    created = client.put(f"{BASE_PATH}/scoreScales/stars-4a", headers=auth, json=scale("cls-4a"))
    outside = client.put(f"{BASE_PATH}/scoreScales/stars-x", headers=auth, json=scale("cls-x"))
    built_in = client.put(
        f"{BASE_PATH}/scoreScales/cls-4a.fi-4-10", headers=auth, json=scale("cls-4a")
    )
    project()
    scales = client.get(f"{BASE_PATH}/classes/cls-4a/scoreScales", headers=reader).json()
    deleted = client.delete(f"{BASE_PATH}/scoreScales/stars-4a", headers=auth)
    project()
    after = client.get(f"{BASE_PATH}/classes/cls-4a/scoreScales", headers=reader).json()

    assert created.status_code == 201, created.text
    assert outside.status_code == 403 and built_in.status_code == 403
    by_id = {s["sourcedId"]: s for s in scales["scoreScales"]}
    assert set(by_id) == {"cls-4a.fi-4-10", "cls-4a.fi-s-h", "stars-4a"}
    assert by_id["stars-4a"]["scoreScaleValue"] == [
        {"itemValueLHS": "1", "itemValueRHS": "harjoittelee"},
        {"itemValueLHS": "3", "itemValueRHS": "osaa hyvin"},
    ]
    assert by_id["stars-4a"]["course"]["sourcedId"] == "ma-4"
    assert deleted.status_code == 204, deleted.text
    assert {s["sourcedId"] for s in after["scoreScales"]} == {"cls-4a.fi-4-10", "cls-4a.fi-s-h"}
