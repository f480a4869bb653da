"""`digione import oneroster`: a bundle in a folder, its report on stdout, the guard's refusal."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api import cli
from api.bootstrap import Container
from domain.application import TenantApplication
from tests.oneroster_csv.conftest import SCHOOL, csv_files
from tests.projections.test_admin import environment


def _folder(files: dict[str, bytes], path: Path) -> Path:
    path.mkdir()
    for name, content in files.items():
        (path / name).write_bytes(content)
    return path


def _import(container: Container, tenant: str, bundle: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli.app,
        ["import", "oneroster", str(bundle), "--tenant", tenant],
        env=environment(container.settings),
    )
    return result.exit_code, result.stdout, result.stderr


def test_the_import_command_records_a_bundle_and_prints_its_report_as_json(
    container: Container, tenant: str, app: TenantApplication, tmp_path: Path
) -> None:
    code, out, err = _import(container, tenant, _folder(csv_files(SCHOOL), tmp_path / "bulk"))

    assert code == 0, err
    report = json.loads(out)
    assert report["files"]["users"]["created"] == 5
    assert report["position"] == app.head_position()
    assert app.find("users", "stu-1") is not None
    assert "users.csv (bulk): 5 rows, 5 created" in err


def test_a_truncated_bulk_file_stops_the_import_command_and_records_nothing(
    container: Container, tenant: str, app: TenantApplication, tmp_path: Path
) -> None:
    _import(container, tenant, _folder(csv_files(SCHOOL), tmp_path / "bulk"))
    head = app.head_position()
    fewer = {**SCHOOL, "enrollments": SCHOOL["enrollments"][:1]}

    code, out, err = _import(container, tenant, _folder(csv_files(fewer), tmp_path / "fewer"))

    assert code == 2
    assert "--allow-mass-deletion" in err
    assert json.loads(out)["massDeletions"]
    assert app.head_position() == head


def test_the_summary_names_a_refused_user_other_rows_asked_for_without_a_row_number(
    container: Container, tenant: str, tmp_path: Path
) -> None:
    _import(container, tenant, _folder(csv_files(SCHOOL), tmp_path / "bulk"))
    delta = {"roles": ["r4,tobedeleted,2026-03-01T08:00:00.000Z,grd-1,primary,guardian,,,sch-1,"]}

    code, out, err = _import(
        container, tenant, _folder(csv_files(delta, mode="delta"), tmp_path / "delta")
    )

    assert code == 0, err
    assert json.loads(out)["files"]["roles"]["rejected"] == 1
    assert "roles.csv (delta): 1 rows, 0 created, 0 updated, 0 unchanged" in err
    assert "rejected roles.csv row 2 column userSourcedId" in err
    assert "rejected users.csv (asked for by other rows): user 'grd-1'" in " ".join(err.split())
    assert "row 0" not in err
