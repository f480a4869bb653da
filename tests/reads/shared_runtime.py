"""One runtime per module and backend, a tenant of its own per test.

Building the container, starting the relay and the runner and stopping them again cost a
read test about as much as the school it reads. A module that imports these fixtures
overrides `backend`, `clock`, `container`, `tenant` and `running` of tests/conftest.py and
tests/reads/conftest.py: its tests still each get a fresh tenant (so they share no data)
and a clock at the same start, but one container and one runtime serve them all. While a
test runs, the relay and the runner see its tenants alone, as with a runtime of its own.

    from tests.reads.shared_runtime import (  # noqa: F401 - fixtures of this module
        backend, clock, container, running, shared_runtime, tenant,
    )

A test marked `reads_only` writes nothing (no command, no new tenant; it may move the
clock): its `tenant` is one the module's tests share, and a module's school fixture built
with `shared_runtime.school_of` seeds that tenant once, for all of them.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container, bootstrap
from api.settings import Settings
from api.tenants import Tenants
from streams.broker import EmbeddedBroker
from streams.relay import Relay
from tests.builders import School
from tests.conftest import FakeClock
from tests.reads.conftest import OnlyTestTenants, _forget, read_runtime
from tests.tenant_cleanup import drop_tenants

#: Where every test's clock starts (the clock fixture of tests/conftest.py).
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


#: A test that writes nothing: it reads the tenant (and school) its module seeded once.
reads_only = pytest.mark.reads_only


class TestAndSharedTenants(OnlyTestTenants):
    """The tenants of the running test, and the one the module's read-only tests share."""

    def __init__(self, tenants: Tenants, prefix: str, shared: str) -> None:
        super().__init__(tenants, prefix)
        self.shared = shared

    def ids(self) -> list[str]:
        return [t for t in self._tenants.ids() if t.startswith(self.prefix) or t == self.shared]


@dataclass
class SharedRuntime:
    container: Container
    client: TestClient
    relay: Relay
    clock: FakeClock
    tenants: TestAndSharedTenants
    prefix: str
    numbers: Iterator[int] = field(default_factory=itertools.count)
    schools: dict[str, School] = field(default_factory=dict)

    def school_of(self, tenant: str, build: Callable[[], School]) -> School:
        """The school `build` seeds in `tenant`: built once for the shared tenant."""
        if tenant not in self.schools:
            self.schools[tenant] = build()
        return self.schools[tenant]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def shared_runtime(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    broker: EmbeddedBroker,
    request: pytest.FixtureRequest,
) -> Iterator[SharedRuntime]:
    database_url = None
    if backend == "postgres":
        database_url = str(request.getfixturevalue("private_postgres_url"))
    settings = Settings.explicit(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("var"),
        kafka_bootstrap=broker.bootstrap,
        topic_prefix="rd" + uuid.uuid4().hex[:10],
    )
    clock = FakeClock(START)
    container = bootstrap(settings, clock=clock)
    prefix = "t" + uuid.uuid4().hex[:10]
    tenants = TestAndSharedTenants(container.tenants, prefix + "-", shared=prefix + "shared")
    try:
        with read_runtime(container, tenants, broker) as runtime:
            yield SharedRuntime(container, runtime.client, runtime.relay, clock, tenants, prefix)
    finally:
        created = [t for t in container.tenants.ids() if t.startswith(prefix)]
        _forget(container, created)
        container.close()
        if settings.is_postgres:
            drop_tenants(settings, created)


@pytest.fixture
def clock(shared_runtime: SharedRuntime) -> FakeClock:
    """The runtime's clock, back at the start for each test."""
    shared_runtime.clock.now = START
    return shared_runtime.clock


@pytest.fixture
def container(shared_runtime: SharedRuntime, clock: FakeClock) -> Container:
    return shared_runtime.container


@pytest.fixture
def tenant(
    shared_runtime: SharedRuntime, container: Container, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh tenant per test; the relay and the runner see this test's tenants only
    (another tenant the test creates is named as tests/conftest.py's are: id[:-1] + "b").
    A `reads_only` test gets the tenant the module's read-only tests share."""
    if request.node.get_closest_marker("reads_only"):
        shared = shared_runtime.tenants.shared
        if not container.tenants.exists(shared):
            container.tenants.create(shared, name="Shared municipality")
        yield shared
        return
    test_prefix = f"{shared_runtime.prefix}{next(shared_runtime.numbers):03d}"
    tenant_id = test_prefix + "a"
    shared_runtime.tenants.prefix = test_prefix
    container.tenants.create(tenant_id, name="Test municipality")
    yield tenant_id
    shared_runtime.tenants.prefix = shared_runtime.prefix + "-"  # nobody's, between tests
    # Each tenant has a pool of its own (the server's connections are shared by everyone):
    # closed once a relay pass of this thread's has ended, so no pass of the relay's own
    # still reads the test's tenants (the next ones leave them out).
    shared_runtime.relay.run_once()
    for created in container.tenants.ids():
        if created.startswith(test_prefix):
            container.tenants.close_tenant(created)


@pytest.fixture
def running(shared_runtime: SharedRuntime, tenant: str) -> TestClient:
    """The HTTP app with the relay and the read projections running behind it, its client
    with no cookie of an earlier test (a page's session, its language)."""
    shared_runtime.client.cookies.clear()
    return shared_runtime.client
