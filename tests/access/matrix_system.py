"""The running system the authorization matrix asks: one school, two tenants, every kind of
caller, built once per module (the read models must hold the school for an allowed read
to answer 200).

Tenant A holds the school of `a_school` (teacher tch-1 of class cls-4a, tch-2 of cls-5b,
guardian grd-1 of stu-1, grd-2 of stu-2), an assessment and an attainment of stu-1, a
consent grd-1 granted for stu-1, and an erasure of stu-3. Tenant B is another municipality
with an admin of its own.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container, bootstrap
from api.master_key import load_master_key
from api.settings import Settings
from api.tokens import TokenService, token_id
from domain.sealing import derive_signing_key
from tests.builders import a_school, a_user, put
from tests.reads.school import a_line_item, an_assessment_of, an_attainment_of
from tests.tenant_cleanup import drop_tenants

__all__ = ["MatrixSystem", "matrix_system"]


@dataclass
class MatrixSystem:
    container: Container
    client: TestClient
    tenant: str
    other_tenant: str
    #: Bearer token of each kind of caller; None: no token at all.
    tokens: dict[str, str | None]
    consent_id: str
    erasure_id: str


def _tampered(token: str) -> str:
    """The token with its claims changed to an admin's, signature kept: forged."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _wait_for_projections(container: Container, tenant: str) -> None:
    head = container.tenants.get(tenant).head_position()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(
            container.status.position(tenant, name) >= head
            for name in container.status.projection_names
        ):
            return
        time.sleep(0.1)
    raise AssertionError("the read models did not reach the school's events")


@pytest.fixture(scope="module")
def matrix_system(
    tmp_path_factory: pytest.TempPathFactory, postgres_database_url: str
) -> Iterator[MatrixSystem]:
    prefix = "m" + uuid.uuid4().hex[:10]
    tenant, other_tenant = prefix + "a", prefix + "b"
    settings = Settings.explicit(
        database_url=postgres_database_url,
        data_dir=tmp_path_factory.mktemp("matrix") / "var",
        topic_prefix="mx" + uuid.uuid4().hex[:8],
        only_tenants=frozenset({tenant, other_tenant}),
    )
    container = bootstrap(settings)
    container.tenants.create(tenant, name="Municipality A")
    container.tenants.create(other_tenant, name="Municipality B")
    container.runtime.start()
    try:
        with TestClient(create_app(container)) as client:
            yield _built(container, client, settings, tenant, other_tenant)
    finally:
        container.close()
        drop_tenants(settings, [tenant, other_tenant])


def _built(
    container: Container, client: TestClient, settings: Settings, tenant: str, other_tenant: str
) -> MatrixSystem:
    school = a_school(client, container, tenant)
    admin = school.admin
    put(client, admin, "users", "grd-2", "user", a_user("grd-2", "guardian", given="G", family="K"))
    put(
        client,
        admin,
        "users",
        "stu-2",
        "user",
        a_user("stu-2", "student", given="Eero", family="Oppilas", agents=("grd-2",)),
    )
    put(client, admin, "users", "stu-3", "user", a_user("stu-3", "student", given="P", family="Q"))
    a_line_item(client, school, "li-1")
    an_assessment_of(client, school, sourcedId="res-1", lineItem="li-1", score=17, grade="9")
    an_attainment_of(client, school, "stu-1", "MA.3-6.T5", 2, "2026-01-12", "li-1")
    consent = client.post(
        "/api/v1/consents",
        headers=school.guardian,
        json={
            "student": "stu-1",
            "grantedBy": "grd-1",
            "recipient": "matikka-app",
            "purposes": ["learning-app"],
            "categories": ["assessment"],
        },
    )
    assert consent.status_code == 201, consent.text
    erasure = client.post(
        "/api/v1/erasures", headers=admin, json={"subject": "stu-3", "reason": "left"}
    )
    assert erasure.status_code == 202, erasure.text
    _wait_for_projections(container, tenant)

    def token(role: str, subject: str, *scopes: str, of: str = tenant) -> str:
        return container.tokens.issue(tenant=of, role=role, subject=subject, scopes=scopes)

    yesterday = datetime.now(UTC) - timedelta(days=1)
    expired = TokenService(
        signing_key=derive_signing_key(load_master_key(settings.resolved_master_key_file)),
        ttl_seconds=3600,
        clock=lambda: yesterday,
    ).issue(tenant=tenant, role="admin", subject="admin-1")
    revoked = token("admin", "admin-1")
    container.revocations.revoke_token(tenant=tenant, jti=token_id(revoked), at=datetime.now(UTC))
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "expired": expired,
        "tampered": _tampered(token("teacher", "tch-1")),
        "revoked": revoked,
        "admin": token("admin", "admin-1"),
        "teacher": token("teacher", "tch-1"),
        "other_teacher": token("teacher", "tch-2"),
        "guardian": token("guardian", "grd-1"),
        "other_guardian": token("guardian", "grd-2"),
        "student": token("student", "stu-1"),
        "auditor": token("auditor", "aud-1"),
        "service": token("service", "sis", "roster.createput", "roster.readonly"),
        "unscoped_service": token("service", "sis"),
        "other_tenant_admin": token("admin", "admin-1", of=other_tenant),
    }
    return MatrixSystem(
        container=container,
        client=client,
        tenant=tenant,
        other_tenant=other_tenant,
        tokens=tokens,
        consent_id=consent.json()["consentId"],
        erasure_id=erasure.json()["erasureId"],
    )
