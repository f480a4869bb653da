"""Integration test of the transport benchmark the `digione bench` command will run."""

from __future__ import annotations

import pytest

from bench.transport import measure_produce_rate
from streams.broker import EmbeddedBroker

pytestmark = pytest.mark.broker


def test_the_produce_benchmark_reports_messages_per_second(
    embedded_broker: EmbeddedBroker,
) -> None:
    rate = measure_produce_rate(embedded_broker.bootstrap, 500, batch_size=200)

    assert rate > 0
