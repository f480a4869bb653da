"""How a serving process stops on SIGTERM or SIGINT: quietly before it serves, and after
uvicorn served, by going on to stop its runtime and close its pools.

uvicorn catches SIGTERM and SIGINT while it serves: it stops accepting, lets the requests
in flight finish, and then raises the signal again under the handlers that were there
before it. Under Python's default handler that second signal ends the process at once,
before the code after `uvicorn.run` stops the relay, the projections and the worker process
(which then finds its parent gone and stops by itself, with a warning). These handlers end
the process quietly while it starts, and do nothing once it serves.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["StopSignals"]


class StopSignals:
    """SIGTERM and SIGINT handlers for `digione serve` and the benchmark's server process."""

    def __init__(self) -> None:
        self.serving = False
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, self._requested)

    def _requested(self, _signum: int, _frame: FrameType | None) -> None:
        if not self.serving:
            raise SystemExit(0)
