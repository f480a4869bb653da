"""Rotating the master key re-wraps tenant keys and leaves every event untouched."""

from __future__ import annotations

import stat

from fastapi.testclient import TestClient

from api import master_key
from api.bootstrap import Container, bootstrap
from api.settings import Settings
from tests.builders import a_school


def _stored_events(container: Container, tenant: str) -> list[bytes]:
    app = container.tenants.get(tenant)
    return [n.state for n in app.recorder.select_notifications(start=1, limit=10_000)]


def test_after_rotation_personal_data_still_opens_sealed_filters_still_find_and_no_event_changed(
    client: TestClient, container: Container, tenant: str, settings: Settings, clock: object
) -> None:
    a_school(client, container, tenant)
    path = settings.resolved_master_key_file
    old_key, events = path.read_bytes(), _stored_events(container, tenant)

    rotated = master_key.rotate(path, container.tenants.rotate_master_key)
    container.close()
    restarted = bootstrap(settings, clock=clock)  # type: ignore[arg-type]

    assert tenant in rotated
    assert path.read_bytes() != old_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name(path.name + ".previous").exists()
    assert _stored_events(restarted, tenant) == events
    assert restarted.tenants.get(tenant).personal_details("stu-1")["givenName"] == "Aino"  # type: ignore[index]
    # The blind index's key derives from the tenant KEK, which rotation re-wraps but keeps:
    # equality filters on sealed fields (OneRoster `email='…'`) need no reindex.
    assert restarted.tenants.get(tenant).users_with("email", "STU-1@example.invalid") == ["stu-1"]
    restarted.close()


def test_a_rotation_interrupted_after_rewrapping_still_reads_with_the_next_key(
    client: TestClient, container: Container, tenant: str, settings: Settings, clock: object
) -> None:
    a_school(client, container, tenant)
    path = settings.resolved_master_key_file

    new_key = master_key.begin_rotation(path)
    container.tenants.rotate_master_key(new_key)  # … and the process dies here
    container.close()
    restarted = bootstrap(settings, clock=clock)  # type: ignore[arg-type]

    assert restarted.tenants.get(tenant).personal_details("stu-1")["givenName"] == "Aino"  # type: ignore[index]
    master_key.rotate(path, restarted.tenants.rotate_master_key)  # running it again completes
    assert path.read_bytes() == new_key
    restarted.close()
