"""`digione bench` works end to end: one table of rows, each beside its baseline and goal,
written as latest.json; `--only` runs a subset and refuses an unknown name; speed is never
asserted."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from typer.testing import CliRunner

from api import cli
from api.settings import Settings
from bench import Sizes, run_benchmarks, selected_measures
from bench.freshness import BARE_READ_EVERY
from bench.rows import Row, at_least, below
from tests.conftest import database_of_its_own
from tests.processes import SMALL_POOL_SETTINGS

#: The bench's server runs the relay and projection runner as `serve` does; a database of
#: its own keeps the other tests' tenants and read models out of its way, and it out of theirs
#: (this name with a suffix of its run, dropped after it: two runs at once on one server, a
#: developer's beside CI's, each see only their own bench's tenants, and none is left behind).
BENCH_DATABASE = "digione_bench_smoke"
#: Small enough for a busy CI machine: the test checks that every measure works, not speed.
TINY = Sizes(
    commands=40,
    store_commands=40,
    relay_events=200,
    rebuild_students=30,
    freshness_rate=20.0,
    freshness_seconds=1.0,
    reads=40,
    fixed_rate=40.0,
    fixed_rate_seconds=0.5,
    erasures=3,
    erasure_rate=20.0,
    dashboard_line_items=1,
    dashboard_attainment_rounds=0,
    ledger_events=500,
    fanout_events=40,
    revocations=3,
    oneroster_students=40,
)
#: The measures issue 14 names, each a row of latest.json.
MEASURES = {
    "trivial",
    "dashboard",
    "dashboard_p99_ms",
    "oneroster_users",
    "oneroster_users_p99_ms",
    "commands_http",
    "commands_store",
    "relay",
    "rebuild",
    "rebuild_from_topics",
    "freshness_p99_ms",
    "erasure_p99_ms",
    "ledger_verify",
    "fanout_in",
    "fanout_out",
    "revocation_p99_ms",
    "oneroster_import",
}
ROW_KEYS = {"measure", "value", "unit", "baseline", "ratio", "goal", "met"}


class BenchRun(NamedTuple):
    data_dir: Path
    report: dict[str, Any]
    #: What the run and its server processes wrote to stderr (their logs, as JSON lines).
    stderr: Path

    def errors(self) -> str:
        """The messages of that log's ERROR records (a failed request's traceback is one)."""
        lines = self.stderr.read_text(errors="replace").splitlines()
        errors = [line for line in lines if '"level":"ERROR"' in line][:3]
        return "\n\n".join(_message(line) for line in errors)


def _message(line: str) -> str:
    """A JSON log line's message (the line itself when it is cut short or not JSON)."""
    try:
        return str(json.loads(line)["message"])
    except (ValueError, KeyError):
        return line


@pytest.fixture(scope="module")
def bench_database() -> Iterator[str]:
    """The bench's database, of this run alone, dropped after."""
    with database_of_its_own(BENCH_DATABASE) as url:
        yield url


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory, bench_database: str) -> BenchRun:
    """One tiny run, shared by the tests below: the suite takes tens of seconds even so."""
    settings = Settings.explicit(
        database_url=bench_database,
        data_dir=tmp_path_factory.mktemp("var"),
        # As a city runs it on a machine of several cores: HTTP in two processes.
        http_workers=2,
        # A few requests at a time: small pools (see tests/processes.py).
        **SMALL_POOL_SETTINGS,
    )
    # The server processes inherit this process's stderr: into a file for the whole run, so
    # that a failed request's logged traceback can be shown beside the failed outcome.
    stderr = settings.data_dir / "stderr.log"
    kept = os.dup(2)
    try:
        with stderr.open("wb") as sink:
            os.dup2(sink.fileno(), 2)
            report = run_benchmarks(settings, sizes=TINY, clients=4)
    finally:
        os.dup2(kept, 2)
        os.close(kept)
    return BenchRun(settings.data_dir, report, stderr)


@pytest.fixture
def latest(bench_run: BenchRun) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        (bench_run.data_dir / "bench" / "latest.json").read_text()
    )
    return rows


@pytest.mark.postgres
def test_latest_json_holds_one_row_per_measure_with_the_contract_keys(
    latest: list[dict[str, Any]],
) -> None:
    assert {row["measure"] for row in latest} == MEASURES
    assert len(latest) == len(MEASURES)
    assert all(set(row) == ROW_KEYS for row in latest)


@pytest.mark.postgres
def test_every_measure_is_positive_beside_a_positive_baseline(
    latest: list[dict[str, Any]],
) -> None:
    with_baseline = [row for row in latest if row["measure"] != "trivial"]

    assert all(row["value"] > 0 for row in latest)
    assert all(row["baseline"] > 0 and row["ratio"] > 0 for row in with_baseline)
    assert all(row["met"] in (True, False) for row in with_baseline if row["goal"][:1] in "≥<")


@pytest.mark.postgres
def test_nothing_any_measure_did_failed(bench_run: BenchRun) -> None:
    details = bench_run.report["details"]
    loads = [
        load
        for detail in details.values()
        for load in (detail.values() if "failed" not in detail else [detail])
        if isinstance(load, dict) and "failed" in load
    ]

    assert loads
    assert [load["outcomes"] for load in loads if load["failed"]] == [], bench_run.errors()
    assert (
        details["freshness"]["freshness"]["count"] == TINY.freshness_rate * TINY.freshness_seconds
    )
    assert details["erasure"]["confirmed"]["count"] == TINY.erasures
    assert details["oneroster_import"]["oneroster_import"]["rejected"] == 0


@pytest.mark.postgres
def test_freshness_reads_the_baseline_bare_after_every_tenth_command_only(
    bench_run: BenchRun,
) -> None:
    # Each bare read is load beside the commands the goal offers: the baseline samples them.
    freshness = bench_run.report["details"]["freshness"]

    assert freshness["offered"] == TINY.freshness_rate * TINY.freshness_seconds
    assert freshness["bare_reads"]["count"] == freshness["offered"] // BARE_READ_EVERY


@pytest.mark.postgres
def test_freshness_says_how_busy_each_part_of_the_system_kept_the_cores(
    bench_run: BenchRun,
) -> None:
    freshness = bench_run.report["details"]["freshness"]
    cores = freshness["cores"]

    # The load wrote through the server's HTTP process, and its worker projected what was
    # written, into the bench's PostgreSQL on this machine: each spent tens of milliseconds
    # of CPU in the load's second, above the kernel's 10 ms tick (the load generator's few
    # may fall under it).
    for part in ("http", "worker", "postgres"):
        assert cores[part] > 0, (part, cores)
    assert set(cores) == {"http", "worker", "postgres", "broker", "load_generator", "machine"}
    assert freshness["summary"].startswith("during the load, cores busy: HTTP ")


@pytest.mark.postgres
def test_the_relay_and_the_bare_producer_each_say_how_busy_they_kept_the_cores(
    bench_run: BenchRun,
) -> None:
    relay = bench_run.report["details"]["relay"]
    parts = {"http", "worker", "postgres", "broker", "load_generator", "machine"}

    # The smoke run's 200 events pass in milliseconds, under the kernel's 10 ms tick of CPU
    # time: what this run shows is that both passes were watched, not how busy they kept.
    assert set(relay["relay_cores"]) == parts
    assert set(relay["producer_cores"]) == parts
    assert all(used >= 0 for used in relay["relay_cores"].values())
    assert relay["summary"].startswith("during the relay's pass, cores busy: HTTP ")
    assert "; during the bare producer's, cores busy: HTTP " in relay["summary"]


@pytest.mark.postgres
def test_each_closed_loop_says_how_busy_each_part_kept_the_cores(bench_run: BenchRun) -> None:
    details = bench_run.report["details"]
    parts = {"http", "worker", "postgres", "broker", "load_generator", "machine"}

    # The smoke run's 40 requests take tens of milliseconds, near the kernel's 10 ms tick of
    # CPU time: what this run shows is that each loop was watched, not how busy it kept.
    for name in ("dashboard", "oneroster_users", "commands_http"):
        assert set(details[name]["cores"]) == parts, name
        assert details[name]["summary"].startswith("during the 4 clients' closed loop, "), name


@pytest.mark.postgres
def test_the_timestamped_report_keeps_the_same_rows_the_load_average_and_the_core_speed(
    bench_run: BenchRun, latest: list[dict[str, Any]]
) -> None:
    written = Path(bench_run.report["file"])

    report = json.loads(written.read_text())
    assert written.parent == bench_run.data_dir / "bench"
    assert report["rows"] == latest
    assert set(report["machine"]["load_average"]) == {"start", "end"}
    speed = report["machine"]["core_speed"]
    assert set(speed) == {"start", "end"} and all(value > 0 for value in speed.values())
    assert report["http_workers"] == 2


def test_only_selects_measures_by_their_name_or_a_row_name() -> None:
    chosen = selected_measures(["relay", "dashboard_p99_ms", "freshness_p99_ms"])

    assert [measure.name for measure in chosen] == ["dashboard", "freshness", "relay"]


def test_bench_only_with_an_unknown_name_says_which_exist_and_runs_nothing(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        cli.app,
        ["bench", "--only", "dashbord"],
        env={"DIGIONE_DATA_DIR": str(tmp_path)},
    )

    assert result.exit_code == 2
    assert "no measure named dashbord" in result.output
    assert "dashboard" in result.output.split("choose from", 1)[1]
    assert not (tmp_path / "bench").exists()


def test_bench_with_http_workers_but_no_worker_process_is_refused_before_it_runs(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        cli.app,
        ["bench", "--only", "dashboard"],
        env={
            "DIGIONE_DATA_DIR": str(tmp_path),
            "DIGIONE_HTTP_WORKERS": "2",
            "DIGIONE_WORKER_PROCESS": "false",
        },
    )

    assert result.exit_code != 0
    assert "DIGIONE_HTTP_WORKERS above 1 needs DIGIONE_WORKER_PROCESS=true" in result.output
    assert not (tmp_path / "bench").exists()


def test_a_goal_is_met_only_by_a_load_that_held() -> None:
    fast = Row.of("x", value=20.0, unit="ms", baseline=2.0, goal=below(30))
    dropped = Row.of("x", value=20.0, unit="ms", baseline=2.0, goal=below(30), held=False)
    slow = Row.of("x", value=40.0, unit="req/s", baseline=100.0, goal=at_least(0.5, "trivial"))

    assert (fast.met, dropped.met, slow.met) == (True, False, False)
    assert slow.ratio == 0.4 and slow.goal == "≥ 0.5× trivial"
