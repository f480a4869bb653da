"""A subject key erased in one process leaves every other process's key cache at once."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from domain.application import TenantApplication
from domain.ids import aggregate_id
from domain.sealing import ERASED, RetentionClass
from tests.builders import a_school


def test_a_key_erased_in_one_process_is_dropped_from_another_processes_cache(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    settings: Settings,
) -> None:
    a_school(client, container, tenant)
    # Another process of the same installation (the worker, another HTTP process), whose
    # cache would keep the key for an hour: only the announcement can drop it.
    other = bootstrap(settings.model_copy(update={"key_cache_seconds": 3600.0}))
    try:
        assert other.runtime.keys is not None
        other.runtime.keys.start()
        if settings.is_postgres:  # SQLite has no notifications: the epochs are polled
            assert other.runtime.keys.wait_listening(10)
        theirs = other.tenants.get(tenant)
        assert theirs.personal_details("stu-1") is not ERASED  # its key is cached there now

        subject = aggregate_id(tenant, "users", "stu-1")
        app.tables.shred_subject_key(subject, RetentionClass.WORKING)  # what erasure does
        app.sealer.forget_cached_key(subject, RetentionClass.WORKING)

        deadline = time.monotonic() + 20
        while theirs.personal_details("stu-1") is not ERASED and time.monotonic() < deadline:
            time.sleep(0.05)
        details = theirs.personal_details("stu-1")
        kept = theirs.personal_details("stu-2")
    finally:
        other.close()

    assert details is ERASED
    assert kept is not ERASED
