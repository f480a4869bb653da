"""HTTP loads from one asyncio client (bench/http_client.py: a few tens of microseconds a
request), so the load generator is never the bottleneck: closed loops (N clients, each
sending its next request when its answer came) for throughput, open loops (requests sent on
a fixed schedule, however slow the answers) for latency.

Open-loop latencies run from each request's scheduled time, not from when it was sent, so a
late send (the generator or the connection pool behind) counts against the latency instead
of hiding it (no "coordinated omission").

Loads run with the generator's heap frozen out of the cycle collector (`run_load`): the
bench process holds everything the run seeded, and a full collection of it paused the
generator for 197 ms in the middle of the freshness load (counted with a gc callback),
delaying every send and every answer's timestamp meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from rich.progress import Progress

from bench.http_client import FAILURES, Answer, LeanClient
from bench.server import READ_TIMEOUT_SECONDS, require_status
from bench.timing import Load, Sample
from projections.heap import heap_frozen_for_batches

__all__ = [
    "Request",
    "closed_loop",
    "lean_open_loop_client",
    "on_schedule",
    "open_loop",
    "open_loop_clients",
    "run_load",
]

T = TypeVar("T")

#: Connections an open loop may hold open: enough that a slow answer never delays a send.
_OPEN_LOOP_CONNECTIONS = 256


def run_load(load: Coroutine[Any, Any, T]) -> T:
    """Runs a load's event loop to its end, the heap present when it starts left out of the
    cycle collector meanwhile (and the youngest generation collected less often)."""
    with heap_frozen_for_batches():
        return asyncio.run(load)


@dataclass(frozen=True)
class Request:
    """One request of a load: method, path, headers, query parameters and a JSON body."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    json: Any = None

    async def send(self, http: LeanClient) -> Answer:
        return await http.send(
            http.encode(
                self.method, self.path, headers=self.headers, params=self.params, body=self.json
            )
        )


async def _timed(http: LeanClient, request: Request, began: float) -> Sample:
    try:
        outcome = str((await request.send(http)).status_code)
    except FAILURES as error:
        outcome = f"error:{type(error).__name__}"
    return (time.perf_counter() - began, outcome)


async def _warm_up(
    http: LeanClient,
    request: Callable[[int], Request],
    *,
    first: int,
    connections: int,
    status: int,
) -> None:
    """Opens `connections` connections with one untimed request each (indexes from `first`).

    One answer with `status` shows the path works; the others may be refused (a server
    short of database connections answers 503): the timed load then counts such answers
    as failures, which the report shows, instead of the run stopping here."""
    answers = await asyncio.gather(*(request(first + n).send(http) for n in range(connections)))
    if not any(answer.status_code == status for answer in answers):
        require_status(answers[0], status, what=f"every warm-up request of {request(first).path}")


def closed_loop(
    base_url: str,
    request: Callable[[int], Request],
    *,
    count: int,
    clients: int,
    progress: Progress,
    description: str,
    warm_status: int = 200,
) -> Load:
    """`count` requests (`request(index)`) from `clients` concurrent keep-alive clients, each
    sending its next as soon as its answer came; timed once every client's connection is open
    and warm (an untimed first request each, answered `warm_status`)."""
    task = progress.add_task(f"{description}, {clients} clients", total=count)

    async def run() -> Load:
        async with LeanClient(base_url, connections=clients, timeout=READ_TIMEOUT_SECONDS) as http:
            await _warm_up(http, request, first=count, connections=clients, status=warm_status)
            next_index = iter(range(count))
            samples: list[Sample] = []

            async def client() -> None:
                for index in next_index:
                    samples.append(await _timed(http, request(index), time.perf_counter()))
                    progress.advance(task)

            began = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            return Load(seconds=time.perf_counter() - began, samples=samples)

    return run_load(run())


async def on_schedule(
    send: Callable[[int, float], Coroutine[Any, Any, None]], *, count: int, rate: float
) -> float:
    """Starts `send(index, due)` for each of `count` indexes at its scheduled time `due`
    (`rate` per second from now), never waiting for earlier ones; returns the seconds from
    the first start until the last one finished."""
    began = time.perf_counter()
    sends = []
    for index in range(count):
        due = began + index / rate
        # Yields only when ahead of the schedule: a loop busy with answers wakes a sleeper
        # late, and one send per wake-up would let the answers throttle the sends.
        if (ahead := due - time.perf_counter()) > 0:
            await asyncio.sleep(ahead)
        sends.append(asyncio.create_task(send(index, due)))
    await asyncio.gather(*sends)
    return time.perf_counter() - began


def lean_open_loop_client(base_url: str, headers: dict[str, str] | None = None) -> LeanClient:
    """The lean client of an open loop: as many connections as a backlog of answers needs."""
    return LeanClient(
        base_url, connections=_OPEN_LOOP_CONNECTIONS, timeout=READ_TIMEOUT_SECONDS, headers=headers
    )


def open_loop_clients(base_url: str) -> httpx.AsyncClient:
    """The client of an open loop: as many connections as a backlog of answers needs."""
    limits = httpx.Limits(
        max_connections=_OPEN_LOOP_CONNECTIONS, max_keepalive_connections=_OPEN_LOOP_CONNECTIONS
    )
    return httpx.AsyncClient(base_url=base_url, timeout=READ_TIMEOUT_SECONDS, limits=limits)


def open_loop(
    base_url: str,
    request: Callable[[int], Request],
    *,
    rate: float,
    seconds: float,
    progress: Progress,
    description: str,
    warm_status: int = 200,
) -> Load:
    """Requests at a fixed `rate` per second for `seconds`, each sent at its scheduled time
    whether or not earlier ones were answered; each latency runs from that scheduled time."""
    total = max(1, round(rate * seconds))
    task = progress.add_task(f"{description}, {rate:g}/s", total=total)

    async def run() -> Load:
        async with lean_open_loop_client(base_url) as http:
            # A few connections opened and the path warmed, off the clock.
            await _warm_up(http, request, first=total, connections=8, status=warm_status)
            samples: list[Sample] = []

            async def one(index: int, due: float) -> None:
                samples.append(await _timed(http, request(index), due))
                progress.advance(task)

            seconds = await on_schedule(one, count=total, rate=rate)
            return Load(seconds=seconds, samples=samples)

    return run_load(run())
