"""The OneRoster 1.2 gradebook service as a vendor's gradebook uses it: line items and
results written by a service become assessments through the native commands, within its
agreement; reads serve line items, results, categories and the built-in score scales."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.oneroster.gradebook import BASE_PATH
from domain.application import TenantApplication
from tests.builders import School
from tests.oneroster.conftest import ClientFactory, Project

WRITER = ("gradebook.readonly", "gradebook.createput", "gradebook.delete")


def a_line_item(**overrides: Any) -> dict[str, Any]:
    """As vendors send one: references with only sourcedId, dates as date-times."""
    item: dict[str, Any] = {
        "sourcedId": "vendor-li-1",
        "status": "active",
        "dateLastModified": "2026-02-01T08:00:00.000Z",
        "title": "Murtoluvut, koe",
        "assignDate": "2026-02-01T08:00:00Z",
        "dueDate": "2026-02-15T14:00:00.000Z",
        "class": {"sourcedId": "cls-4a"},
        "school": {"sourcedId": "sch-1"},
        "category": {"sourcedId": "test"},
        "resultValueMin": 0,
        "resultValueMax": 10,
    }
    item.update(overrides)
    return item


def a_result(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": "active",
        "lineItem": {"sourcedId": "vendor-li-1"},
        "student": {"sourcedId": "stu-1"},
        "scoreStatus": "fully graded",
        "score": 8.5,
        "scoreDate": "2026-02-20T10:15:00Z",
    }
    result.update(overrides)
    return result


def _status_minor(body: dict[str, Any]) -> str:
    return str(body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"])


def _head(app: TenantApplication) -> int:
    return int(app.recorder.max_notification_id() or 0)


def test_kept_record_categories_and_their_results_are_refused_to_a_service(
    client: TestClient,
    school: School,
    vendor: ClientFactory,
    app: TenantApplication,
    project: Project,
) -> None:
    auth = vendor("gradeapp", scopes=WRITER)
    # The teacher's own year report line item, written natively.
    native = client.put(
        "/api/v1/lineItems/li-year",
        headers=school.teacher,
        json={"lineItem": {**a_line_item(sourcedId="li-year"), "category": {"sourcedId": "yearReport"}}},
    )  # fmt: skip
    assert native.status_code == 201, native.text
    before = _head(app)

    for category in ("finalCertificate", "leavingCertificate", "yearReport"):
        refused = client.put(
            f"{BASE_PATH}/lineItems/vendor-cert",
            headers=auth,
            json={
                "lineItem": a_line_item(sourcedId="vendor-cert", category={"sourcedId": category})
            },
        )
        assert refused.status_code == 403, refused.text
        assert "kept-record" in refused.json()["imsx_description"]
        assert _status_minor(refused.json()) == "forbidden"
    under = client.put(
        f"{BASE_PATH}/results/vendor-r-year",
        headers=auth,
        json={"result": a_result(lineItem={"sourcedId": "li-year"}, textScore="9", score=None)},
    )
    assert under.status_code == 403, under.text
    retitle = client.put(
        f"{BASE_PATH}/lineItems/li-year",
        headers=auth,
        json={"lineItem": a_line_item(sourcedId="li-year", category={"sourcedId": "test"})},
    )
    assert retitle.status_code == 403, retitle.text
    delete = client.delete(f"{BASE_PATH}/lineItems/li-year", headers=auth)
    assert delete.status_code == 403, delete.text
    assert _head(app) == before


def test_a_class_of_a_school_outside_the_agreement_is_refused(
    client: TestClient, school: School, vendor: ClientFactory, app: TenantApplication
) -> None:
    auth = vendor("gradeapp", scopes=WRITER, schools=("sch-1",))
    before = _head(app)
    refused = client.put(
        f"{BASE_PATH}/lineItems/vendor-x",
        headers=auth,
        json={"lineItem": a_line_item(sourcedId="vendor-x", **{"class": {"sourcedId": "cls-x"}})},
    )
    assert refused.status_code == 403, refused.text
    assert "outside the schools" in refused.json()["imsx_description"]
    assert _head(app) == before
    inside = client.put(
        f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth, json={"lineItem": a_line_item()}
    )
    assert inside.status_code == 201, inside.text


def test_a_client_without_createput_is_refused_with_status_info(
    client: TestClient, school: School, vendor: ClientFactory, app: TenantApplication
) -> None:
    auth = vendor("readonlyapp", scopes=("gradebook.readonly",))
    no_delete = vendor("putonlyapp", scopes=("gradebook.createput",))
    before = _head(app)
    refused = client.put(
        f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth, json={"lineItem": a_line_item()}
    )
    assert refused.status_code == 403, refused.text
    body = refused.json()
    assert body["imsx_codeMajor"] == "failure"
    assert _status_minor(body) == "forbidden"
    assert "gradebook.createput" in body["imsx_description"]
    assert (
        client.put(
            f"{BASE_PATH}/lineItems/vendor-li-1",
            headers=no_delete,
            json={"lineItem": a_line_item()},
        ).status_code
        == 201
    )
    refused_delete = client.delete(f"{BASE_PATH}/lineItems/vendor-li-1", headers=no_delete)
    assert refused_delete.status_code == 403, refused_delete.text
    assert "gradebook.delete" in refused_delete.json()["imsx_description"]
    assert _head(app) == before + 1  # only the line item the put-only client created


def test_categories_and_the_built_in_score_scales_are_served(
    client: TestClient, school: School, vendor: ClientFactory, project: Project
) -> None:
    for sourced_id, category in (("li-a", "test"), ("li-b", "homework"), ("li-c", "test")):
        response = client.put(
            f"/api/v1/lineItems/{sourced_id}",
            headers=school.teacher,
            json={"lineItem": {**a_line_item(sourcedId=sourced_id), "category": {"sourcedId": category}}},
        )  # fmt: skip
        assert response.status_code == 201, response.text
    project()
    auth = vendor("gradeapp", scopes=("gradebook.readonly",))

    categories = client.get(f"{BASE_PATH}/categories", headers=auth)
    assert categories.status_code == 200, categories.text
    assert [c["sourcedId"] for c in categories.json()["categories"]] == ["homework", "test"]
    assert categories.headers["X-Total-Count"] == "2"
    scales = client.get(f"{BASE_PATH}/classes/cls-4a/scoreScales", headers=auth).json()
    by_type = {s["type"]: s for s in scales["scoreScales"]}
    assert set(by_type) == {"fi-4-10", "fi-s-h"}
    assert [v["itemValueLHS"] for v in by_type["fi-4-10"]["scoreScaleValue"]] == [
        "4", "5", "6", "7", "8", "9", "10",
    ]  # fmt: skip
    filtered = client.get(
        f"{BASE_PATH}/lineItems",
        headers=auth,
        params={"filter": "category.sourcedId='test' AND dueDate>'2026-02-01'", "sort": "title"},
    )
    assert filtered.status_code == 200, filtered.text
    assert [i["sourcedId"] for i in filtered.json()["lineItems"]] == ["li-a", "li-c"]
    bad = client.get(f"{BASE_PATH}/lineItems", headers=auth, params={"filter": "nosuch='x'"})
    assert bad.status_code == 400
    assert _status_minor(bad.json()) == "invalid_filter_field"
    outside = client.get(f"{BASE_PATH}/classes/cls-x/lineItems", headers=vendor("reader-b", scopes=("gradebook.readonly",), schools=("sch-2",)))  # fmt: skip
    assert outside.status_code == 200 and outside.json()["lineItems"] == []
    unknown = client.get(f"{BASE_PATH}/classes/cls-4a/lineItems", headers=vendor("reader-c", scopes=("gradebook.readonly",), schools=("sch-2",)))  # fmt: skip
    assert unknown.status_code == 404
    assert _status_minor(unknown.json()) == "unknownobject"


def test_posted_line_items_and_results_answer_their_sourced_id_pairs(
    client: TestClient, school: School, vendor: ClientFactory, app: TenantApplication
) -> None:
    auth = vendor("gradeapp", scopes=("gradebook.createpost",), schools=("sch-1",))
    items = client.post(
        f"{BASE_PATH}/classes/cls-4a/lineItems",
        headers=auth,
        json={"lineItems": [a_line_item(sourcedId="p-1"), a_line_item(sourcedId="p-2")]},
    )
    assert items.status_code == 201, items.text
    assert items.json() == {
        "sourcedIdPairs": [
            {"suppliedSourcedId": "p-1", "allocatedSourcedId": "p-1"},
            {"suppliedSourcedId": "p-2", "allocatedSourcedId": "p-2"},
        ]
    }
    results = client.post(
        f"{BASE_PATH}/lineItems/p-1/results",
        headers=auth,
        json={"results": [a_result(sourcedId="pr-1", lineItem=None, score=11)]},
    )
    assert results.status_code == 201, results.text
    assert results.json()["sourcedIdPairs"][0]["allocatedSourcedId"] == "pr-1"
    put_only = vendor("putapp", scopes=("gradebook.createput",))
    refused = client.post(
        f"{BASE_PATH}/classes/cls-4a/lineItems",
        headers=put_only,
        json={"lineItems": [a_line_item(sourcedId="p-4")]},
    )
    assert refused.status_code == 403, refused.text
    assert "gradebook.createpost" in refused.json()["imsx_description"]
    wrong_school = client.post(
        f"{BASE_PATH}/schools/sch-2/lineItems",
        headers=auth,
        json={"lineItems": [a_line_item(sourcedId="p-3")]},
    )
    assert wrong_school.status_code == 422, wrong_school.text


def test_a_put_retried_with_its_idempotency_key_records_nothing_new(
    client: TestClient, school: School, vendor: ClientFactory, app: TenantApplication
) -> None:
    auth = vendor("gradeapp", scopes=("gradebook.createput",))
    item = client.put(
        f"{BASE_PATH}/lineItems/vendor-li-1", headers=auth, json={"lineItem": a_line_item()}
    )
    assert item.status_code == 201, item.text
    keyed = {**auth, "Idempotency-Key": "result-1"}
    body = {"result": a_result(score=7)}
    first = client.put(f"{BASE_PATH}/results/vendor-r-1", headers=keyed, json=body)
    assert first.status_code == 201, first.text
    head = _head(app)
    retry = client.put(f"{BASE_PATH}/results/vendor-r-1", headers=keyed, json=body)
    assert retry.status_code == 201, retry.text
    assert _head(app) == head
    other = client.put(
        f"{BASE_PATH}/results/vendor-r-1", headers=keyed, json={"result": a_result(score=8)}
    )
    assert other.status_code == 422, other.text
