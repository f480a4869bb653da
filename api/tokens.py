"""Bearer tokens (JWT, HS256): tenant, role, subject and scopes of the caller."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import jwt

from domain.commands import ROLES, Actor

ISSUER = "digione"


class TokenError(Exception):
    """Raised when a bearer token is missing, malformed, expired or not ours."""


class TokenService:
    """Issues and verifies the bearer tokens that carry an Actor."""

    def __init__(
        self, *, signing_key: bytes, ttl_seconds: int, clock: Callable[[], datetime]
    ) -> None:
        self._key = signing_key
        self._ttl = ttl_seconds
        self._clock = clock

    def issue(
        self,
        *,
        tenant: str,
        role: str,
        subject: str,
        scopes: Iterable[str] = (),
        ttl_seconds: int | None = None,
    ) -> str:
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(sorted(ROLES))}")
        now = self._clock()
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "tenant": tenant,
            "role": role,
            "scope": " ".join(sorted(set(scopes))),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl_seconds or self._ttl)).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> Actor:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                # Expiry is checked below against our clock, so tests can move time.
                options={"require": ["exp", "iat", "sub", "iss"], "verify_exp": False},
            )
        except jwt.PyJWTError as error:
            raise TokenError(f"the bearer token is not valid: {error}") from None
        if claims["exp"] < self._clock().timestamp():
            raise TokenError("the bearer token has expired; issue a new one")
        role, tenant = claims.get("role"), claims.get("tenant")
        if role not in ROLES or not isinstance(tenant, str):
            raise TokenError("the bearer token carries no valid tenant and role")
        scopes = frozenset(str(claims.get("scope", "")).split())
        return Actor(tenant=tenant, role=role, subject=str(claims["sub"]), scopes=scopes)
