"""Heaviest modules first, so the workers of `make test` finish together.

`make test` hands whole modules to its workers (`--dist loadfile`) in collection order
(`--no-loadscope-reorder`). Started last, one long module (the bench smoke is a single test
of about a minute) holds the run open while the other workers idle; started first, it runs
beside everything else. The weights are each module's seconds in an earlier run
(tests/durations.json, written by `make durations`); a module not listed there counts as
one of median weight. The order within a module is kept.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")


def module_weights() -> dict[str, float]:
    try:
        figures = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}
    return {str(module): float(seconds) for module, seconds in figures.items()}


def heaviest_modules_first(items: list[pytest.Item]) -> None:
    weights = module_weights()
    unknown = statistics.median(weights.values()) if weights else 0.0
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.nodeid.split("::")[0], len(first_seen))

    def weight(item: pytest.Item) -> tuple[float, int]:
        module = item.nodeid.split("::")[0]
        return (-weights.get(module, unknown), first_seen[module])

    items.sort(key=weight)  # stable: a module's tests keep their order
