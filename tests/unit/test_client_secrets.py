"""A service's OAuth client secret never begins with "-": a command line would take it for
an option (`--client-secret "$SECRET"` failed with one secret in 64)."""

from __future__ import annotations

import pytest

from domain.agreement_commands import new_client_secret


def test_a_client_secret_is_drawn_again_while_it_would_begin_with_a_dash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = iter(["-looks-like-an-option", "--also", "Aq3-usable_secret"])
    monkeypatch.setattr("secrets.token_urlsafe", lambda _: next(drawn))

    assert new_client_secret() == "Aq3-usable_secret"


def test_client_secrets_are_43_url_safe_characters_of_32_random_bytes() -> None:
    secrets = {new_client_secret() for _ in range(500)}

    assert len(secrets) == 500
    assert all(len(s) == 43 and not s.startswith("-") for s in secrets)
