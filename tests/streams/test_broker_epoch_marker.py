"""The broker epoch marker tells a broker that lost its data (no control topic) from a
slow one (a control topic that gives no marker in time) and from the same one."""

from __future__ import annotations

import uuid

import pytest

from streams.broker import EmbeddedBroker
from streams.broker_epoch import BrokerEpochMarker, MarkerNotReadError
from streams.kafka_transport import KafkaPythonTransport, ensure_topics

pytestmark = pytest.mark.broker


def test_a_control_topic_that_gives_no_marker_in_time_is_told_from_a_missing_one(
    embedded_broker: EmbeddedBroker,
) -> None:
    """No control topic: a new broker, or one that lost its data. A control topic that gives
    no marker in time: a slow broker (or a marker never written), which the relay must not
    take for an emptied one while events await acknowledgement."""
    marker = BrokerEpochMarker(
        bootstrap=embedded_broker.bootstrap,
        topic_prefix="em" + uuid.uuid4().hex[:10],
        transport_factory=lambda: KafkaPythonTransport(embedded_broker.bootstrap),
        timeout_seconds=1.0,
    )
    assert marker.read() is None

    ensure_topics(embedded_broker.bootstrap, [marker.topic], 1, timeout_seconds=5.0)
    with pytest.raises(MarkerNotReadError, match="gave none of its messages within 1 s"):
        marker.read()

    marker.write()
    epoch = marker.read()
    marker.write()  # a second relay's, say: the first marker still names the epoch
    assert epoch is not None
    assert marker.read() == epoch
