"""A DIGIONE_ variable the settings refuse: the command line names it, says why and what
to do, exits 2, and shows no traceback and no password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _digione(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("DIGIONE_")
    }
    environment.update(DIGIONE_DATA_DIR=str(tmp_path / "var"), **variables)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
