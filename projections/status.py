"""How far each projection is, per tenant: its position, its lag behind the store, parked messages.

A projection's position for a tenant is the highest store position P such that every
event up to P that the relay has published is applied. Partitions are compared with what
the relay recorded as published to each (streams/positions.py), never with the broker's
end offsets, which Tansu can report short (DESIGN.md): a partition that applied everything
published to it does not hold the position back; one that lags holds it at its own
applied position. Lag is the tenant's store head minus the position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from projections import positions
from projections.base import Projection
from streams import positions as relay_positions
from streams.codec import family_topic

__all__ = ["ProjectionState", "ProjectionStatus", "UnknownProjectionError"]

#: How often wait_for looks again; short, as a read waits on it.
POLL_SECONDS = 0.02


class UnknownProjectionError(LookupError):
    """Raised when a projection name is not one of those the status knows."""


@dataclass(frozen=True)
class ProjectionState:
    """One projection's progress for one tenant."""

    projection: str
    tenant: str
    position: int
    head: int
    parked: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class ProjectionStatus:
    """Reads positions from the main database; shared by /healthz, reads and the CLI."""

    def __init__(
        self,
        *,
        engine: Engine,
        projections: Sequence[Projection],
        topic_prefix: str,
        tenant_ids: Callable[[], Iterable[str]],
        head_position: Callable[[str], int],
    ) -> None:
        self._engine = engine
        self._families = {p.name: tuple(p.families) for p in projections}
        self._topic_prefix = topic_prefix
        self._tenant_ids = tenant_ids
        self._head_position = head_position
        positions.create_tables(engine)
        relay_positions.create_tables(engine)

    @property
    def projection_names(self) -> list[str]:
        return list(self._families)

    def position(self, tenant: str, projection: str) -> int:
        """The store position up to which the tenant's read model of `projection` is current."""
        families = self._families_of(projection)
        with self._engine.connect() as connection:
            return self._position(connection, tenant, projection, families)

    def state(self, tenant: str, projection: str) -> ProjectionState:
        families = self._families_of(projection)
        with self._engine.connect() as connection:
            position = self._position(connection, tenant, projection, families)
            parked = positions.parked_count(connection, projection=projection, tenant=tenant)
        return ProjectionState(
            projection=projection,
            tenant=tenant,
            position=position,
            head=self._head_position(tenant),
            parked=parked,
        )

    def states(self) -> list[ProjectionState]:
        """Every projection for every tenant, ordered by projection then tenant."""
        tenants = list(self._tenant_ids())
        return [self.state(tenant, name) for name in self._families for tenant in tenants]

    def wait_for(
        self, tenant: str, projection: str, min_position: int, timeout_seconds: float
    ) -> bool:
        """Waits until the position reaches `min_position`; False when the timeout came first."""
        families = self._families_of(projection)
        deadline = time.monotonic() + timeout_seconds
        with self._engine.connect() as connection:
            while True:
                if self._position(connection, tenant, projection, families) >= min_position:
                    return True
                # Each look is its own short transaction, so it sees new commits.
                connection.rollback()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(POLL_SECONDS, remaining))

    def _families_of(self, projection: str) -> tuple[str, ...]:
        try:
            return self._families[projection]
        except KeyError:
            raise UnknownProjectionError(
                f"no projection {projection!r}; known: {', '.join(self._families)}"
            ) from None

    def _position(
        self, connection: Connection, tenant: str, projection: str, families: tuple[str, ...]
    ) -> int:
        topics = {family_topic(self._topic_prefix, tenant, family) for family in families}
        position = relay_positions.published_position(connection, tenant)
        applied = positions.applied_positions(connection, projection=projection, tenant=tenant)
        for (topic, partition), published in relay_positions.partition_positions(
            connection, tenant
        ).items():
            if topic not in topics:
                continue
            done = applied.get((topic, partition), 0)
            if done < published:
                position = min(position, done)
        return position
