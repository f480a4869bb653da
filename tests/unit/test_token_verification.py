"""A token verified once is kept only as far as its signature goes: expiry, revocation and
the signing key are checked at every request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.tokens import TokenError, TokenService
from tests.conftest import FakeClock


def a_clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))


class RevokedSubjects:
    def __init__(self) -> None:
        self.subjects: set[str] = set()

    def is_revoked(self, *, tenant: str, jti: str | None, subject: str, issued_at: int) -> bool:
        return subject in self.subjects


def service(clock: FakeClock, revocations: RevokedSubjects | None = None) -> TokenService:
    return TokenService(
        signing_key=b"k" * 32, ttl_seconds=3600, clock=clock, revocations=revocations
    )


def test_a_token_verified_before_is_refused_once_the_signing_key_is_replaced() -> None:
    tokens = service(a_clock())
    token = tokens.issue(tenant="espoo", role="teacher", subject="tea-1")
    assert tokens.verify(token).subject == "tea-1"

    tokens.replace_signing_key(b"n" * 32)

    with pytest.raises(TokenError, match="not valid"):
        tokens.verify(token)


def test_a_token_verified_before_is_refused_once_it_expires() -> None:
    clock = a_clock()
    tokens = service(clock)
    token = tokens.issue(tenant="espoo", role="teacher", subject="tea-1")
    assert tokens.verify(token).role == "teacher"

    clock.advance(hours=2)

    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token)


def test_a_token_verified_before_is_refused_once_its_subject_is_revoked() -> None:
    revoked = RevokedSubjects()
    tokens = service(a_clock(), revoked)
    token = tokens.issue(tenant="espoo", role="guardian", subject="gua-1")
    assert tokens.verify(token).subject == "gua-1"

    revoked.subjects.add("gua-1")

    with pytest.raises(TokenError, match="revoked"):
        tokens.verify(token)


def test_a_tampered_token_is_refused_every_time_it_is_sent() -> None:
    tokens = service(a_clock())
    header, payload, signature = tokens.issue(tenant="espoo", role="teacher", subject="t").split(
        "."
    )
    tampered = f"{header}.{payload}.{signature[::-1]}"

    for _ in range(2):
        with pytest.raises(TokenError, match="not valid"):
            tokens.verify(tampered)


def test_more_tokens_than_a_server_keeps_are_each_verified_as_their_own_caller() -> None:
    tokens = service(a_clock())
    issued = [tokens.issue(tenant="espoo", role="student", subject=f"s{n}") for n in range(5000)]

    subjects = [tokens.verify(token).subject for token in issued + issued[:10]]

    assert subjects == [f"s{n}" for n in range(5000)] + [f"s{n}" for n in range(10)]
