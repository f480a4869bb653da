"""The thread pool where requests' blocking work runs: one hop from the event loop and back.

Starlette's `run_in_threadpool` hops through anyio (a capacity limiter acquired on the
event loop, the async backend looked up, a cancel scope, its own workers' queue): under 32
concurrent requests on the benchmark's 2-core machine that was about 105 µs of CPU per hop,
against about 49 µs for asyncio's `run_in_executor` on a ThreadPoolExecutor with the
caller's context copied (the hop alone, 20,000 hops of a function that returns at once).
Each request to a synchronous route hops once (api/deps.py `OneHopRoute`), and the
measured event loop of the HTTP process spent an eighth of its GIL time in anyio's hop.

The pool has as many threads as anyio's default limiter had (40), which the database pool
is sized for (one connection per request thread, README "DATABASE_POOL_SIZE"): work
beyond that waits in the pool's queue, as it waited for a token. The caller's context
variables are seen by the function, as anyio passed them on. A request whose task is
cancelled stops waiting while its function runs to its end in the thread (anyio kept the
task waiting for it): the function's effects are the same either way.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["REQUEST_THREADS", "in_request_thread"]

#: How many threads run requests' blocking work at once, per HTTP process.
REQUEST_THREADS = 40

P = ParamSpec("P")
T = TypeVar("T")

#: Its threads start as work arrives (ThreadPoolExecutor starts one per submission while
#: none is idle, up to REQUEST_THREADS), so a process that serves nothing starts none.
_threads = ThreadPoolExecutor(REQUEST_THREADS, thread_name_prefix="digione-request")


async def in_request_thread(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`func(*args, **kwargs)` in a request thread, with the caller's context variables."""
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_threads, call)
