"""A PostgreSQL restart under a running `digione serve`: a short pause, nothing lost."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from api.bootstrap import bootstrap
from api.settings import Settings
from tests.builders import bearer
from tests.faults.scenario import (
    events_of_user,
    put_school,
    put_user,
    wait_until_healthy_and_current,
)
from tests.faults.serve_process import serving
from tests.faults.throwaway_postgres import throwaway_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.broker]

TENANT = "pgrestart"
OUTAGE_SECONDS = 25


def test_commands_during_a_postgresql_outage_get_503_and_every_acknowledged_one_is_kept_once(
    tmp_path: Path,
) -> None:
    with throwaway_postgres() as postgres:
        data_dir = tmp_path / "var"
        container = bootstrap(Settings.explicit(database_url=postgres.url, data_dir=data_dir))
        try:
            container.tenants.create(TENANT, name="Restart municipality")
            admin = bearer(container, TENANT, "admin", "admin-1")
            settings = {"database_url": postgres.url, "data_dir": str(data_dir)}
            answers: dict[str, httpx.Response] = {}
            with (
                serving(settings, tmp_path / "serve.log") as served,
                served.client(timeout=90) as client,
            ):
                put_school(client, admin)
                for n in range(5):
                    answers[f"u-before-{n}"] = put_user(client, admin, f"u-before-{n}")

                postgres.stop()
                outage_started = time.monotonic()
                n = 0
                # A command waits up to ~30 s for the database (eventsourcing tries a
                # store call 10 times), then answers 503: every answer that comes back
                # before the server is started again is such a refusal. The outage lasts
                # longer than the projection runner's ten errors in a row (~21 s of
                # back-off), so it ends, and the supervisor must restart it.
                while time.monotonic() - outage_started < OUTAGE_SECONDS:
                    answers[f"u-during-{n}"] = put_user(client, admin, f"u-during-{n}")
                    n += 1
                during = [answers[f"u-during-{i}"] for i in range(n)]
                postgres.start()

                # The first commands after the restart may still meet a connection that
                # died with the old server: they too must answer 503, never 500.
                after = 0
                deadline = time.monotonic() + 60
                while (
                    time.monotonic() < deadline
                    and sum(
                        1 for k, r in answers.items() if k.startswith("u-after") and r.is_success
                    )
                    < 5
                ):
                    answers[f"u-after-{after}"] = put_user(client, admin, f"u-after-{after}")
                    after += 1

                health = wait_until_healthy_and_current(client, admin, TENANT, within=90)
                log = served.log_text()

            assert during, "no command was sent during the outage"
            for response in during:
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "5"
                assert response.json()["type"] == "urn:digione:problem:database-unavailable"
            statuses = {r.status_code for r in answers.values()}
            assert statuses <= {201, 503}, statuses
            assert health.get("status") == "ok", health
            assert health["loops"]["projection runner"]["restarts"] >= 1, health["loops"]
            for sourced_id, response in answers.items():
                stored = events_of_user(container, TENANT, sourced_id)
                if response.is_success:
                    assert stored == 1, (sourced_id, stored)
                else:
                    assert stored <= 1, (sourced_id, stored)
            assert "internal error" not in log
        finally:
            container.close()
