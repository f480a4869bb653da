"""`POST /api/v1/imports`: the SIS sends a zip and gets the import's report."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.oneroster_csv.export import zip_bytes
from domain.application import TenantApplication
from tests.builders import bearer
from tests.oneroster_csv.conftest import SCHOOL, csv_files

ZIP = {"Content-Type": "application/zip"}


def test_a_bundle_posted_by_an_admin_is_imported_and_answered_with_its_report(
    client: TestClient, container: Container, app: TenantApplication, tenant: str
) -> None:
    broken = {**SCHOOL, "courses": [*SCHOOL["courses"], "ma-5,,,nope,Matikka 5,MA5,05,sch-1,,"]}
    admin = bearer(container, tenant, "admin", "sis-admin")

    answer = client.post(
        "/api/v1/imports", content=zip_bytes(csv_files(broken)), headers={**admin, **ZIP}
    )

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["files"]["users"]["created"] == 5
    assert report["rejected"] == [
        {
            "file": "courses",
            "row": 3,
            "column": "schoolYearSourcedId",
            "reason": report["rejected"][0]["reason"],
        }
    ]
    assert report["position"] == app.head_position()


def test_a_bad_zip_answers_a_clear_400_and_changes_nothing(
    client: TestClient, container: Container, app: TenantApplication, tenant: str
) -> None:
    admin = bearer(container, tenant, "admin", "sis-admin")
    head = app.head_position()
    no_manifest = {k: v for k, v in csv_files(SCHOOL).items() if k != "manifest.csv"}

    not_a_zip = client.post(
        "/api/v1/imports", content=b"sourcedId,name\n", headers={**admin, **ZIP}
    )
    unlisted = client.post(
        "/api/v1/imports", content=zip_bytes(no_manifest), headers={**admin, **ZIP}
    )

    assert not_a_zip.status_code == 400
    assert "not a readable zip" in not_a_zip.json()["detail"]
    assert unlisted.status_code == 400 and "manifest.csv" in unlisted.json()["detail"]
    assert app.head_position() == head


def test_only_an_admin_or_the_sis_service_may_import(
    client: TestClient, container: Container, app: TenantApplication, tenant: str
) -> None:
    teacher = bearer(container, tenant, "teacher", "tch-1")

    answer = client.post(
        "/api/v1/imports", content=zip_bytes(csv_files(SCHOOL)), headers={**teacher, **ZIP}
    )

    assert answer.status_code == 403
    assert app.head_position() == 0
