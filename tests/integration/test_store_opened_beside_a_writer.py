"""A tenant's store opened while another process writes to it: every process opens it
(the worker's relay, each HTTP process) as `serve --demo` seeds it, and on SQLite the
opening's clean-up of shredded keys failed at once ("database is locked") when the other's
commit landed between its read and its write."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from api.bootstrap import bootstrap
from api.settings import Settings


def test_opening_a_store_while_another_process_commits_waits_for_it_and_succeeds(
    tmp_path: Path,
) -> None:
    container = bootstrap(Settings.explicit(data_dir=tmp_path / "var"))  # SQLite
    try:
        app = container.tenants.create("writer1", name="Writer municipality")
        other = sqlite3.connect(
            container.tenants.sqlite_path("writer1"), isolation_level=None, check_same_thread=False
        )
        other.execute("CREATE TABLE other_process (n INTEGER)")
        # The other process holds the write lock, and commits a write a moment later.
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO other_process VALUES (1)")
        committer = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        committer.start()
        began = time.monotonic()

        purged = app.reconcile_erasures()  # as every process opening the store runs it

        committer.join()
        other.close()
        assert purged == 0
        assert time.monotonic() - began >= 0.25, "it waited for the other's commit"
    finally:
        container.close()
