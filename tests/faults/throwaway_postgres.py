"""A PostgreSQL cluster of one test's own, to stop and restart under a running server.

Never the shared server on :5432: this one is made with initdb in a fresh directory, listens
on a free loopback port, and is removed at the end. As root it belongs to the `postgres`
operating-system user (initdb refuses root), in a directory that user can reach.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from streams.broker import free_loopback_port

_OWNER = "postgres"


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    for directory in reversed(found):
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


class ThrowawayPostgres:
    """initdb'd on construction; start(), stop() and restart() with pg_ctl."""

    def __init__(self, directory: Path, bindir: Path) -> None:
        self.directory = directory
        self.bindir = bindir
        self.port = free_loopback_port()
        self.data = directory / "data"
        self._run("initdb", f"--pgdata={self.data}", "--username=postgres", "--auth=trust")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _OWNER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            "pg_ctl",
            f"--pgdata={self.data}",
            f"--log={self.directory / 'postgres.log'}",
            "--wait",
            "--timeout=60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''",
            "start",
        )
        self.wait_until_answering()

    def stop(self) -> None:
        self._run("pg_ctl", f"--pgdata={self.data}", "--mode=fast", "--wait", "stop")

    def wait_until_answering(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A running throwaway cluster; skipped where no PostgreSQL server binaries exist."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    directory = Path(tempfile.mkdtemp(prefix="digione-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(_OWNER)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        directory.chmod(0o700)
    cluster = ThrowawayPostgres(directory, bindir)
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(directory, ignore_errors=True)
