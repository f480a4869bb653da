"""Restarting a test's own embedded broker as one that lost its data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streams.broker import EmbeddedBroker


def restarted_empty(
    broker: EmbeddedBroker, data_dir: Path, *, while_down: Callable[[], object] | None = None
) -> EmbeddedBroker:
    """A new in-memory broker on the port of `broker`, which is stopped first (then
    `while_down` runs, if given): to its clients, the same broker come back without any of
    its topics."""
    port = broker.port
    broker.stop()
    if while_down is not None:
        while_down()
    replacement = EmbeddedBroker(data_dir, port=port)
    replacement.start()
    return replacement
