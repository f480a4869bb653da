"""`serve`'s log: JSON lines at the configured level, without the Kafka client's chatter."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.processes import ROOT

_EMIT = """
import logging
from api.log_format import configure
configure({level!r})
logging.getLogger("kafka.net.connection").info("connected to the broker")
logging.getLogger("kafka.net.connection").warning("the broker went away")
logging.getLogger("streams.relay").info("published 12 events")
"""


def _logged(level: str) -> list[tuple[str, str]]:
    done = subprocess.run(
        [sys.executable, "-c", _EMIT.format(level=level)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    return [(line["logger"], line["message"]) for line in lines]


def test_the_kafka_clients_info_lines_stay_out_of_an_info_log_and_its_warnings_do_not() -> None:
    assert _logged("INFO") == [
        ("kafka.net.connection", "the broker went away"),
        ("streams.relay", "published 12 events"),
    ]


def test_a_debug_log_shows_the_kafka_clients_info_lines_too() -> None:
    assert ("kafka.net.connection", "connected to the broker") in _logged("DEBUG")


def test_an_error_log_shows_no_kafka_warning() -> None:
    assert _logged("ERROR") == []
