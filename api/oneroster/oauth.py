"""`POST /oauth/token`: OAuth 2.0 client credentials (RFC 6749 §4.4) for service clients.

The client authenticates with its id and secret by HTTP Basic (§2.3.1, the recommended way)
or as form fields `client_id` and `client_secret`, as real OneRoster clients do both. The
token carries the scopes asked for (`scope`, space-separated URIs or short names) that the
client's agreement grants, or all of them when none are asked for. Errors are RFC 6749
§5.2 JSON (`{"error": "invalid_client", "error_description": …}`), as OAuth clients expect.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.bootstrap import Container
from api.deps import ContainerDep
from api.request_threads import in_request_thread
from domain.agreement_commands import scope_uri

__all__ = ["TOKEN_LIFETIME_SECONDS", "router"]

#: How long a client's access token lives (then it asks for a new one).
TOKEN_LIFETIME_SECONDS = 3600

router = APIRouter(tags=["OAuth 2.0"])


def _error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="digione"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both are form-urlencoded before they are joined.
    return (unquote(client_id), unquote(secret)) if sep else None


def _token(container: Container, client_id: str, secret: str, asked: list[str]) -> JSONResponse:
    _, at, tenant = client_id.rpartition("@")
    if not at or not container.tenants.exists(tenant):
        return _error(401, "invalid_client", "unknown client or wrong secret")
    app = container.tenants.get(tenant)
    agreement = app.authenticated_agreement(client_id, secret)
    if agreement is None:
        return _error(401, "invalid_client", "unknown client or wrong secret")
    granted = set(agreement.scopes)
    if asked:
        uris = [scope_uri(s) for s in asked]
        refused = [s for s, u in zip(asked, uris, strict=True) if u is None or u not in granted]
        if refused:
            return _error(400, "invalid_scope", f"the client's agreement does not grant {refused}")
        granted = {u for u in uris if u is not None}
    token = container.tokens.issue(
        tenant=tenant,
        role="service",
        subject=client_id,
        scopes=sorted(granted),
        ttl_seconds=TOKEN_LIFETIME_SECONDS,
    )
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": " ".join(sorted(granted)),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.post(
    "/oauth/token",
    summary="OAuth 2.0 client credentials: an access token for a service client",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string"},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                        "required": ["grant_type"],
                    }
                }
            }
        }
    },
)
async def token(request: Request, container: ContainerDep) -> JSONResponse:
    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    credentials = _basic(request.headers.get("authorization"))
    if credentials is None:
        if "client_id" not in form or "client_secret" not in form:
            return _error(
                401,
                "invalid_client",
                "send the client id and secret by HTTP Basic or as client_id and client_secret",
            )
        credentials = (form["client_id"], form["client_secret"])
    asked = form.get("scope", "").split()
    return await in_request_thread(_token, container, *credentials, asked)
