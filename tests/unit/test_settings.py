"""Tests build their settings from explicit values: a developer's DIGIONE_* stays untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import Settings


def test_explicit_settings_ignore_the_developers_master_key_and_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DIGIONE_MASTER_KEY_FILE", "/home/developer/real-master.key")
    monkeypatch.setenv("DIGIONE_DATABASE_URL", "postgresql://developer@prod.example/digione")

    settings = Settings.explicit(data_dir=tmp_path / "var")

    assert settings.master_key_file is None
    assert settings.resolved_master_key_file == tmp_path / "var" / "master.key"
    assert settings.database_url is None


def test_explicit_settings_ignore_a_dotenv_file_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("DIGIONE_TOPIC_PREFIX=developer\n")
    monkeypatch.chdir(tmp_path)

    settings = Settings.explicit(_env_file=tmp_path / ".env")

    assert settings.topic_prefix == "digione"


def test_the_test_fixtures_settings_ignore_the_developers_master_key_and_database(
    monkeypatch: pytest.MonkeyPatch, backend: str, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv("DIGIONE_MASTER_KEY_FILE", "/home/developer/real-master.key")
    monkeypatch.setenv("DIGIONE_DATABASE_URL", "postgresql://developer@prod.example/digione")

    settings = request.getfixturevalue("settings")

    assert isinstance(settings, Settings)
    assert settings.master_key_file is None
    assert settings.database_url != "postgresql://developer@prod.example/digione"


def test_the_composition_root_still_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DIGIONE_MASTER_KEY_FILE", str(tmp_path / "installed.key"))

    settings = Settings()

    assert settings.master_key_file == tmp_path / "installed.key"
