"""Operating projections: rebuild one (or all), and status.

`digione projections rebuild [NAME]` and `digione projections status` call these; they
draw the progress bar and the table, this module does the work. A rebuild reads the
tenants' event stores by default (projections/store_rebuild.py: no Kafka, no Avro), or the
topics from their beginning (`--from-topics`, `rebuild(..., from_topics=True)`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from domain.application import TenantApplication
from projections import positions
from projections.base import Projection, reset
from projections.heap import heap_frozen_for_batches
from projections.runner import ProjectionRunner
from projections.statistics import analyse
from projections.status import ProjectionState, ProjectionStatus, UnknownProjectionError
from projections.store_rebuild import StoreRebuild, StoreTarget
from streams import positions as relay_positions
from streams.codec import EventCodec

__all__ = [
    "BrokerNotConfiguredError",
    "ProjectionAdmin",
    "RebuildProgress",
    "RebuildReport",
    "RebuildStalledError",
]

#: Rebuilds read in big batches: fewer transactions, the same result.
REBUILD_BATCH = 2000


class BrokerNotConfiguredError(RuntimeError):
    """Raised when a rebuild is asked for without a Kafka bootstrap address to read from."""


class RebuildStalledError(RuntimeError):
    """Raised when a rebuild reads nothing for too long before reaching its target."""


@dataclass(frozen=True)
class RebuildProgress:
    """Where a rebuild is: store positions applied over the tenants' store heads."""

    projection: str
    done: int
    total: int


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    projection: str
    messages: int
    seconds: float
    #: Per tenant: the position reached, the relay's published position, the store head.
    tenants: dict[str, tuple[int, int, int]]
    parked: int
    #: Where it read the events from: "store" or "topics".
    source: str = "topics"

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def behind_relay(self) -> dict[str, int]:
        """Tenants whose store holds events the relay has not published yet: how many."""
        return {
            t: head - published
            for t, (_, published, head) in self.tenants.items()
            if head > published
        }


class ProjectionAdmin:
    """Rebuild and status for the installation's projections."""

    def __init__(
        self,
        *,
        engine: Engine,
        projections: Sequence[Projection],
        codec: EventCodec,
        bootstrap: str | None,
        topic_prefix: str,
        tenant_ids: Callable[[], Iterable[str]],
        head_position: Callable[[str], int],
        status: ProjectionStatus | None = None,
        stores: Callable[[str], TenantApplication] | None = None,
    ) -> None:
        self._engine = engine
        #: Each tenant's event store, for rebuilds from the store (without: from the topics).
        self._stores = stores
        self._projections = {p.name: p for p in projections}
        self._codec = codec
        self._bootstrap = bootstrap
        self._topic_prefix = topic_prefix
        self._tenant_ids = tenant_ids
        self._head_position = head_position
        #: The installation's status when given (the composition root shares its own).
        self.status = status or ProjectionStatus(
            engine=engine,
            projections=projections,
            topic_prefix=topic_prefix,
            tenant_ids=tenant_ids,
            head_position=head_position,
        )

    def states(self) -> list[ProjectionState]:
        return self.status.states()

    def require_broker(self) -> str:
        """The broker's bootstrap address; BrokerNotConfiguredError when there is none."""
        if not self._bootstrap:
            raise BrokerNotConfiguredError(
                "no Kafka broker is configured: set DIGIONE_KAFKA_BOOTSTRAP to the broker's "
                "address. The embedded development broker runs only inside `digione serve`, "
                "so start that (it keeps the read models current itself) or point "
                "DIGIONE_KAFKA_BOOTSTRAP at the broker it runs"
            )
        return self._bootstrap

    def select(self, name: str | None) -> list[Projection]:
        """The named projection, or all of them."""
        if name is None:
            return list(self._projections.values())
        if name not in self._projections:
            raise UnknownProjectionError(
                f"no projection {name!r}; known: {', '.join(self._projections)}"
            )
        return [self._projections[name]]

    def rebuild(
        self,
        projection: Projection,
        *,
        on_progress: Callable[[RebuildProgress], None] = lambda _: None,
        stall_seconds: float = 30.0,
        from_topics: bool = False,
    ) -> RebuildReport:
        """Drops the projection's read model and positions and builds it again: from the
        tenants' event stores (the default, when the admin has them), or from the topics."""
        with heap_frozen_for_batches():
            if from_topics or self._stores is None:
                return self.rebuild_from_topics(
                    projection, on_progress=on_progress, stall_seconds=stall_seconds
                )
            return self.rebuild_from_store(projection, on_progress=on_progress)

    def rebuild_from_store(
        self,
        projection: Projection,
        *,
        on_progress: Callable[[RebuildProgress], None] = lambda _: None,
    ) -> RebuildReport:
        """Drops the projection's read model and positions and applies each tenant's stored
        events up to the relay's published position (projections/store_rebuild.py); the
        runner applies what comes after from the topics."""
        assert self._stores is not None
        tenants = list(self._tenant_ids())
        heads = {tenant: self._head_position(tenant) for tenant in tenants}
        total = sum(heads.values())
        targets = {tenant: StoreTarget.of(self._engine, tenant) for tenant in tenants}
        started = time.monotonic()
        reset(self._engine, projection)
        reached = dict.fromkeys(tenants, 0)

        def show() -> None:
            done = sum(min(reached[t], heads[t]) for t in tenants)
            on_progress(RebuildProgress(projection.name, done, total))

        messages = 0
        show()
        for tenant in tenants:
            store_rebuild = StoreRebuild(
                engine=self._engine,
                projection=projection,
                codec=self._codec,
                app=self._stores(tenant),
                target=targets[tenant],
            )

            def page(done: StoreRebuild, tenant: str = tenant) -> None:
                reached[tenant] = done.reached
                show()

            store_rebuild.run(page)
            messages += store_rebuild.read
            reached[tenant] = targets[tenant].position
        analyse(self._engine, projection)
        return self._report(
            projection,
            messages=messages,
            started=started,
            tenants={t: (reached[t], targets[t].position, heads[t]) for t in tenants},
            source="store",
        )

    def _report(
        self,
        projection: Projection,
        *,
        messages: int,
        started: float,
        tenants: dict[str, tuple[int, int, int]],
        source: str = "topics",
    ) -> RebuildReport:
        """The rebuild's report: what it read, how long it took since `started`, and what
        was parked on the way."""
        seconds = time.monotonic() - started
        with self._engine.connect() as connection:
            parked = sum(
                positions.parked_count(connection, projection=projection.name, tenant=t)
                for t in tenants
            )
        return RebuildReport(
            projection=projection.name,
            messages=messages,
            seconds=seconds,
            tenants=tenants,
            parked=parked,
            source=source,
        )

    def rebuild_from_topics(
        self,
        projection: Projection,
        *,
        on_progress: Callable[[RebuildProgress], None] = lambda _: None,
        stall_seconds: float = 30.0,
    ) -> RebuildReport:
        """Drops the projection's read model and positions and applies its topics again.

        Returns once every tenant's position reached what the relay had published when the
        rebuild began. A runner in a server process may keep running meanwhile: positions
        make the work it repeats harmless.
        """
        bootstrap = self.require_broker()
        tenants = list(self._tenant_ids())
        heads = {tenant: self._head_position(tenant) for tenant in tenants}
        total = sum(heads.values())
        relay_positions.create_tables(self._engine)
        with self._engine.connect() as connection:
            targets = {t: relay_positions.published_position(connection, t) for t in tenants}
        started = time.monotonic()
        reset(self._engine, projection)
        runner = ProjectionRunner(
            engine=self._engine,
            projections=[projection],
            codec=self._codec,
            bootstrap=bootstrap,
            topic_prefix=self._topic_prefix,
            tenant_ids=lambda: tenants,
            max_batch=REBUILD_BATCH,
            client_id="digione-rebuild",
        )
        messages = 0
        last_read = time.monotonic()
        try:
            while True:
                reached = {t: self.status.position(t, projection.name) for t in tenants}
                on_progress(
                    RebuildProgress(
                        projection.name, sum(min(reached[t], heads[t]) for t in tenants), total
                    )
                )
                if all(reached[t] >= targets[t] for t in tenants):
                    break
                read = runner.run_once(timeout_seconds=0.5, silence_seconds=0.5)
                messages += read
                if read:
                    last_read = time.monotonic()
                elif time.monotonic() - last_read > stall_seconds:
                    behind = {
                        t: (reached[t], targets[t]) for t in tenants if reached[t] < targets[t]
                    }
                    raise RebuildStalledError(
                        f"rebuilding {projection.name}: nothing read for {stall_seconds:g} s "
                        f"with tenants still short of the relay's published position "
                        f"(reached, published): {behind}; is the broker at "
                        f"{bootstrap} the one the relay publishes to?"
                    )
        finally:
            runner.close()
        analyse(self._engine, projection)
        return self._report(
            projection,
            messages=messages,
            started=started,
            tenants={t: (reached[t], targets[t], heads[t]) for t in tenants},
        )
