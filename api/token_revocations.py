"""Revoked bearer tokens: one token by its id (`jti`), or every token a subject held.

Kept in the main database, so every server process sharing it refuses a revoked token on
its next request (`digione token revoke` writes here; `TokenService.verify` asks here).
Each process answers from the revocations held in memory, loaded once and reloaded when
the token revocations' epoch changes (api/shared_epochs.py): a revocation bumps it in its
own transaction, and a process looks at the epochs before it verifies each request's
token, so no request that arrives after a revocation committed is let through.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.shared_epochs import TOKEN_REVOCATIONS, bump_epoch

__all__ = ["TokenRevocations", "revocations_table"]

metadata = sa.MetaData()
revocations_table = sa.Table(
    "digione_token_revocations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(32), nullable=False),
    #: One token's id; null when every token of `subject` issued until `revoked_at` is.
    sa.Column("jti", sa.String(64), nullable=True),
    sa.Column("subject", sa.String(256), nullable=True),
    #: Seconds since the epoch (a token's `iat` is whole seconds too).
    sa.Column("revoked_at", sa.BigInteger, nullable=False),
    sa.Index("digione_token_revocations_jti", "tenant", "jti"),
    sa.Index("digione_token_revocations_subject", "tenant", "subject"),
)


@dataclass(frozen=True)
class _Revoked:
    """Every revocation, as read at one moment."""

    #: (tenant, jti) of each token revoked by its id.
    tokens: frozenset[tuple[str, str]] = frozenset()
    #: (tenant, subject) → the latest time until which the subject's tokens are revoked.
    subjects: dict[tuple[str, str], int] = field(default_factory=dict)


class TokenRevocations:
    """Writes revocations, and answers whether a token is revoked from memory."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)
        self._revoked: _Revoked | None = None
        self._load_lock = threading.Lock()

    def revoke_token(self, *, tenant: str, jti: str, at: datetime) -> None:
        """Revokes the one token whose id is `jti`."""
        self._insert(tenant=tenant, jti=jti, subject=None, at=at)

    def revoke_subject(self, *, tenant: str, subject: str, at: datetime) -> None:
        """Revokes every token of `subject` issued until `at`; tokens issued later are valid
        (a revocation is not a ban: whoever issues tokens decides whom they issue them to)."""
        self._insert(tenant=tenant, jti=None, subject=subject, at=at)

    @property
    def is_loaded(self) -> bool:
        return self._revoked is not None

    def load_once(self) -> None:
        """Reads the revocations unless they were read already (then the epoch keeps them
        current: `reload`)."""
        if self._revoked is None:
            with self._load_lock:
                if self._revoked is None:
                    self._revoked = self._read()

    def reload(self) -> None:
        """Reads the revocations again (their epoch changed: another process revoked)."""
        with self._load_lock:
            self._revoked = self._read()

    def is_revoked(self, *, tenant: str, jti: str | None, subject: str, issued_at: int) -> bool:
        """Whether the token is revoked; answered from memory once loaded."""
        self.load_once()
        revoked = self._revoked
        assert revoked is not None
        if jti is not None and (tenant, jti) in revoked.tokens:
            return True
        until = revoked.subjects.get((tenant, subject))
        return until is not None and until >= issued_at

    def _read(self) -> _Revoked:
        t = revocations_table.c
        tokens: set[tuple[str, str]] = set()
        subjects: dict[tuple[str, str], int] = {}
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(t.tenant, t.jti, t.subject, t.revoked_at))
            for tenant, jti, subject, revoked_at in rows:
                if jti is not None:
                    tokens.add((tenant, jti))
                elif subject is not None:
                    key = (tenant, subject)
                    subjects[key] = max(int(revoked_at), subjects.get(key, int(revoked_at)))
        return _Revoked(frozenset(tokens), subjects)

    def _insert(self, *, tenant: str, jti: str | None, subject: str | None, at: datetime) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                revocations_table.insert().values(
                    tenant=tenant, jti=jti, subject=subject, revoked_at=int(at.timestamp())
                )
            )
            # Announced in the same transaction: a process that sees the new epoch reads
            # the revocation with it.
            bump_epoch(connection, TOKEN_REVOCATIONS)
        if self._revoked is not None:
            self.reload()
