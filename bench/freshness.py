"""Section 4, freshness: a roster PUT's 2xx until a read shows it, beside the bare read."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from rich.progress import Progress

from bench.roster import SCHOOL
from bench.server import READ_TIMEOUT_SECONDS, CatchUp, require_status, wait_until_caught_up
from bench.timing import Load, Sample, timed_request

__all__ = [
    "FreshnessLoad",
    "fresh_user",
    "freshness_pool",
    "freshness_results",
    "measure_freshness",
]

USERS_PATH = "/api/v1/roster/users"
#: How long the first write may take to show: the runner finds a tenant's topics on refresh.
_PIPELINE_WARM_SECONDS = 60.0
#: A write still not shown after this long counts as a failure, not as a latency.
_FRESHNESS_GIVE_UP_SECONDS = 20.0
#: Clients of the freshness load: enough that a slow answer never holds up the schedule.
_FRESHNESS_CLIENTS = 32
#: A command this late against its schedule is not sent: the server is not keeping up,
#: and the run would otherwise last as long as its backlog.
_MAX_SEND_LAG_SECONDS = 5.0


@dataclass(frozen=True)
class FreshnessLoad:
    """What the steady load of roster PUTs saw: each command, its freshness, its bare read."""

    target_rate: float
    commands: Load
    #: From a command's 2xx answer until a read showed its write.
    freshness: Load
    #: The same read without min_position, made at once after the fresh one.
    bare_reads: Load
    #: How late the latest command was sent against its schedule.
    max_send_lag_seconds: float
    #: Commands not sent because they were more than _MAX_SEND_LAG_SECONDS late.
    not_sent: int
    #: What the runtime still had to do before the load: how long it took, and the lag of
    #: each projection still behind when the wait for it ran out (empty: none was).
    catch_up: CatchUp


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
    """Roster PUTs of users at `rate` per second for `seconds`; for each, the time from its
    2xx answer until `GET …?min_position=<position>` shows the write, then the bare read.

    Commands are sent on a fixed schedule (an open loop), so a slow answer delays no other
    command. Users are written in turn from a pool of about two seconds' worth: the first
    round registers them, later rounds change them, so both kinds of event are measured.
    The load starts once the runtime has worked off what earlier sections left (or gave up
    waiting, which the result says), so it measures a steady state, not a backlog.
    """
    total = max(1, round(rate * seconds))
    pool = freshness_pool(rate=rate, seconds=seconds)
    # A late command must not race the next write of its user (a 409 would be the bench's
    # doing), so each user's writes take turns; its reads need not.
    turns = [threading.Lock() for _ in range(pool)]
    headers = {"Authorization": f"Bearer {admin_token}"}
    idle: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
    clients = [
        httpx.Client(base_url=base_url, timeout=READ_TIMEOUT_SECONDS, headers=headers)
        for _ in range(_FRESHNESS_CLIENTS)
    ]
    commands: list[Sample] = []
    freshness: list[Sample] = []
    bare_reads: list[Sample] = []
    #: Each command's (time it was sent, how late that was against its schedule).
    sent: list[tuple[float, float]] = []
    not_sent: list[int] = []
    try:
        # Not timed: the pipeline is shown to be up, and every client opens its connection.
        _wait_until_fresh(clients[0], "bench-fresh-warm-up")
        catch_up = wait_until_caught_up(base_url, admin_token, tenant)
        for http in clients:
            require_status(
                http.get(f"{USERS_PATH}/bench-fresh-warm-up"), 200, what="the warm-up read"
            )
            idle.put(http)
        task = progress.add_task(f"PUT {USERS_PATH}, {rate:g}/s, freshness", total=total)

        def command(index: int, due: float) -> None:
            http = idle.get()
            try:
                now = time.perf_counter()
                if now - due > _MAX_SEND_LAG_SECONDS:
                    not_sent.append(index)
                    return
                sent.append((now, now - due))
                _one_fresh_write(
                    http,
                    fresh_user(index % pool),
                    index,
                    turn=turns[index % pool],
                    commands=commands,
                    freshness=freshness,
                    bare_reads=bare_reads,
                )
            finally:
                idle.put(http)
                progress.advance(task)

        futures: list[Future[None]] = []
        with ThreadPoolExecutor(_FRESHNESS_CLIENTS, thread_name_prefix="bench-fresh") as workers:
            began = time.perf_counter()
            for index in range(total):
                due = began + index / rate
                time.sleep(max(0.0, due - time.perf_counter()))
                futures.append(workers.submit(command, index, due))
            for future in futures:
                future.result()
    finally:
        for http in clients:
            http.close()
    # The load lasted its schedule, or until the last command was sent when that was late.
    window = max([total / rate, *(time_sent - began + 1 / rate for time_sent, _ in sent)])
    return FreshnessLoad(
        target_rate=rate,
        commands=Load(seconds=window, samples=commands),
        freshness=Load(seconds=window, samples=freshness),
        bare_reads=Load(seconds=window, samples=bare_reads),
        max_send_lag_seconds=max((lag for _, lag in sent), default=0.0),
        not_sent=len(not_sent),
        catch_up=catch_up,
    )


def freshness_results(load: FreshnessLoad) -> dict[str, dict[str, Any]]:
    """The report's results of the load: the PUTs, their freshness and the bare reads."""
    commands = load.commands.summary(unit="cmd/s", success="written")
    if load.not_sent:
        commands["failed"] += load.not_sent
        commands["outcomes"]["not sent: server behind schedule"] = load.not_sent
    return {
        "roster_put": commands,
        "freshness": {
            **load.freshness.summary(unit="cmd/s", success="fresh"),
            "target_rate_per_s": load.target_rate,
            "max_send_lag_ms": round(load.max_send_lag_seconds * 1000, 3),
            "catch_up_before_load_seconds": round(load.catch_up.seconds, 3),
            "behind_at_load_start": load.catch_up.behind,
        },
        "bare_read": load.bare_reads.summary(unit="reads/s", success="200"),
    }


def _one_fresh_write(
    http: httpx.Client,
    sourced_id: str,
    index: int,
    *,
    turn: threading.Lock,
    commands: list[Sample],
    freshness: list[Sample],
    bare_reads: list[Sample],
) -> None:
    """PUTs a user, reads it with the answer's position, then reads it bare; records each.

    The server waits up to its read-your-writes timeout for the position and answers 504
    when the read model is not there by then; the read is asked again until
    _FRESHNESS_GIVE_UP_SECONDS, after which the write counts as not fresh (failed).
    """
    path = f"{USERS_PATH}/{sourced_id}"
    with turn:
        began = time.perf_counter()
        try:
            answer = http.put(path, json=_user_body(sourced_id, index))
            outcome = "written" if answer.status_code in (200, 201) else str(answer.status_code)
        except httpx.HTTPError as error:
            outcome = f"error:{type(error).__name__}"
        answered = time.perf_counter()
    commands.append((answered - began, outcome))
    if outcome != "written":
        return
    outcome = _read_fresh(http, path, position=int(answer.json()["position"]), index=index)
    freshness.append((time.perf_counter() - answered, outcome))
    if outcome != "fresh":
        return  # a bare read of a record not projected yet is no baseline
    bare_reads.append(timed_request(partial(http.get, path)))


def _read_fresh(http: httpx.Client, path: str, *, position: int, index: int) -> str:
    """Reads with `min_position`, again after each 504 until the give-up; the outcome."""
    give_up = time.perf_counter() + _FRESHNESS_GIVE_UP_SECONDS
    while True:
        try:
            read = http.get(path, params={"min_position": position})
        except httpx.HTTPError as error:
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


def _shows_write(read: httpx.Response, index: int) -> str:
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
