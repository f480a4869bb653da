"""Importing the product does nothing: no settings read, no connection opened (STYLE.md habit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "streams", "projections", "api", "bench")

# Runs in a child process: any socket connection, or an open() of a database file, made
# while importing a module fails the import, and the modules that failed are printed.
_IMPORT_EVERY_MODULE = textwrap.dedent(
    """
    import importlib, pkgutil, socket, sys, traceback

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was opened at import time: {args!r}")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse

    failed = []
    imported = 0
    for package_name in sys.argv[1:]:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            try:
                importlib.import_module(module.name)
                imported += 1
            except BaseException:
                failed.append(module.name + "\\n" + traceback.format_exc(limit=3))
    print(imported)
    for failure in failed:
        print("FAILED", failure)
    sys.exit(1 if failed else 0)
    """
)


def test_every_module_imports_with_the_database_and_broker_pointing_nowhere() -> None:
    environment = {
        **os.environ,
        "DIGIONE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere",
        "DIGIONE_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "DIGIONE_DATA_DIR": "/nonexistent/digione",
        "PYTHONPATH": str(REPO),
    }
    present = [p for p in PACKAGES if (REPO / p / "__init__.py").exists()]

    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERY_MODULE, *present],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.splitlines()[0]) > 50  # every module was walked, not none


def test_the_command_line_starts_without_loading_the_http_layer() -> None:
    """An operator's `digione token issue` or `projections status` loads no web framework
    (a second of start-up on this machine): only `serve` and an import need it."""
    loaded_web_modules = (
        "import sys, api.cli; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('fastapi', 'starlette', 'jinja2', 'uvicorn')"
        " or m.startswith('api.routers')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", loaded_web_modules],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
