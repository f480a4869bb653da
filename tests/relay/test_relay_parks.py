"""An event the broker refuses is parked: the rest of its tenant, and every other tenant, flows on."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import cli
from api.app import create_app
from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from domain.commands import Actor, PutOrg
from projections.roster import RosterProjection
from streams.broker import EmbeddedBroker
from streams.codec import partition_for
from tests.builders import bearer
from tests.projections.test_admin import environment
from tests.relay.conftest import PARTITIONS, ServerFactory
from tests.relay.support import some_orgs, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

#: The producer's limit in the test: the broker (Tansu) enforces none of its own.
SMALL_LIMIT = 16 * 1024


def a_school_named(app: TenantApplication, sourced_id: str, name: str) -> int:
    admin = Actor(tenant=app.tenant, role="admin", subject="admin-1")
    app.put_org(admin, PutOrg(sourced_id, "active", name, "school", "00001", None))
    return app.head_position()


def partition_of(app: TenantApplication, position: int) -> int:
    (notification,) = app.recorder.select_notifications(start=position, limit=1)
    return partition_for(str(notification.originator_id).encode(), PARTITIONS)


def org_ids(server: Container, tenant: str) -> set[str]:
    roster = next(p for p in server.projections.all if p.name == "roster")
    assert isinstance(roster, RosterProjection)
    orgs = roster.tables.orgs
    with server.engine.connect() as connection:
        rows = connection.execute(sa.select(orgs.c.sourced_id).where(orgs.c.tenant == tenant))
        return {row[0] for row in rows}


def at_the_head(server: Container, tenant: str, head: int) -> bool:
    return server.runtime.relay.status()[tenant]["published"] == head and all(
        s.position >= head for s in server.status.states() if s.tenant == tenant
    )


def healthz(server: Container, tenant: str) -> dict[str, Any]:
    with TestClient(create_app(server)) as client:
        answer = client.get("/healthz", headers=bearer(server, tenant, "admin", "admin-1"))
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def test_an_event_the_broker_refuses_is_parked_and_the_rest_of_the_tenant_flows_on(
    settings: Settings,
    container: Container,
    tenant: str,
    tenant_prefix: str,
    shared_broker: EmbeddedBroker,
    serve: ServerFactory,
) -> None:
    other = tenant_prefix + "b"
    container.tenants.create(other, name="Another municipality")
    server = serve(
        shared_broker.bootstrap,
        {tenant, other},
        relay_max_message_bytes=SMALL_LIMIT,
        partitions=PARTITIONS,
    )
    app, other_app = server.tenants.get(tenant), server.tenants.get(other)
    some_orgs(app, 2)
    big = a_school_named(app, "big", "x" * (4 * SMALL_LIMIT))
    # Schools after it until one lands on its partition: the retried event then comes
    # below a position that partition's projections applied already.
    later: list[tuple[str, int]] = []
    while not later or partition_of(app, later[-1][1]) != partition_of(app, big):
        later.append((f"after-{len(later)}", a_school_named(app, f"after-{len(later)}", "Koulu")))
    head = later[-1][1]
    other_head = some_orgs(other_app, 3)
    server.runtime.relay.wake()

    wait_until(lambda: at_the_head(server, tenant, head), timeout=30, what="the tenant's head")
    wait_until(lambda: at_the_head(server, other, other_head), timeout=30, what="the other head")
    relay = server.runtime.relay.status()
    health = healthz(server, tenant)
    parked = server.runtime.relay.parked(tenant)

    assert org_ids(server, tenant) == {"sch-0", "sch-1"} | {name for name, _ in later}
    assert org_ids(server, other) == {"sch-0", "sch-1", "sch-2"}
    assert (relay[tenant]["parked"], relay[tenant]["oldest_parked"]) == (1, big)
    assert (relay[other]["parked"], relay[other]["oldest_parked"]) == (0, None)
    assert relay[tenant]["state"] == "ok" and relay[tenant]["lag"] == 0
    assert health["relay"][tenant]["parked"] == 1
    assert health["relay"][tenant]["oldest_parked"] == big
    assert [(p.position, p.originator_version) for p in parked] == [(big, 1)]
    # The client's own words for it: kafka-python's error class, librdkafka's text.
    assert re.search("MessageSizeTooLarge|Message size too large", parked[0].reason)
    assert "xxxx" not in parked[0].reason  # no payload in the row
    # A read that waits for the parked position is answerable: nothing waits for it.
    assert server.status.wait_for(tenant, "roster", big, timeout_seconds=5)

    listed = CliRunner().invoke(
        cli.app, ["relay", "parked"], env=environment(settings, bootstrap=shared_broker.bootstrap)
    )
    assert listed.exit_code == 0, listed.output
    assert tenant in listed.output and str(big) in listed.output

    # The limit raised, `relay retry` publishes it, and the projections apply it.
    retried = CliRunner().invoke(
        cli.app,
        ["relay", "retry", "--tenant", tenant],
        env={
            **environment(settings, bootstrap=shared_broker.bootstrap),
            "DIGIONE_TOPIC_PREFIX": server.settings.topic_prefix,
            "DIGIONE_RELAY_MAX_MESSAGE_BYTES": str(8 * SMALL_LIMIT),
        },
    )
    assert retried.exit_code == 0, retried.output
    assert "1 published, 0 still parked" in retried.output
    wait_until(
        lambda: "big" in org_ids(server, tenant), timeout=30, what="the retried event applied"
    )
    assert server.runtime.relay.parked(tenant) == []
    assert healthz(server, tenant)["relay"][tenant]["parked"] == 0
