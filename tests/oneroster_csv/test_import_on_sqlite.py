"""A bundle imported on the embedded default (SQLite): the batch's reads of the records and
keys it holds already, which PostgreSQL makes with arrays, are made there in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from domain.application import TenantApplication
from domain.roster import User
from tests.conftest import FakeClock
from tests.oneroster_csv.conftest import SCHOOL, ImportFiles, csv_files


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    built = bootstrap(
        Settings.explicit(database_url=None, data_dir=tmp_path / "var"),
        clock=FakeClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
    )
    yield built
    built.close()


def test_a_delta_and_a_rerun_on_sqlite_find_the_records_and_keys_the_bulk_import_recorded(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    import_files(csv_files(SCHOOL))
    delta = {
        "users": ["stu-1,active,2026-03-01T08:00:00.000Z,true,,,Aino,Mäkinen,,,,,,grd-1,05,,,,,,sch-1,"],
    }  # fmt: skip

    changed = import_files(csv_files(delta, mode="delta"))
    renamed = app.personal_details("stu-1")
    head = app.head_position()
    again = import_files(csv_files(SCHOOL))

    assert changed.files["users"].updated == 1
    assert isinstance(renamed, dict) and renamed["familyName"] == "Mäkinen"
    # The bulk file names stu-1 as Aino Virtanen again: one update, the rest unchanged.
    assert again.files["users"].updated == 1 and again.files["users"].unchanged == 4
    assert again.files["enrollments"].unchanged == 3
    assert app.head_position() > head
    user = app.find("users", "stu-2")
    assert isinstance(user, User) and user.is_active
