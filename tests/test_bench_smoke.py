"""`digione bench` works end to end: it measures, reports and writes its JSON; speed is never asserted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy.engine import make_url

from api.settings import Settings
from bench import Sizes, run_benchmarks

TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/digione_test"
#: The bench's server runs the relay and projection runner as `serve` does; a database of
#: its own keeps the other tests' tenants and read models out of its way, and it out of theirs.
BENCH_DATABASE = "digione_bench_smoke"
#: Small enough for a busy CI machine: the test checks that every section works, not speed.
TINY = Sizes(
    commands=60,
    relay_events=200,
    rebuild_students=30,
    freshness_rate=5.0,
    freshness_seconds=2.0,
    dashboard_reads=64,
    ledger_events=500,
    fanout_events=40,
    revocations=3,
    oneroster_students=40,
)
SECTIONS = {
    "commands", "relay", "rebuild", "freshness", "erasure", "dashboard", "ledger", "fanout",
    "oneroster",
}  # fmt: skip


class BenchRun(NamedTuple):
    data_dir: Path
    report: dict[str, Any]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    """One tiny run, shared by the tests below: the suite takes tens of seconds even so."""
    test_url = make_url(os.environ.get("DIGIONE_TEST_DATABASE_URL", TEST_DATABASE_URL))
    settings = Settings.explicit(
        database_url=test_url.set(database=BENCH_DATABASE).render_as_string(hide_password=False),
        data_dir=tmp_path_factory.mktemp("var"),
    )
    return BenchRun(settings.data_dir, run_benchmarks(settings, sizes=TINY, concurrency=4))


@pytest.fixture
def report(bench_run: BenchRun) -> dict[str, Any]:
    return bench_run.report


@pytest.mark.postgres
def test_every_section_is_reported_beside_its_baseline(report: dict[str, Any]) -> None:
    comparisons = report["comparisons"]

    assert {row["section"] for row in comparisons} == SECTIONS
    assert all(row["value"] > 0 and row["baseline_value"] > 0 for row in comparisons)
    assert all(ratio > 0 for ratio in report["ratios"].values())


@pytest.mark.postgres
def test_every_measurement_is_positive_and_nothing_failed(report: dict[str, Any]) -> None:
    results = report["benchmarks"]

    assert all(result["rate_per_s"] > 0 for result in results.values())
    assert {name: result.get("failed", 0) for name, result in results.items()} == {
        name: 0 for name in results
    }


@pytest.mark.postgres
def test_each_section_did_what_its_size_asked(report: dict[str, Any]) -> None:
    results = report["benchmarks"]

    assert results["http_assessments"]["count"] == TINY.commands
    assert results["relay_kafka_python"]["count"] == TINY.relay_events
    assert results["rebuild_roster"]["count"] == 2 + 3 * TINY.rebuild_students
    commands = round(TINY.freshness_rate * TINY.freshness_seconds)
    assert results["freshness"]["count"] == results["bare_read"]["count"] == commands
    assert results["freshness"]["p99_ms"] >= results["freshness"]["p50_ms"] > 0
    assert results["erasure_confirmed"]["failed"] == results["erasure_accepted"]["failed"] == 0
    assert results["erasure_confirmed"]["count"] >= 1
    assert results["dashboard_reads"]["count"] == results["trivial_reads"]["count"] == 64


@pytest.mark.postgres
def test_the_report_is_written_under_the_data_dir(bench_run: BenchRun) -> None:
    written = Path(bench_run.report["file"])

    assert written.parent == bench_run.data_dir / "bench"
    assert json.loads(written.read_text()) == {
        key: value for key, value in bench_run.report.items() if key != "file"
    }
