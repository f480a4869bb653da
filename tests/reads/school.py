"""Builders of the read tests: line items, assessments, attainments, students, reads, rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.bootstrap import Container
from projections.base import Projection
from tests.builders import School, a_user, put

#: Words of the hand-made school that must never appear in a refusal.
PERSONAL_WORDS = (
    "Aino",
    "Virtanen",
    "Eero",
    "Oppilas",
    "Greta",
    "Huoltaja",
    "Tiina",
    "Hyvää työtä",
)


def a_line_item(
    client: TestClient,
    school: School,
    sourced_id: str,
    *,
    title: str = "Murtoluvut",
    assigned: str = "2026-02-01T08:00:00Z",
    due: str = "2026-02-14T16:00:00Z",
    objectives: tuple[str, ...] = ("MA.3-6.T5",),
    score_range: tuple[float, float] | None = (0, 20),
    class_id: str = "cls-4a",
) -> int:
    body: dict[str, Any] = {
        "title": title,
        "assignDate": assigned,
        "dueDate": due,
        "class": {"sourcedId": class_id},
        "category": {"sourcedId": "test"},
        "learningObjectiveSet": [{"source": "POPS2014", "learningObjectiveIds": list(objectives)}]
        if objectives
        else [],
    }
    if score_range is not None:
        body["resultValueMin"], body["resultValueMax"] = score_range
    response = client.put(
        f"/api/v1/lineItems/{sourced_id}", json={"lineItem": body}, headers=school.teacher
    )
    assert response.status_code in (200, 201), response.text
    return int(response.json()["position"])


def an_assessment_of(client: TestClient, school: School, **fields: Any) -> int:
    """Records an assessment by the class teacher; returns its store position."""
    body: dict[str, Any] = {
        "student": "stu-1",
        "class": "cls-4a",
        "assessedAt": "2026-02-20",
        "objectives": ["MA.3-6.T5"],
    }
    body.update(fields)
    response = client.post("/api/v1/assessments", json=body, headers=school.teacher)
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def an_attainment_of(
    client: TestClient,
    school: School,
    student: str,
    objective: str,
    level: int,
    assessed_at: str,
    *evidence: str,
) -> int:
    response = client.post(
        "/api/v1/attainments",
        headers=school.teacher,
        json={
            "student": student,
            "class": "cls-4a",
            "objective": objective,
            "level": level,
            "evidence": list(evidence),
            "assessedAt": assessed_at,
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def another_student(
    client: TestClient,
    school: School,
    sourced_id: str,
    *,
    given: str,
    family: str,
    class_id: str = "cls-4a",
    **enrollment: Any,
) -> int:
    put(
        client,
        school.admin,
        "users",
        sourced_id,
        "user",
        a_user(sourced_id, "student", given=given, family=family),
    )
    response = put(
        client,
        school.admin,
        "enrollments",
        f"enr-{sourced_id}",
        "enrollment",
        {
            "user": {"sourcedId": sourced_id},
            "class": {"sourcedId": class_id},
            "school": {"sourcedId": "sch-1"},
            "role": "student",
            **enrollment,
        },
    )
    return int(response.json()["position"])


def read(
    client: TestClient,
    container: Container,
    tenant: str,
    path: str,
    headers: dict[str, str],
    **params: Any,
) -> httpx.Response:
    """A read that includes every write so far (read-your-writes with the store head)."""
    head = container.tenants.get(tenant).head_position()
    response: httpx.Response = client.get(
        path, headers=headers, params={"min_position": head, **params}
    )
    return response


def leaks_nothing(response: httpx.Response) -> bool:
    """Whether a refusal holds no personal words and no record data."""
    text = response.text
    return not any(word in text for word in PERSONAL_WORDS) and "stu-" not in text


#: Tables whose rows say when something was done, not what the events say.
_WALL_CLOCK = ("_erasure_confirmations",)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def read_model_rows(
    container: Container, projection: Projection, tenant: str
) -> dict[str, list[str]]:
    """The tenant's rows of every table of the projection (but those stamped with the wall
    clock), comparable across projections and backends."""
    found = {}
    with container.engine.connect() as connection:
        for table in projection.metadata.sorted_tables:
            kind = table.name.removeprefix(projection.name)
            if kind in _WALL_CLOCK:
                continue
            rows = connection.execute(sa.select(table).where(table.c.tenant == tenant))
            found[kind] = sorted(
                repr(sorted((k, _plain(v)) for k, v in row._mapping.items())) for row in rows
            )
    return found
