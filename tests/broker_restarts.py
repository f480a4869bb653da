"""Restarting a test's own embedded broker as one that lost its data."""

from __future__ import annotations

from pathlib import Path

from streams.broker import EmbeddedBroker


def restarted_empty(broker: EmbeddedBroker, data_dir: Path) -> EmbeddedBroker:
    """A new in-memory broker on the port of `broker`, which is stopped first: to its
    clients, the same broker come back without any of its topics."""
    port = broker.port
    broker.stop()
    replacement = EmbeddedBroker(data_dir, port=port)
    replacement.start()
    return replacement
