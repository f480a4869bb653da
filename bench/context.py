"""What a measure is given: the run's settings, container, sizes and clients, fresh tenants,
the running server (for the measures that use it) and the trivial endpoint's loads."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from rich.progress import Progress

from api.bootstrap import Container
from api.settings import Settings
from bench.http_load import Request, closed_loop, open_loop
from bench.roster import ClassLoad
from bench.server import wait_until_caught_up
from bench.sizes import Sizes
from bench.timing import Load

__all__ = ["TRIVIAL_PATH", "BenchContext", "RunningServer"]

#: The trivial endpoint of the server under test: the baseline of every HTTP measure.
TRIVIAL_PATH = "/livez"


@dataclass(frozen=True, kw_only=True)
class RunningServer:
    """The server under test (uvicorn with the runtime of `digione serve`) and what was
    seeded for it before it started."""

    base_url: str
    tenant: str
    admin_token: str
    classes: list[ClassLoad]
    dashboard_token: str
    oneroster_credentials: tuple[str, str]
    erasure_subjects: list[str]
    #: An empty tenant the server serves too, for the OneRoster CSV import to fill.
    import_tenant: str

    def wait_until_caught_up(self) -> None:
        """Waits until the relay and every projection reached the store head: a measure
        starts on a server that finished projecting what the previous one wrote."""
        wait_until_caught_up(self.base_url, self.admin_token, self.tenant)


@dataclass(kw_only=True)
class BenchContext:
    """The run as a measure sees it."""

    settings: Settings
    container: Container
    sizes: Sizes
    #: Concurrent clients of the closed loops, committers and raw connections.
    clients: int
    #: libpq connection string of the bench database, for raw baselines.
    conninfo: str
    kafka_bootstrap: str
    progress: Progress
    started: datetime
    #: The running server; None while the measures that need none run.
    server: RunningServer | None = None
    #: Per measure, what the timestamped report keeps beside the rows (loads' summaries).
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per measure (and "server_setup", and "catch_up_before_<measure>": the wait for the
    #: worker to reach the store head before a server measure), the wall-clock seconds it
    #: took, seeding included.
    seconds: dict[str, float] = field(default_factory=dict)
    #: Every tenant created for the run, dropped at its end.
    tenants: list[str] = field(default_factory=list)

    @cached_property
    def _tenant_base(self) -> str:
        return f"bench{self.started:%y%m%d%H%M%S}{secrets.token_hex(2)}"

    def tenant(self, purpose: str) -> str:
        """A tenant id no other run has, for `purpose` (lowercase letters); dropped at the end."""
        tenant = self._tenant_base + purpose
        self.tenants.append(tenant)
        return tenant

    def running_server(self) -> RunningServer:
        """The running server; an error names a measure registered without `server=True`."""
        if self.server is None:
            raise RuntimeError("this measure uses the server: register it with server=True")
        return self.server

    @cached_property
    def trivial_closed(self) -> Load:
        """The trivial endpoint at `clients` closed-loop clients, measured once per run."""
        server = self.running_server()
        return closed_loop(
            server.base_url,
            lambda _: Request("GET", TRIVIAL_PATH),
            count=self.sizes.reads,
            clients=self.clients,
            progress=self.progress,
            description=f"GET {TRIVIAL_PATH}",
        )

    @cached_property
    def trivial_fixed(self) -> Load:
        """The trivial endpoint at the fixed open-loop rate, measured once per run."""
        server = self.running_server()
        return open_loop(
            server.base_url,
            lambda _: Request("GET", TRIVIAL_PATH),
            rate=self.sizes.fixed_rate,
            seconds=self.sizes.fixed_rate_seconds,
            progress=self.progress,
            description=f"GET {TRIVIAL_PATH}",
        )
