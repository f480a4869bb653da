"""The consumers' fetch wait: the latency a message sits at the broker before the
projections and the service fan-out see it, where the broker holds fetches (the embedded
Tansu answers a fetch of several partitions at about half its wait, even when a message
arrived), and only how often an idle consumer asks where it does not (a Kafka cluster).
Beside the embedded broker, whose only publisher is the installation's relay, the consumers
idle until that relay published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.bootstrap import bootstrap
from api.settings import CLUSTER_FETCH_WAIT_MS, EMBEDDED_FETCH_WAIT_MS, Settings
from api.worker_process import SETTINGS_ENV, WorkerProcess
from projections.runner import ProjectionRunner
from streams.consumer import Publications
from streams.fanout import ServiceFanOut


def _consumers(settings: Settings) -> tuple[ProjectionRunner, ServiceFanOut]:
    """The projection runner and the service fan-out as the composition root builds them
    (closed again at once: nothing connects before the runtime starts)."""
    container = bootstrap(settings)
    container.close()
    runtime = container.runtime
    assert runtime.fanout is not None
    return runtime.runner, runtime.fanout


def _consumers_fetch_waits(settings: Settings) -> tuple[int, int]:
    runner, fanout = _consumers(settings)
    return runner.fetch_wait_ms, fanout.fetch_wait_ms


def test_the_projections_and_fan_out_fetch_briefly_from_the_embedded_broker(
    tmp_path: Path,
) -> None:
    settings = Settings.explicit(data_dir=tmp_path / "var")

    assert _consumers_fetch_waits(settings) == (EMBEDDED_FETCH_WAIT_MS, EMBEDDED_FETCH_WAIT_MS)
    assert EMBEDDED_FETCH_WAIT_MS < CLUSTER_FETCH_WAIT_MS


def test_the_projections_and_fan_out_fetch_with_the_kafka_wait_from_a_cluster(
    tmp_path: Path,
) -> None:
    # Nothing connects before the runtime starts, so no broker need listen there.
    settings = Settings.explicit(data_dir=tmp_path / "var", kafka_bootstrap="127.0.0.1:9")

    assert _consumers_fetch_waits(settings) == (CLUSTER_FETCH_WAIT_MS, CLUSTER_FETCH_WAIT_MS)


def test_an_operator_sets_the_fetch_wait_for_their_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGIONE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DIGIONE_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("DIGIONE_KAFKA_FETCH_WAIT_MS", "7")

    assert _consumers_fetch_waits(Settings()) == (7, 7)


def test_an_empty_fetch_wait_variable_leaves_the_wait_to_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGIONE_KAFKA_FETCH_WAIT_MS", "")
    monkeypatch.setenv("DIGIONE_KAFKA_BOOTSTRAP", "127.0.0.1:9")

    assert Settings().fetch_wait_ms == CLUSTER_FETCH_WAIT_MS


@pytest.mark.parametrize("value", ["0", "-5", "soon", "100000"])
def test_a_fetch_wait_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DIGIONE_KAFKA_FETCH_WAIT_MS", value)

    with pytest.raises(ValidationError, match="kafka_fetch_wait_ms"):
        Settings()


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [(None, EMBEDDED_FETCH_WAIT_MS), ("127.0.0.1:9", CLUSTER_FETCH_WAIT_MS)],
)
def test_the_worker_process_keeps_the_fetch_wait_of_the_broker_serve_runs(
    tmp_path: Path, cluster: str | None, expected: int
) -> None:
    # serve hands its worker the embedded broker's address as it would a cluster's.
    serve = Settings.explicit(data_dir=tmp_path / "var", kafka_bootstrap=cluster)
    worker = WorkerProcess(serve, bootstrap="127.0.0.1:19092", wake_port=None)

    told = Settings.explicit(**json.loads(worker.child_environment()[SETTINGS_ENV]))

    assert told.kafka_bootstrap == "127.0.0.1:19092"
    assert told.fetch_wait_ms == expected
    assert told.runs_embedded_broker == (cluster is None)


def _idles_on(settings: Settings) -> tuple[Publications | None, Publications | None]:
    runner, fanout = _consumers(settings)
    return runner.publications, fanout.loop.publications


def test_the_consumers_beside_an_embedded_broker_wait_for_the_relays_publications(
    tmp_path: Path,
) -> None:
    # The embedded broker hears from this installation's relay alone.
    serve = Settings.explicit(data_dir=tmp_path / "var")
    worker = serve.at_broker("127.0.0.1:9")

    for settings in (serve, worker):
        runner, fanout = _idles_on(settings)
        assert runner is not None and runner is fanout


def test_the_consumers_of_a_kafka_cluster_keep_asking_it(tmp_path: Path) -> None:
    # Another installation's relay may publish there: nobody would tell these consumers.
    cluster = Settings.explicit(data_dir=tmp_path / "var", kafka_bootstrap="127.0.0.1:9")

    assert _idles_on(cluster) == (None, None)
    assert _idles_on(cluster.at_broker("127.0.0.1:9")) == (None, None)
