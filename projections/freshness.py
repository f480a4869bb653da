"""Read-your-writes: a read may ask for a read model at least as new as a store position.

Every command answers with the store position of its last event; a client that passes it
back as `?min_position=N` gets a read model that includes its write, or, when the
projection does not get there in time, an error carrying the position it did reach (the
API answers 504 with it). This module knows no HTTP: the API awaits `require_fresh_async`
in one dependency of its read routes (api/deps.py) and maps `ReadModelNotFreshError` to
its answer.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "ReadModelNotFreshError",
    "require_fresh",
    "require_fresh_async",
]

#: How long a read waits for its projection by default: well under a client's timeout.
DEFAULT_TIMEOUT_SECONDS = 5.0


class PositionSource(Protocol):
    """What `require_fresh` needs of projections.status.ProjectionStatus."""

    def position(self, tenant: str, projection: str) -> int: ...

    def wait_for(
        self, tenant: str, projection: str, min_position: int, timeout_seconds: float
    ) -> bool: ...

    async def wait_for_async(
        self, tenant: str, projection: str, min_position: int, timeout_seconds: float
    ) -> bool: ...


class ReadModelNotFreshError(Exception):
    """Raised when a read model did not reach the asked-for store position in time."""

    def __init__(self, *, projection: str, min_position: int, position: int) -> None:
        super().__init__(
            f"the {projection} read model reached store position {position}, not the "
            f"{min_position} asked for; try again shortly"
        )
        self.projection = projection
        self.min_position = min_position
        self.position = position


def require_fresh(
    status: PositionSource,
    *,
    tenant: str,
    projection: str,
    min_position: int | None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Returns once the projection is at `min_position` (at once when None); else raises."""
    if min_position is None or min_position <= 0:
        return
    if not status.wait_for(tenant, projection, min_position, timeout_seconds):
        raise ReadModelNotFreshError(
            projection=projection,
            min_position=min_position,
            position=status.position(tenant, projection),
        )


async def require_fresh_async(
    status: PositionSource,
    *,
    tenant: str,
    projection: str,
    min_position: int | None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """As `require_fresh`, for async callers: waits without holding a worker thread.

    The wait shares the status's watcher with every other read waiting on the projection;
    only the first look and, on a timeout, the look for the position reached run (briefly)
    in the default executor.
    """
    if min_position is None or min_position <= 0:
        return
    if await status.wait_for_async(tenant, projection, min_position, timeout_seconds):
        return
    loop = asyncio.get_running_loop()
    raise ReadModelNotFreshError(
        projection=projection,
        min_position=min_position,
        position=await loop.run_in_executor(None, status.position, tenant, projection),
    )
