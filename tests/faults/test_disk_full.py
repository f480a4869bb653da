"""The data directory's disk full (the SQLite default): commands refused with a clear 507."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from api.bootstrap import bootstrap
from api.settings import Settings
from tests.builders import bearer
from tests.faults.scenario import events_of_user, keys_of_user, put_school, put_user
from tests.faults.serve_process import serving
from tests.faults.small_disk import fill, small_disk

pytestmark = [pytest.mark.broker]

TENANT = "diskfull"


def test_a_full_disk_refuses_commands_with_507_and_keeps_every_acknowledged_one(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "var", megabytes=8) as data_dir:
        container = bootstrap(Settings.explicit(data_dir=data_dir))
        container.tenants.create(TENANT, name="Full disk municipality")
        admin = bearer(container, TENANT, "admin", "admin-1")
        container.close()
        answers: dict[str, httpx.Response] = {}
        with (
            serving({"data_dir": str(data_dir)}, tmp_path / "serve.log") as served,
            served.client() as client,
        ):
            put_school(client, admin)
            for n in range(5):
                answers[f"u-before-{n}"] = put_user(client, admin, f"u-before-{n}")
            filler = fill(data_dir)
            # SQLite may reuse pages it already holds: commands succeed until those run out.
            n = 0
            while n < 500:
                answers[f"u-full-{n}"] = put_user(client, admin, f"u-full-{n}")
                n += 1
                if answers[f"u-full-{n - 1}"].status_code != 201:
                    break
            refused = answers[f"u-full-{n - 1}"]
            filler.unlink()
            answers["u-after"] = put_user(client, admin, "u-after")
            log = served.log_text()

        assert refused.status_code == 507, refused.text
        problem = refused.json()
        assert problem["type"] == "urn:digione:problem:storage-full"
        assert "disk is full" in problem["detail"]
        assert "free" in problem["detail"] and "DIGIONE_DATA_DIR" in problem["detail"]
        assert answers["u-after"].status_code == 201, answers["u-after"].text
        container = bootstrap(Settings.explicit(data_dir=data_dir))
        try:
            for sourced_id, response in answers.items():
                # Nothing half-written: a refused user has neither an event nor a key.
                stored = events_of_user(container, TENANT, sourced_id)
                keys = keys_of_user(container, TENANT, sourced_id)
                if response.status_code == 201:
                    assert stored == 1 and keys >= 1, (sourced_id, stored, keys)
                else:
                    assert stored == 0 and keys == 0, (sourced_id, stored, keys)
            store = container.tenants.sqlite_path(TENANT)
            with sqlite3.connect(store) as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            container.close()
        assert "internal error" not in log
