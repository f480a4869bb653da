"""A serving process leaves its start-up heap out of the cycle collector's walks."""

from __future__ import annotations

import subprocess
import sys

from api.heap import YOUNG_GENERATION_THRESHOLD

_PROBE = """
import gc
from api.heap import settle_heap
built = [[n] for n in range(10_000)]
settle_heap()
print(gc.get_freeze_count(), gc.get_threshold()[0])
"""


def test_a_settled_process_freezes_what_it_built_and_collects_the_young_less_often() -> None:
    # In a process of its own: freezing is for good, and the test process must not keep it.
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )

    frozen, young = (int(word) for word in probe.stdout.split())
    assert frozen >= 10_000
    assert young == YOUNG_GENERATION_THRESHOLD
