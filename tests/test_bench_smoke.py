"""`digione bench` works end to end: it measures, reports and writes its JSON; speed is never asserted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from api.bench import run_benchmarks
from api.settings import Settings

TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/digione_test"


@pytest.mark.postgres
def test_a_quick_bench_measures_every_rate_and_writes_its_report(tmp_path: Path) -> None:
    settings = Settings(
        database_url=os.environ.get("DIGIONE_TEST_DATABASE_URL", TEST_DATABASE_URL),
        data_dir=tmp_path,
    )

    report = run_benchmarks(settings, quick=True, count=100, concurrency=4)

    results = report["benchmarks"]
    assert all(result["rate_per_s"] > 0 for result in results.values())
    assert results["http_assessments"]["count"] == 100
    assert results["http_assessments"]["failed"] == 0
    assert report["ratios"]["http_to_raw_sequential"] > 0
    written = Path(report["file"])
    assert written.parent == tmp_path / "bench"
    assert json.loads(written.read_text())["benchmarks"] == results
