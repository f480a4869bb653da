"""Whatever a client puts in a dashboard's path and query, the answer is a clear one.

Generated inputs (any text, any number) get 200, a 403 that names nothing of the class, a
422 problem naming the parameter, or a 504 with the position reached; never a server error,
and a read changes nothing in the event store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bootstrap import Container
from tests.builders import School, a_school
from tests.reads.school import a_line_item, an_assessment_of, leaks_nothing

_TEXT = st.text(max_size=200)
_NUMBER = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), _TEXT)
# Each parameter is often a good value, so answers of every kind (200s too) are drawn.
_QUERY = st.fixed_dictionaries(
    {},
    optional={
        "term": st.one_of(st.just("year-2026"), _TEXT),
        "subject": st.one_of(st.sampled_from(["MA", "AI"]), _TEXT),
        "limit": st.one_of(st.integers(min_value=1, max_value=200), _NUMBER),
        "offset": st.one_of(st.integers(min_value=0, max_value=10), _NUMBER),
        "min_position": st.one_of(st.integers(min_value=0, max_value=5), _NUMBER),
    },
)


@pytest.fixture
def school(running: TestClient, container: Container, tenant: str) -> School:
    built = a_school(running, container, tenant)
    a_line_item(running, built, "li-1")
    an_assessment_of(running, built, student="stu-1", lineItem="li-1", score=14, late=True)
    return built


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(class_id=st.one_of(st.just("cls-4a"), _TEXT.filter(bool)), query=_QUERY)
def test_any_dashboard_path_and_query_gets_a_clear_answer_and_changes_nothing(
    running: TestClient,
    container: Container,
    tenant: str,
    school: School,
    class_id: str,
    query: dict[str, Any],
) -> None:
    head = container.tenants.get(tenant).head_position()
    # min_position is capped: a real one far ahead would only make the read wait 5 s.
    if isinstance(query.get("min_position"), int) and query["min_position"] > head:
        query["min_position"] = head

    response = running.get(
        f"/api/v1/dashboards/classes/{quote(class_id, safe='')}",
        params=query,
        headers=school.teacher,
    )

    assert response.status_code in (200, 403, 404, 422, 504), response.text
    assert container.tenants.get(tenant).head_position() == head
    if response.status_code == 200:
        assert response.json()["class"]["sourcedId"] == "cls-4a"
    elif response.status_code == 403:
        assert leaks_nothing(response)
    else:
        problem = response.json()
        assert problem["status"] == response.status_code and problem["detail"]
        if response.status_code == 422:
            assert problem.get("field") or problem.get("errors"), problem
