"""Bearer tokens (JWT, HS256): tenant, role, subject and scopes of the caller.

A token is valid while it is signed with the current signing key (derived from the master
key, so `digione keys rotate` retires every token issued before), unexpired, and not
revoked (`digione token revoke`, api/token_revocations.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt

from domain.commands import ROLES, Actor

ISSUER = "digione"
#: How far ahead of this server's clock another server's may be when it issues a token.
_CLOCK_SKEW_SECONDS = 60
#: Tokens whose signature and claims were read, kept so that a caller's next request skips
#: reading them again (PyJWT takes ~80 µs a token, a tenth of a command's time in the
#: server); emptied when full.
_VERIFIED_TOKENS_KEPT = 4096


class TokenError(Exception):
    """Raised when a bearer token is missing, malformed, expired or not ours."""


class Revocations(Protocol):
    def is_revoked(self, *, tenant: str, jti: str | None, subject: str, issued_at: int) -> bool: ...


class TokenService:
    """Issues and verifies the bearer tokens that carry an Actor."""

    def __init__(
        self,
        *,
        signing_key: bytes,
        ttl_seconds: int,
        clock: Callable[[], datetime],
        revocations: Revocations | None = None,
        before_verify: Callable[[], None] | None = None,
        before_verify_async: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._key = signing_key
        #: token → (the key it was verified with, its claims). Expiry, issue time and
        #: revocation are checked at every request, from the claims.
        self._decoded: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._ttl = ttl_seconds
        self._clock = clock
        self._revocations = revocations
        #: Runs first in every verification: the process takes changes other processes
        #: announced (a rotated master key replaces the signing key, a revocation is
        #: loaded; api/shared_epochs.py).
        self._before_verify = before_verify
        #: The same for `verify_async` (by default `before_verify` on the thread pool).
        self._before_verify_async = before_verify_async

    def replace_signing_key(self, signing_key: bytes) -> None:
        """Signs and verifies with a new key from now on: tokens signed before are refused
        (a kept token's claims count only with the key that verified them)."""
        self._key = signing_key
        self._decoded.clear()

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
        try:
            expires = now + self._lifetime(ttl_seconds)
        except OverflowError:
            raise ValueError(
                f"a token's lifetime of {ttl_seconds} seconds reaches past the year 9999"
            ) from None
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "tenant": tenant,
            "role": role,
            "scope": " ".join(sorted(set(scopes))),
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def _lifetime(self, ttl_seconds: int | None) -> timedelta:
        """`ttl_seconds`, or the configured lifetime when it is None; ValueError when it is
        not a positive number of seconds (0 used to mean the default, a negative number an
        expired token)."""
        if ttl_seconds is None:
            return timedelta(seconds=self._ttl)
        if ttl_seconds <= 0:
            raise ValueError(
                f"a token's lifetime must be a positive number of seconds, not {ttl_seconds} "
                "(e.g. 3600 for an hour; leave it out for the default)"
            )
        return timedelta(seconds=ttl_seconds)

    def verify(self, token: str) -> Actor:
        """The caller a token names; TokenError when it is malformed, not signed with the
        current key, expired or revoked."""
        if self._before_verify is not None:
            self._before_verify()
        return self._verified(token)

    async def verify_async(self, token: str) -> Actor:
        """As `verify`, for async callers: the announced changes are taken without holding
        the event loop, and the checks after them do no I/O."""
        if self._before_verify_async is not None:
            await self._before_verify_async()
        elif self._before_verify is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._before_verify)
        return self._verified(token)

    def _verified(self, token: str) -> Actor:
        claims = self._claims(token)
        now = self._clock().timestamp()
        if not isinstance(claims["exp"], int | float) or not isinstance(claims["iat"], int):
            raise TokenError("the bearer token's exp and iat must be numbers")
        if claims["exp"] < now:
            raise TokenError("the bearer token has expired; issue a new one")
        if claims["iat"] > now + _CLOCK_SKEW_SECONDS:
            raise TokenError("the bearer token is not valid yet (issued in the future)")
        role, tenant = claims.get("role"), claims.get("tenant")
        if role not in ROLES or not isinstance(tenant, str):
            raise TokenError("the bearer token carries no valid tenant and role")
        subject, jti = str(claims["sub"]), claims.get("jti")
        if self._revocations is not None and self._revocations.is_revoked(
            tenant=tenant,
            jti=jti if isinstance(jti, str) else None,
            subject=subject,
            issued_at=int(claims["iat"]),
        ):
            raise TokenError("the bearer token was revoked; ask for a new one")
        scopes = frozenset(str(claims.get("scope", "")).split())
        return Actor(tenant=tenant, role=role, subject=subject, scopes=scopes)

    def _claims(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature (with the current key), issuer and required
        claims are checked; read once per token and key, then kept."""
        key = self._key
        kept = self._decoded.get(token)
        if kept is not None and kept[0] is key:
            return kept[1]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                issuer=ISSUER,
                # Expiry and issue time are checked by the caller against our clock, at
                # every request, so tests can move time.
                options={
                    "require": ["exp", "iat", "sub", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise TokenError(f"the bearer token is not valid: {error}") from None
        if len(self._decoded) >= _VERIFIED_TOKENS_KEPT:
            self._decoded.clear()
        self._decoded[token] = (key, claims)
        return claims


def token_id(token: str) -> str:
    """A token's id (`jti`), read without verifying it: what `token revoke --jti` takes."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims.get("jti", ""))
