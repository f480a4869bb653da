"""Unit tests of the relay's retry schedule."""

from __future__ import annotations

import pytest

from streams.codec import EventCodec
from streams.relay import Relay, RelayConfigurationError, backoff_seconds
from streams.schemas import default_registry


def highest(low: float, high: float) -> float:
    return high


def lowest(low: float, high: float) -> float:
    return low


def test_the_wait_doubles_from_a_fifth_of_a_second_up_to_thirty_seconds() -> None:
    waits = [backoff_seconds(failures, jitter=highest) for failures in range(1, 12)]

    assert waits[:4] == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert waits[-1] == 30.0 and max(waits) == 30.0


def test_the_jitter_never_takes_a_wait_below_half_of_its_step() -> None:
    assert backoff_seconds(3, jitter=lowest) == pytest.approx(0.4)
    assert 0.4 <= backoff_seconds(3) <= 0.8


def test_a_relay_refuses_a_codec_that_addresses_other_topics() -> None:
    codec = EventCodec(default_registry(), topic_prefix="digione", partitions=3)

    with pytest.raises(RelayConfigurationError, match="same settings"):
        Relay(
            tenants=None,  # type: ignore[arg-type]
            engine=None,  # type: ignore[arg-type]
            codec=codec,
            transport_factory=lambda: None,  # type: ignore[arg-type, return-value]
            bootstrap="127.0.0.1:9092",
            topic_prefix="digione",
            partitions=6,
        )
