"""A projection runner in a process of its own, for tests that kill it with SIGKILL.

    python -m tests.projections.runner_process DATABASE_URL DATA_DIR BOOTSTRAP TENANT KIND NAME MAX_BATCH

DATABASE_URL is "-" for the SQLite default under DATA_DIR. The runner keeps the read model of
KIND (roster, class_dashboard, guardian_view, subject_index) called NAME of TENANT current
until SIGTERM (or SIGKILL, which is the point).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from api.bootstrap import bootstrap
from api.settings import Settings
from projections.base import Projection
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.roster import RosterProjection
from projections.runner import ProjectionRunner
from projections.subject_index import SubjectIndexProjection
from streams.codec import EventCodec
from streams.schemas import default_registry

KINDS: dict[str, type[Projection]] = {
    "roster": RosterProjection,
    "class_dashboard": ClassDashboardProjection,
    "guardian_view": GuardianViewProjection,
    "subject_index": SubjectIndexProjection,
}


def main(argv: list[str]) -> int:
    database_url, data_dir, broker, tenant, kind, name, max_batch = argv
    settings = Settings.explicit(
        database_url=None if database_url == "-" else database_url, data_dir=Path(data_dir)
    )
    container = bootstrap(settings)
    runner = ProjectionRunner(
        engine=container.engine,
        projections=[KINDS[kind](name)],  # type: ignore[call-arg]
        codec=EventCodec(default_registry(), topic_prefix="digione", partitions=1),
        bootstrap=broker,
        topic_prefix="digione",
        tenant_ids=lambda: [tenant],
        max_batch=int(max_batch),
        fetch_wait_ms=50,
        poll_seconds=0.2,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    runner.start()
    print("running", flush=True)
    while not stopped.wait(0.2):
        if not runner.is_running:
            print(f"runner failed: {runner.failure!r}", file=sys.stderr, flush=True)
            return 1
    runner.stop()
    container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
