"""Erasure: from the request until every projection confirmed it, timed by the receipt's own
server timestamps (`requestedAt` → `allProjectionsConfirmedAt`), beside the request's answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
from rich.progress import Progress

from bench.http_load import on_schedule, open_loop_clients, run_load
from bench.timing import Load, Sample

__all__ = ["ErasureLoad", "erasure_subject", "measure_erasures"]

#: How long after the last request every erasure may take to be confirmed before the
#: missing ones count as failures.
_CONFIRM_GIVE_UP_SECONDS = 60.0
#: Receipts are asked again this often until each is confirmed (a polling interval).
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ErasureLoad:
    """Per erasure: its 202 answer (client clock), and request → all projections confirmed
    (the receipt's server timestamps)."""

    accepted: Load
    confirmed: Load

    @property
    def held(self) -> bool:
        """Whether every erasure was accepted and confirmed by every projection."""
        return all(outcome == "confirmed" for _, outcome in self.confirmed.samples)


def erasure_subject(number: int) -> str:
    """The sourcedId of the `number`-th user seeded to be erased."""
    return f"bench-erase-{number}"


def measure_erasures(
    base_url: str,
    admin_token: str,
    *,
    subjects: Sequence[str],
    rate: float,
    progress: Progress,
) -> ErasureLoad:
    """Erases each subject, the requests sent open-loop at `rate` per second; then reads
    each receipt until it shows `allProjectionsConfirmedAt` (or the give-up passes)."""
    task = progress.add_task(
        f"POST /api/v1/erasures, {rate:g}/s, until confirmed", total=len(subjects)
    )
    return run_load(
        _erase(base_url, admin_token, subjects, rate=rate, advance=lambda: progress.advance(task))
    )


async def _erase(
    base_url: str,
    admin_token: str,
    subjects: Sequence[str],
    *,
    rate: float,
    advance: Callable[[], None],
) -> ErasureLoad:
    accepted: list[Sample] = []
    receipts: list[str] = []
    async with open_loop_clients(base_url) as http:
        http.headers["Authorization"] = f"Bearer {admin_token}"

        async def request(index: int, due: float) -> None:
            subject = subjects[index]
            try:
                answer = await http.post(
                    "/api/v1/erasures", json={"subject": subject, "reason": "benchmark"}
                )
                outcome = str(answer.status_code)
            except httpx.HTTPError as error:
                outcome = f"error:{type(error).__name__}"
            accepted.append((time.perf_counter() - due, outcome))
            if outcome == "202":
                receipts.append(f"/api/v1/erasures/{answer.json()['erasureId']}")

        window = await on_schedule(request, count=len(subjects), rate=rate)
        confirmed = await _confirmations(http, receipts, advance)
    confirmed += [(0.0, "not accepted")] * (len(subjects) - len(receipts))
    return ErasureLoad(
        accepted=Load(seconds=window, samples=accepted),
        confirmed=Load(seconds=window, samples=confirmed),
    )


async def _confirmations(
    http: httpx.AsyncClient, receipts: list[str], advance: Callable[[], None]
) -> list[Sample]:
    """Per receipt: seconds from its first request to its last projection's confirmation."""
    samples: list[Sample] = []
    pending = list(receipts)
    give_up = time.monotonic() + _CONFIRM_GIVE_UP_SECONDS
    while pending and time.monotonic() < give_up:
        answers = await asyncio.gather(*(http.get(path) for path in pending))
        still = []
        for path, answer in zip(pending, answers, strict=True):
            body = answer.json() if answer.status_code == 200 else {}
            done = body.get("allProjectionsConfirmedAt")
            if not done:
                still.append(path)
                continue
            requested = datetime.fromisoformat(body["requestedAt"][0])
            seconds = (datetime.fromisoformat(done) - requested).total_seconds()
            samples.append((seconds, "confirmed"))
            advance()
        pending = still
        if pending:
            await asyncio.sleep(_POLL_SECONDS)
    return samples + [(_CONFIRM_GIVE_UP_SECONDS, "not confirmed")] * len(pending)
