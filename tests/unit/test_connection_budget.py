"""serve's processes share what PostgreSQL lets its clients have (api/connection_budget.py)."""

from __future__ import annotations

import pytest

from api.connection_budget import (
    LISTENING_CONNECTIONS,
    MIN_REQUEST_POOL,
    STORE_BURST,
    ConnectionPlan,
    default_budget,
    plan_connections,
    serve_process_role,
)

#: A default PostgreSQL: max_connections 100, 3 reserved for superusers.
DEFAULT_SERVER = 97


def _plan(*, answers_requests: bool = True, **overrides: int | bool) -> ConnectionPlan:
    options: dict[str, int | bool] = {
        "budget": default_budget(DEFAULT_SERVER),
        "http_workers": 1,
        "worker_process": True,
        "pool_size": 10,
        "max_overflow": 30,
        "store_pool_size": 2,
        "tenants": 1,
    }
    options.update(overrides)
    return plan_connections(answers_requests=answers_requests, **options)  # type: ignore[arg-type]


def _most(plan: ConnectionPlan, *, tenants: int, store_pool_size: int = 2) -> int:
    """The most connections a process with the plan's pools opens at once."""
    request_pools = 2 * (plan.pool_size + plan.max_overflow)
    stores = tenants * store_pool_size + plan.store_overflow
    pipeline = plan.pipeline_pool + plan.pipeline_overflow
    return LISTENING_CONNECTIONS + request_pools + stores + pipeline


@pytest.mark.parametrize(("http_workers", "tenants"), [(1, 1), (1, 5), (2, 1), (2, 2)])
def test_serve_at_its_fullest_stays_within_a_default_postgresql(
    http_workers: int, tenants: int
) -> None:
    http = _plan(http_workers=http_workers, tenants=tenants)
    quiet = _plan(http_workers=http_workers, tenants=tenants, answers_requests=False)
    # The worker process, and serve's own beside uvicorn's workers.
    quiet_processes = 1 + (http_workers > 1)

    most = http_workers * _most(http, tenants=tenants) + quiet_processes * _most(
        quiet, tenants=tenants
    )

    assert http.shortfall is None
    assert most <= default_budget(DEFAULT_SERVER) < DEFAULT_SERVER
    assert http.pool_size + http.max_overflow >= MIN_REQUEST_POOL


def test_one_http_process_gets_most_of_a_default_postgresql() -> None:
    plan = _plan()

    # 87 for serve: the worker process takes 23; the HTTP process's listeners and store
    # keep 6, the relay's status 2, its store's burst 8, and the two request pools divide
    # the 48 left.
    assert (plan.pool_size, plan.max_overflow, plan.store_overflow) == (10, 14, 8)


def test_a_process_answering_no_requests_keeps_small_pools() -> None:
    plan = _plan(answers_requests=False)

    assert (plan.pool_size + plan.max_overflow, plan.store_overflow) == (4, 2)


def test_request_pools_never_exceed_their_configured_sizes() -> None:
    plan = _plan(budget=10_000, pool_size=4, max_overflow=6)

    assert (plan.pool_size, plan.max_overflow, plan.store_overflow) == (4, 6, STORE_BURST)


def test_every_tenant_store_kept_open_leaves_less_for_the_request_pools() -> None:
    one = _plan(tenants=1)
    twenty = _plan(tenants=20)

    assert twenty.pool_size + twenty.max_overflow < one.pool_size + one.max_overflow


def test_without_the_worker_process_the_http_process_keeps_room_for_the_relay_and_runner() -> None:
    split = _plan()
    alone = _plan(worker_process=False)

    assert (alone.pipeline_pool, alone.pipeline_overflow) == (3, 4)
    assert _most(alone, tenants=1) <= alone.budget
    assert alone.share > split.share  # no worker process to leave room for


def test_too_small_a_budget_says_what_to_change_and_keeps_the_fewest_connections() -> None:
    plan = _plan(http_workers=3)

    assert plan.shortfall is not None
    assert "3 HTTP" in plan.shortfall
    for remedy in ("max_connections", "DIGIONE_HTTP_WORKERS", "DIGIONE_DATABASE_CONNECTIONS"):
        assert remedy in plan.shortfall
    assert plan.pool_size + plan.max_overflow == MIN_REQUEST_POOL
    assert plan.refused == plan.shortfall  # not even one tenant fits: serve refuses


def test_stores_kept_open_for_many_tenants_are_a_shortfall_serve_only_warns_of() -> None:
    plan = _plan(http_workers=2, tenants=5)

    assert plan.shortfall is not None
    assert "5 tenants" in plan.shortfall
    assert "DIGIONE_STORE_POOL_SIZE" in plan.shortfall
    assert plan.refused is None  # one tenant would fit: serve warns and goes on


def test_a_tenth_of_the_servers_connections_is_left_for_other_clients() -> None:
    assert (default_budget(97), default_budget(497)) == (87, 448)


@pytest.mark.parametrize(("http_workers", "tenants"), [(1, 1), (1, 3), (2, 2)])
def test_the_stores_a_plan_holds_at_its_fullest_stay_within_a_default_postgresql(
    http_workers: int, tenants: int
) -> None:
    http = _plan(http_workers=http_workers, tenants=tenants)
    quiet = _plan(http_workers=http_workers, tenants=tenants, answers_requests=False)
    assert http.stores is not None and quiet.stores is not None
    quiet_processes = 1 + (http_workers > 1)

    most = http_workers * _most(http, tenants=http.stores) + quiet_processes * _most(
        quiet, tenants=quiet.stores
    )

    assert (http.stores, quiet.stores) == (tenants, tenants)  # no connection to spare
    assert most <= default_budget(DEFAULT_SERVER)
    # One more tenant's store in each process would go past the budget the plan fills.
    assert most + (http_workers + quiet_processes) * 2 > http.budget


def test_a_roomy_budget_holds_the_stores_of_tenants_registered_later() -> None:
    plan = _plan(budget=1000, tenants=2)

    assert plan.stores is not None and plan.stores > 2
    assert _most(plan, tenants=plan.stores) <= plan.share


def test_serves_own_process_answers_requests_only_without_uvicorns_workers() -> None:
    assert serve_process_role(1) == "http"
    assert serve_process_role(2) == "background"
