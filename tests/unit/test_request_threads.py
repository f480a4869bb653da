"""Requests' blocking work hops to a request thread and back (api/request_threads.py): it
sees the request's context variables, its errors reach the request, and no more than
REQUEST_THREADS run at once (the database pool is sized for that many)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from api.request_threads import REQUEST_THREADS, in_request_thread

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


def _where(suffix: str, *, also: str) -> tuple[str, str, str]:
    return threading.current_thread().name, request_id.get() + suffix, also


def test_blocking_work_runs_in_a_request_thread_and_sees_the_requests_context() -> None:
    async def request() -> tuple[str, str, str]:
        request_id.set("r-1")
        return await in_request_thread(_where, "/a", also="b")

    thread, seen, also = asyncio.run(request())

    assert thread.startswith("digione-request")
    assert (seen, also) == ("r-1/a", "b")


def test_an_error_of_the_blocking_work_reaches_the_request() -> None:
    def refuse() -> None:
        raise LookupError("no such user")

    with pytest.raises(LookupError, match="no such user"):
        asyncio.run(in_request_thread(refuse))


def test_no_more_requests_than_the_request_threads_block_at_once() -> None:
    lock = threading.Lock()
    running = [0, 0]  # now, most at once
    release = threading.Event()

    def blocking() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    async def crowd() -> None:
        waiting = [asyncio.ensure_future(in_request_thread(blocking)) for _ in range(60)]
        for _ in range(500):  # until that many run (5 s at most)
            if running[0] >= REQUEST_THREADS:
                break
            await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*waiting)

    asyncio.run(crowd())

    assert running[1] == REQUEST_THREADS
