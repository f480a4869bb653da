"""Exporting a roster as a OneRoster 1.2 CSV bundle: the binding, the round trip, erasure,
and the export as a recorded disclosure."""

from __future__ import annotations

import csv
import io

from api.bootstrap import Container
from api.oneroster_csv.bundle import ALL_FILES, HEADERS
from domain.application import TenantApplication
from domain.commands import Actor
from domain.sealing import Erased
from projections.reads.disclosures import disclosures_of
from tests.oneroster_csv.conftest import SCHOOL, Export, ImportFiles, bundle_of, csv_files


def _rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[f"{name}.csv"].decode())))


def test_the_export_follows_the_binding_and_writes_agents_both_ways(
    app: TenantApplication, import_files: ImportFiles, export: Export
) -> None:
    import_files(csv_files(SCHOOL))

    files = export(app, "vendor-x")

    manifest = files["manifest.csv"].decode().splitlines()
    assert manifest[0] == "propertyName,value" and "oneroster.version,1.2" in manifest
    assert {line.split(",")[0] for line in manifest} >= {f"file.{name}" for name in ALL_FILES}
    for name in ("orgs", "users", "roles", "enrollments", "demographics"):
        assert files[f"{name}.csv"].decode().splitlines()[0] == ",".join(HEADERS[name])
    agents = {row["sourcedId"]: row["agentSourcedIds"] for row in _rows(files, "users")}
    assert agents["stu-1"] == "grd-1" and agents["grd-1"] == "stu-1"
    assert all(row["password"] == "" for row in _rows(files, "users"))
    assert "white" not in files["demographics.csv"].decode().splitlines()[1]


def test_an_export_imports_into_another_tenant_as_the_same_roster(
    container: Container, app: TenantApplication, import_files: ImportFiles, export: Export
) -> None:
    import_files(csv_files(SCHOOL))
    first = export(app, "vendor-x")
    other = container.tenants.create(app.tenant + "b", name="Toinen kunta")

    from api.oneroster_csv.importer import import_bundle

    report = import_bundle(other, Actor(other.tenant, "admin", "sis"), bundle_of(first))
    second = export(other, "vendor-x")

    assert report.rejected == [] and report.quirks == []
    assert {name: data for name, data in first.items() if name != "manifest.csv"} == {
        name: data for name, data in second.items() if name != "manifest.csv"
    }


def test_an_export_is_recorded_as_a_disclosure_to_its_recipient(
    container: Container, app: TenantApplication, import_files: ImportFiles, export: Export
) -> None:
    import_files(csv_files(SCHOOL))

    export(app, "opetushallitus")

    received = {
        (d.recipient, d.category) for d in disclosures_of(container.engine, app.tenant, "stu-1")
    }
    assert {("opetushallitus", "identity"), ("opetushallitus", "demographics")} <= received


def test_an_erased_user_is_exported_as_a_placeholder_and_never_imported_back(
    app: TenantApplication, import_files: ImportFiles, export: Export
) -> None:
    import_files(csv_files(SCHOOL))
    app.erase(Actor(app.tenant, "admin", "dpo"), subject="stu-1", reason="pyyntö", basis=None)

    files = export(app, "vendor-x")
    head = app.head_position()
    exported_back = import_files(files)
    from_sis_again = import_files(csv_files(SCHOOL))

    stu = next(row for row in _rows(files, "users") if row["sourcedId"] == "stu-1")
    assert (stu["givenName"], stu["familyName"], stu["userIds"]) == ("erased", "erased", "")
    assert "demographics.csv" not in files  # its only row was the erased student's
    assert isinstance(app.personal_details("stu-1"), Erased)
    assert app.head_position() == head
    assert any("erased" in n.reason for n in exported_back.rejected)
    assert any(n.row == 3 and "erased" in n.reason for n in from_sis_again.rejected)
