"""A read's `?min_position=N` waits only for a valid request: an invalid one is answered 422
at once, naming what was wrong, never 504 after waiting for a position it cannot reach."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import a_school
from tests.web.school_pages import CLASS_PAGE, sign_in_as


def beyond(container: Container, tenant: str) -> int:
    """A store position no command answered yet: the read models cannot reach it."""
    return container.tenants.get(tenant).head_position() + 1000


@pytest.mark.parametrize(
    ("who", "path", "field"),
    [
        ("teacher", "/api/v1/dashboards/classes/cls-4a?limit=0", "limit"),
        ("teacher", "/api/v1/dashboards/classes/cls-4a?offset=-1", "offset"),
        ("admin", f"/api/v1/roster/users/{'u' * 129}", "sourcedId"),
    ],
)
def test_an_invalid_read_with_an_unreachable_min_position_is_refused_422_at_once(
    client: TestClient, container: Container, tenant: str, who: str, path: str, field: str
) -> None:
    school = a_school(client, container, tenant)
    separator = "&" if "?" in path else "?"

    read = client.get(
        f"{path}{separator}min_position={beyond(container, tenant)}",
        headers=getattr(school, who),
    )

    assert read.status_code == 422, read.text
    assert field in read.text


def test_an_invalid_page_with_an_unreachable_min_position_is_refused_at_once(
    client: TestClient, container: Container, tenant: str
) -> None:
    a_school(client, container, tenant)
    sign_in_as(client, container, tenant, "teacher", "tch-1")

    page = client.get(f"{CLASS_PAGE}?offset=-1&min_position={beyond(container, tenant)}")

    assert page.status_code == 422, page.text
