"""A DIGIONE_ variable the settings refuse: the command line names it, says why and what
to do, exits 2, and shows no traceback and no password."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from api.settings import Settings
from tests.processes import digione


def _digione(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return digione(Settings.explicit(data_dir=tmp_path / "var"), *args, variables=variables)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DIGIONE_KAFKA_FETCH_WAIT_MS", "0", "greater than or equal to 1"),
        ("DIGIONE_PARTITIONS", "three", "valid integer"),
        ("DIGIONE_HTTP_WORKERS", "65", "less than or equal to 64"),
    ],
)
def test_serve_with_a_refused_setting_names_the_variable_and_exits_2(
    tmp_path: Path, variable: str, value: str, reason: str
) -> None:
    answer = _digione(tmp_path, "serve", **{variable: value})

    assert answer.returncode == 2
    assert f"{variable} is {value!r}: " in answer.stderr
    assert reason in answer.stderr
    assert "unset it for the default" in answer.stderr
    assert "Traceback" not in answer.stderr
    assert not (tmp_path / "var").exists(), "a refused setting started nothing"


def test_a_refused_database_url_is_not_echoed_with_its_password(tmp_path: Path) -> None:
    answer = _digione(
        tmp_path,
        "token",
        "issue",
        "--tenant",
        "t",
        "--role",
        "admin",
        "--subject",
        "a",
        DIGIONE_DATABASE_URL="postgres://digione:hunter2@db.example/digione",
    )

    assert answer.returncode == 2
    assert "DIGIONE_DATABASE_URL: " in answer.stderr
    assert "must start with postgresql:// or sqlite:///" in answer.stderr
    assert "hunter2" not in answer.stderr + answer.stdout
    assert "Traceback" not in answer.stderr
