"""Freshness: roster PUTs offered open-loop at a steady rate; for each, the time from the
command until a read shows it (command → visible), beside the bare read of the same record
after every tenth command."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from rich.progress import Progress

from bench.http_client import FAILURES, Answer, LeanClient
from bench.http_load import lean_open_loop_client, on_schedule, run_load
from bench.process_cpu import CpuWatch
from bench.roster import SCHOOL
from bench.server import READ_TIMEOUT_SECONDS, CatchUp, require_status, wait_until_caught_up
from bench.timing import Load, Sample

__all__ = [
    "BARE_READ_EVERY",
    "FreshnessLoad",
    "fresh_user",
    "freshness_pool",
    "measure_freshness",
]

USERS_PATH = "/api/v1/roster/users"
#: How long the first write may take to show: the runner finds a tenant's topics on refresh.
_PIPELINE_WARM_SECONDS = 60.0
#: A write still not shown after this long counts as a failure, not as a latency.
_FRESHNESS_GIVE_UP_SECONDS = 20.0
#: The bare read, the baseline, follows every this-many-th command, not each: after each it
#: added 200 reads a second to the 200 commands the goal offers, and at 200 commands a
#: second this machine is at the edge of what it keeps up with (README "Benchmarks").
#: Every tenth still gives 400 bare reads over the load's 20 s.
BARE_READ_EVERY = 10


@dataclass(frozen=True)
class FreshnessLoad:
    """What the steady load of roster PUTs saw: each command, its freshness, its bare read."""

    target_rate: float
    #: Commands offered (scheduled); every one is sent, however far behind the server is.
    offered: int
    #: From each command's scheduled send until its answer.
    commands: Load
    #: From each command's scheduled send until a read showed its write.
    freshness: Load
    #: The same read without min_position, made at once after the fresh one, after every
    #: BARE_READ_EVERY-th command.
    bare_reads: Load
    #: How late the latest command was sent against its schedule (the generator's own lag).
    max_send_lag_seconds: float
    #: What the runtime still had to do before the load: how long it took, and the lag of
    #: each projection still behind when the wait for it ran out (empty: none was).
    catch_up: CatchUp
    #: The cores each part of the system kept busy during the load on average, and the
    #: machine's (bench/process_cpu.py); None where /proc cannot be read.
    cores: dict[str, float] | None = None

    @property
    def held(self) -> bool:
        """Whether every offered command was answered 2xx and became visible."""
        return len(self.freshness.samples) == self.offered and all(
            outcome == "fresh" for _, outcome in self.freshness.samples
        )


def freshness_pool(*, rate: float, seconds: float) -> int:
    """How many distinct users the load writes in turn: about two seconds' worth."""
    total = max(1, round(rate * seconds))
    return max(1, min(total, round(rate * 2)))


def fresh_user(number: int) -> str:
    """The sourcedId of the load's `number`-th user (of freshness_pool)."""
    return f"bench-fresh-{number}"


def measure_freshness(
    base_url: str,
    admin_token: str,
    tenant: str,
    *,
    rate: float,
    seconds: float,
    progress: Progress,
) -> FreshnessLoad:
    """Roster PUTs of users offered at `rate` per second for `seconds` (an open loop from one
    asyncio client, so the generator is never what holds the rate back); for each, the time
    from its scheduled send until `GET …?min_position=<position>` shows the write (command →
    visible), then the bare read.

    A slow answer delays no other command. Users are written in turn from a pool of about
    two seconds' worth: the first round registers them, later rounds change them, so both
    kinds of event are measured; a user's writes take turns (a 409 would be the bench's
    doing), its reads need not. The load starts once the runtime has worked off what
    earlier sections left (or gave up waiting, which the result says).
    """
    with httpx.Client(base_url=base_url, timeout=READ_TIMEOUT_SECONDS) as http:
        # Not timed: the pipeline is shown to be up.
        http.headers["Authorization"] = f"Bearer {admin_token}"
        _wait_until_fresh(http, "bench-fresh-warm-up")
    catch_up = wait_until_caught_up(base_url, admin_token, tenant)
    total = max(1, round(rate * seconds))
    task = progress.add_task(f"PUT {USERS_PATH}, {rate:g}/s, command → visible", total=total)
    with CpuWatch() as watch:
        load = run_load(
            _offered_load(
                base_url,
                admin_token,
                rate=rate,
                total=total,
                advance=lambda: progress.advance(task),
            )
        )
    return replace(load, catch_up=catch_up, cores=watch.cores)


async def _offered_load(
    base_url: str, admin_token: str, *, rate: float, total: int, advance: Callable[[], None]
) -> FreshnessLoad:
    pool = freshness_pool(rate=rate, seconds=total / rate)
    turns = [asyncio.Lock() for _ in range(pool)]
    commands: list[Sample] = []
    freshness: list[Sample] = []
    bare_reads: list[Sample] = []
    lags: list[float] = []
    async with lean_open_loop_client(base_url, {"authorization": f"Bearer {admin_token}"}) as http:
        warm_up = http.encode("GET", f"{USERS_PATH}/bench-fresh-warm-up")
        warm = await asyncio.gather(*(http.send(warm_up) for _ in range(8)))
        for answer in warm:
            require_status(answer, 200, what="the warm-up read")

        async def one(index: int, due: float) -> None:
            lags.append(time.perf_counter() - due)
            await _one_fresh_write(
                http,
                fresh_user(index % pool),
                index,
                due=due,
                turn=turns[index % pool],
                commands=commands,
                freshness=freshness,
                bare_reads=bare_reads,
            )
            advance()

        window = await on_schedule(one, count=total, rate=rate)
    return FreshnessLoad(
        target_rate=rate,
        offered=total,
        commands=Load(seconds=window, samples=commands),
        freshness=Load(seconds=window, samples=freshness),
        bare_reads=Load(seconds=window, samples=bare_reads),
        max_send_lag_seconds=max(lags, default=0.0),
        catch_up=CatchUp(seconds=0.0, behind={}),
    )


async def _one_fresh_write(
    http: LeanClient,
    sourced_id: str,
    index: int,
    *,
    due: float,
    turn: asyncio.Lock,
    commands: list[Sample],
    freshness: list[Sample],
    bare_reads: list[Sample],
) -> None:
    """PUTs a user, reads it with the answer's position, then (every BARE_READ_EVERY-th
    command) reads it bare; records each.

    The server waits up to its read-your-writes timeout for the position and answers 504
    when the read model is not there by then; the read is asked again until
    _FRESHNESS_GIVE_UP_SECONDS, after which the write counts as not visible (failed).
    """
    path = f"{USERS_PATH}/{sourced_id}"
    async with turn:
        try:
            answer = await http.send(http.encode("PUT", path, body=_user_body(sourced_id, index)))
            outcome = "written" if answer.status_code in (200, 201) else str(answer.status_code)
        except FAILURES as error:
            outcome = f"error:{type(error).__name__}"
    commands.append((time.perf_counter() - due, outcome))
    if outcome != "written":
        freshness.append((time.perf_counter() - due, f"not written: {outcome}"))
        return
    outcome = await _read_fresh(http, path, position=int(answer.json()["position"]), index=index)
    freshness.append((time.perf_counter() - due, outcome))
    if outcome != "fresh":
        return  # a bare read of a record not projected yet is no baseline
    if index % BARE_READ_EVERY:
        return
    began = time.perf_counter()
    try:
        outcome = str((await http.send(http.encode("GET", path))).status_code)
    except FAILURES as error:
        outcome = f"error:{type(error).__name__}"
    bare_reads.append((time.perf_counter() - began, outcome))


async def _read_fresh(http: LeanClient, path: str, *, position: int, index: int) -> str:
    """Reads with `min_position`, again after each 504 until the give-up; the outcome."""
    give_up = time.perf_counter() + _FRESHNESS_GIVE_UP_SECONDS
    fresh = http.encode("GET", path, params={"min_position": position})
    while True:
        try:
            read = await http.send(fresh)
        except FAILURES as error:
            return f"error:{type(error).__name__}"
        if read.status_code != 504 or time.perf_counter() > give_up:
            return _shows_write(read, index)


def _user_body(sourced_id: str, index: int) -> dict[str, Any]:
    """A OneRoster 1.2 user envelope whose family name carries the command's index."""
    return {
        "user": {
            "sourcedId": sourced_id,
            "status": "active",
            "enabledUser": "true",
            "givenName": "Tuore",
            "familyName": f"Bench{index:07d}",
            "roles": [{"roleType": "primary", "role": "student", "org": {"sourcedId": SCHOOL}}],
        }
    }


def _shows_write(read: httpx.Response | Answer, index: int) -> str:
    """What the read shows: "fresh" for the `index`-th write of its user or a later one,
    "stale" for an earlier one, or the answer's status when it is not 200."""
    if read.status_code != 200:
        return str(read.status_code)
    family = str(read.json().get("familyName", ""))
    shown = int(family.removeprefix("Bench")) if family.startswith("Bench") else -1
    return "fresh" if shown >= index else "stale"


def _wait_until_fresh(http: httpx.Client, sourced_id: str) -> None:
    """Writes a user and waits until the read model shows it: the whole pipeline is up."""
    answer = http.put(f"{USERS_PATH}/{sourced_id}", json=_user_body(sourced_id, 0))
    require_status(answer, 200, 201, what="the warm-up roster PUT")
    params = {"min_position": answer.json()["position"]}
    deadline = time.monotonic() + _PIPELINE_WARM_SECONDS
    while True:
        read = http.get(f"{USERS_PATH}/{sourced_id}", params=params)
        if read.status_code != 504 or time.monotonic() > deadline:
            break
    require_status(read, 200, what=f"the warm-up read after {_PIPELINE_WARM_SECONDS:g} s")
