"""OneRoster reads: a service client's page of users, as a student information system or a
learning app reads it, with an OAuth client-credentials token."""

from __future__ import annotations

import httpx

from api.bootstrap import Container
from api.oneroster.clients_cli import create_client
from bench.roster import SCHOOL
from bench.server import require_status

__all__ = [
    "ONEROSTER_USERS_PARAMS",
    "ONEROSTER_USERS_PATH",
    "oneroster_client",
    "oneroster_token",
]

ONEROSTER_USERS_PATH = "/ims/oneroster/rostering/v1p2/users"
#: A page of the school's users, as a service that syncs one school asks for it.
ONEROSTER_USERS_PARAMS = {"limit": "100", "filter": f"roles.org.sourcedId='{SCHOOL}'"}


def oneroster_client(
    container: Container,
    tenant: str,
    *,
    name: str = "bench-sis",
    schools: tuple[str, ...] = (SCHOOL,),
) -> tuple[str, str]:
    """A service client with a statutory agreement on the identity data of `schools` (the
    bench's school; none: every school of the tenant); returns its (client id, client
    secret)."""
    made = create_client(
        container,
        tenant=tenant,
        name=name,
        scopes=["roster-core.readonly"],
        categories=["identity"],
        basis="statutory",
        schools=list(schools),
    )
    return made["client_id"], made["client_secret"]


def oneroster_token(base_url: str, credentials: tuple[str, str]) -> str:
    """The bearer token the client gets from `POST /oauth/token` (client credentials)."""
    answer = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=credentials,
        timeout=30.0,
    )
    require_status(answer, 200, what="the OAuth client-credentials token request")
    token: str = answer.json()["access_token"]
    return token
