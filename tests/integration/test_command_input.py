"""Whatever body a client sends to a command, the answer is a clear one.

Generated bodies (fields of any JSON type, any text, any number) get a 201, or a 4xx
problem that says what was wrong; never a server error. A refused command records nothing:
no event, subject key, idempotency answer, result slot or disclosure (tests/store_writes.py).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bootstrap import Container
from domain.application import TenantApplication
from tests.builders import School
from tests.store_writes import writes

_JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)
_ANY_JSON = st.recursive(
    _JSON_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)


def _field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value (6 in 7), else anything JSON can hold."""
    return st.one_of(*[good] * 6, _ANY_JSON)


_ASSESSMENT = st.fixed_dictionaries(
    {
        "student": _field(st.sampled_from(["stu-1", "stu-2", "stu-404"])),
        "class": _field(st.just("cls-4a")),
        "assessedAt": _field(
            st.sampled_from(["2026-02-20", "2026-02-20", "2031-01-01", "2026-02-30"])
        ),
        "grade": _field(st.sampled_from(["4", "7", "10", "S", "H", "11"])),
    },
    optional={
        "score": _field(st.decimals(min_value=-5, max_value=50, places=1).map(float)),
        "comment": _field(st.text(max_size=300)),
        "objectives": _field(st.lists(st.sampled_from(["MA.3-6.T5", "MA.3-6.T1", "XX.1"]))),
        "scoreStatus": _field(st.sampled_from(["fully graded", "not submitted", "lost"])),
        "late": _field(st.booleans()),
        "sourcedId": _field(st.sampled_from(["res-1", "res 2", ""])),
    },
)
_ATTAINMENT = st.fixed_dictionaries(
    {
        "student": _field(st.sampled_from(["stu-1", "stu-404"])),
        "class": _field(st.just("cls-4a")),
        "objective": _field(st.sampled_from(["MA.3-6.T5", "MA.3-6.T99"])),
        "level": _field(st.sampled_from([1, 2, 3, 4, 0, 5])),
        "assessedAt": _field(st.sampled_from(["2026-02-20", "2031-01-01"])),
    },
    optional={"evidence": _field(st.lists(st.sampled_from(["li-404"]), max_size=2))},
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    command=st.one_of(
        st.tuples(st.just("/api/v1/assessments"), _ASSESSMENT),
        st.tuples(st.just("/api/v1/attainments"), _ATTAINMENT),
    )
)
def test_any_assessment_or_attainment_body_gets_a_clear_answer(
    client: TestClient,
    container: Container,
    app: TenantApplication,
    school: School,
    command: tuple[str, dict[str, Any]],
) -> None:
    path, body = command
    before = writes(container, [school.tenant])

    response = client.post(path, json=body, headers=school.teacher)

    assert response.status_code < 500, response.text
    if response.status_code == 201:
        assert app.head_position() > before.heads[school.tenant]
    else:
        problem = response.json()
        assert 400 <= problem["status"] == response.status_code < 500 and problem["detail"]
        assert writes(container, [school.tenant]) == before


_USER = st.fixed_dictionaries(
    {
        "status": _field(st.sampled_from(["active", "tobedeleted", "gone"])),
        "enabledUser": _field(st.sampled_from(["true", "false", True, "maybe"])),
        "givenName": _field(st.text(min_size=1, max_size=40)),
        "familyName": _field(st.text(min_size=1, max_size=40)),
        "roles": _field(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "roleType": _field(st.sampled_from(["primary", "secondary"])),
                        "role": _field(
                            st.sampled_from(["student", "teacher", "guardian", "wizard"])
                        ),
                        "org": _field(
                            st.sampled_from([{"sourcedId": "sch-1"}, {"sourcedId": "sch-404"}])
                        ),
                    }
                ),
                min_size=1,
                max_size=2,
            )
        ),
    },
    optional={
        "email": _field(st.emails()),
        "agents": _field(
            st.lists(
                st.fixed_dictionaries({"sourcedId": st.sampled_from(["grd-1", "stu-1", "nobody"])}),
                max_size=2,
            )
        ),
        "birthDate": _field(st.dates().map(str)),
    },
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sourced_id=st.sampled_from(["u-1", "u-2", "stu-2"]), user=_USER)
def test_any_user_envelope_gets_a_clear_answer(
    client: TestClient,
    container: Container,
    app: TenantApplication,
    school: School,
    sourced_id: str,
    user: dict[str, Any],
) -> None:
    before = writes(container, [school.tenant])

    response = client.put(
        f"/api/v1/roster/users/{sourced_id}", json={"user": user}, headers=school.admin
    )

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        problem = response.json()
        assert problem["status"] == response.status_code and problem["detail"]
        assert writes(container, [school.tenant]) == before
