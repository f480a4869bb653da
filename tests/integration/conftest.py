"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.builders import School, a_school


@pytest.fixture
def school(client: TestClient, container: Container, tenant: str) -> School:
    """The test tenant's school, class 4A, its teacher, students and a guardian
    (tests/builders.py `a_school`). Function-scoped: built once per test, which Hypothesis
    then runs many times."""
    return a_school(client, container, tenant)
