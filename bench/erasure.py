"""Section 6, erasure: from the request until every projection confirmed it, beside the 202."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from rich.progress import Progress

from bench.server import READ_TIMEOUT_SECONDS
from bench.timing import Load, Sample

__all__ = ["ERASURES", "ErasureLoad", "measure_erasure_latency"]

#: How many subjects (users written by the freshness load) are erased, one after another.
ERASURES = 20


@dataclass(frozen=True)
class ErasureLoad:
    """Per erasure: until the 202 answer, and until the receipt showed every projection."""

    accepted: Load
    confirmed: Load


def measure_erasure_latency(
    base_url: str, admin_token: str, *, subjects: Sequence[str], progress: Progress
) -> ErasureLoad:
    """Erases each subject in turn and times, from the request, the 202 answer and the
    moment `GET /api/v1/erasures/{id}` reports `allProjectionsConfirmedAt`."""
    accepted: list[Sample] = []
    confirmed: list[Sample] = []
    task = progress.add_task("POST /api/v1/erasures, until confirmed", total=len(subjects))
    headers = {"Authorization": f"Bearer {admin_token}"}
    began = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=READ_TIMEOUT_SECONDS, headers=headers) as http:
        for subject in subjects:
            start = time.perf_counter()
            answer = http.post("/api/v1/erasures", json={"subject": subject, "reason": "benchmark"})
            accepted.append((time.perf_counter() - start, str(answer.status_code)))
            outcome = f"refused {answer.status_code}"
            if answer.status_code == 202:
                receipt = f"/api/v1/erasures/{answer.json()['erasureId']}"
                deadline = start + READ_TIMEOUT_SECONDS
                outcome = "timed out"
                while time.perf_counter() < deadline:
                    if http.get(receipt).json().get("allProjectionsConfirmedAt"):
                        outcome = "confirmed"
                        break
                    time.sleep(0.005)
            confirmed.append((time.perf_counter() - start, outcome))
            progress.advance(task)
    window = time.perf_counter() - began
    return ErasureLoad(
        accepted=Load(seconds=window, samples=accepted),
        confirmed=Load(seconds=window, samples=confirmed),
    )
