"""`digione --help` and each group's help: what an operator reads first."""

from __future__ import annotations

import inspect

import pytest
import typer
import typer.rich_utils
from typer.testing import CliRunner

from api.cli import app


def _groups(
    typer_app: typer.Typer, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], typer.Typer]]:
    found = [(path, typer_app)]
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None and group.name is not None
        found += _groups(group.typer_instance, (*path, group.name))
    return found


GROUPS = _groups(app)


@pytest.mark.parametrize(
    ("path", "typer_app"), GROUPS, ids=[" ".join(("digione", *path)) for path, _ in GROUPS]
)
def test_each_command_is_listed_with_its_whole_summary_on_one_line(
    path: tuple[str, ...], typer_app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide enough that no summary wraps: a line break left in one shows as a broken row.
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 2000)
    shown = CliRunner().invoke(app, [*path, "--help"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    for command in typer_app.registered_commands:
        if command.hidden:
            continue
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        doc = command.help or inspect.getdoc(command.callback) or ""
        summary = " ".join(doc.split("\n\n", 1)[0].split())
        rows = [line for line in lines if f"│ {name} " in line]
        assert rows, f"{' '.join(path)} --help does not list {name}"
        assert any(summary in row for row in rows), (
            f"{' '.join(path)} --help breaks the summary of {name}: {rows}"
        )
