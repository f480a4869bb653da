"""Timed loads: each operation's sample, their summary, and workers timed once all are ready."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["Load", "Sample", "timed_workers"]

_WORKER_SETUP_SECONDS = 60.0

#: One timed operation: how long it took and what came of it ("201", "fresh", …).
Sample = tuple[float, str]


@dataclass(frozen=True)
class Load:
    """What one timed load did: its wall-clock time and every operation's sample."""

    seconds: float
    samples: list[Sample]

    @property
    def rate_per_s(self) -> float:
        """Operations per second over the load's wall-clock time."""
        return len(self.samples) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, percent: int) -> float:
        """The nearest-rank percentile of the operations' latencies, in milliseconds."""
        return _percentile(sorted(latency for latency, _ in self.samples), percent) * 1000

    def summary(self, *, unit: str, success: str) -> dict[str, Any]:
        """The report's result: count, rate, latency percentiles and outcomes."""
        latencies = sorted(latency for latency, _ in self.samples)
        outcomes = Counter(outcome for _, outcome in self.samples)
        return {
            "count": len(self.samples),
            "seconds": round(self.seconds, 4),
            "rate_per_s": round(len(self.samples) / self.seconds, 1) if self.seconds else 0.0,
            "unit": unit,
            "p50_ms": round(_percentile(latencies, 50) * 1000, 3),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 3),
            "max_ms": round(latencies[-1] * 1000, 3) if latencies else 0.0,
            "failed": len(self.samples) - outcomes[success],
            "outcomes": dict(outcomes),
        }


def timed_workers(
    concurrency: int, worker: Callable[[int, Callable[[], object]], list[Sample]]
) -> Load:
    """Runs `worker(index, ready)` on `concurrency` threads, timed from when all are ready.

    Each worker sets itself up (connects, warms up), calls `ready()`, then does its share;
    the clock starts once every worker is ready and stops when the last one is done.
    """
    barrier = threading.Barrier(concurrency + 1, timeout=_WORKER_SETUP_SECONDS)

    def run(index: int) -> list[Sample]:
        try:
            return worker(index, barrier.wait)
        except BaseException:
            barrier.abort()  # the others, and the clock, must not wait for this one
            raise

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
        futures = [pool.submit(run, index) for index in range(concurrency)]
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            for future in futures:
                future.result()  # raises the worker's own error, which says more
            raise
        began = time.perf_counter()
        samples = [sample for future in futures for sample in future.result()]
        seconds = time.perf_counter() - began
    return Load(seconds=seconds, samples=samples)


def _percentile(ordered: Sequence[float], percent: int) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not ordered:
        return 0.0
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]
