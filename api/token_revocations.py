"""Revoked bearer tokens: one token by its id (`jti`), or every token a subject held.

Kept in the main database, so every server process sharing it refuses a revoked token on
its next request (`digione token revoke` writes here; `TokenService.verify` reads here).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

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


class TokenRevocations:
    """Writes and looks up revocations; one indexed query per verified token."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)

    def revoke_token(self, *, tenant: str, jti: str, at: datetime) -> None:
        """Revokes the one token whose id is `jti`."""
        self._insert(tenant=tenant, jti=jti, subject=None, at=at)

    def revoke_subject(self, *, tenant: str, subject: str, at: datetime) -> None:
        """Revokes every token of `subject` issued until `at`; tokens issued later are valid
        (a revocation is not a ban: whoever issues tokens decides whom they issue them to)."""
        self._insert(tenant=tenant, jti=None, subject=subject, at=at)

    def is_revoked(self, *, tenant: str, jti: str | None, subject: str, issued_at: int) -> bool:
        t = revocations_table.c
        by_subject = sa.and_(t.jti.is_(None), t.subject == subject, t.revoked_at >= issued_at)
        condition = by_subject if jti is None else sa.or_(t.jti == jti, by_subject)
        # Checked on every request: in autocommit, so one round trip, not three.
        with self._engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            row = connection.execute(
                sa.select(t.id).where(t.tenant == tenant, condition).limit(1)
            ).first()
        return row is not None

    def _insert(self, *, tenant: str, jti: str | None, subject: str | None, at: datetime) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                revocations_table.insert().values(
                    tenant=tenant, jti=jti, subject=subject, revoked_at=int(at.timestamp())
                )
            )
