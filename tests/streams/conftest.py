"""Fixtures for the streams tests: one embedded Tansu broker shared by the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A running embedded broker; tests isolate themselves by using topics of their own."""
    broker = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    broker.start()
    yield broker
    broker.stop()
