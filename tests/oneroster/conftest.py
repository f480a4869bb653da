"""Fixtures of the OneRoster provider tests: a small school in the roster read model and
service clients with agreements.

The roster read model is filled by applying the store's events, encoded and decoded by the
real codec, to the real projection's handlers in store order (what the runner does after
the broker); the runner and relay themselves have their own tests.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.oneroster.clients_cli import create_client
from domain.application import TenantApplication
from projections.base import Projection
from tests.builders import School, a_school, a_user, put
from tests.projections.in_process import apply_store_events

Project = Callable[[], None]


@pytest.fixture
def project(container: Container, app: TenantApplication) -> Project:
    """Brings the roster, class dashboard and guardian view read models up to the store's
    head (call after commands)."""
    catalogue = container.projections
    projections: list[Projection] = [
        catalogue.roster,
        catalogue.class_dashboard,
        catalogue.guardian_view,
    ]
    for projection in projections:
        projection.metadata.create_all(container.engine)
    applied = [0]

    def catch_up() -> None:
        applied[0] = apply_store_events(container, app, projections, after=applied[0])

    return catch_up


@pytest.fixture
def school(client: TestClient, container: Container, tenant: str, project: Project) -> School:
    """The builders' school (sch-1 in dist-1, classes 4A and 5B), a second school sch-2
    with its own class and student, and the read model brought up to date."""
    built = a_school(client, container, tenant)
    put(
        client,
        built.admin,
        "orgs",
        "sch-2",
        "org",
        {"name": "Toinen koulu", "type": "school", "identifier": "02",
         "parent": {"sourcedId": "dist-1"}},
    )  # fmt: skip
    put(
        client,
        built.admin,
        "classes",
        "cls-x",
        "class",
        {"title": "X", "course": {"sourcedId": "ma-4"}, "school": {"sourcedId": "sch-2"},
         "terms": [{"sourcedId": "year-2026"}]},
    )  # fmt: skip
    put(
        client,
        built.admin,
        "users",
        "stu-x",
        "user",
        a_user("stu-x", "student", given="Ulla", family="Ulkopuolinen", org="sch-2"),
    )
    put(
        client,
        built.admin,
        "demographics",
        "stu-1",
        "demographics",
        {"birthDate": "2016-03-01", "sex": "female", "white": "true"},
    )
    project()
    return built


ClientFactory = Callable[..., dict[str, str]]


@pytest.fixture
def vendor(client: TestClient, container: Container, tenant: str) -> ClientFactory:
    """Creates a client with an agreement and returns the Authorization header of a token."""

    def make(
        name: str = "learnapp",
        *,
        scopes: tuple[str, ...] = ("roster.readonly",),
        categories: tuple[str, ...] = ("identity", "contact"),
        schools: tuple[str, ...] = (),
        basis: str = "statutory",
        purpose: str | None = None,
    ) -> dict[str, str]:
        made = create_client(
            container,
            tenant=tenant,
            name=name,
            scopes=list(scopes),
            categories=list(categories),
            basis=basis,
            schools=list(schools),
            # A consent-based agreement names the purpose families consent to.
            purpose=purpose or ("learning-app" if basis == "consent" else None),
        )
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(made["client_id"], made["client_secret"]),
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make
