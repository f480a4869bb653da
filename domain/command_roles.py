"""Which roles may ever issue a command: the checks that need nothing but the caller.

The API runs them before it reads a command's body (api/deps.py's `Permit`), so a caller
who may never issue a command is refused whatever they send, and learns nothing of the
body's rules; the commands run them too, so every other way in is refused alike.
"""

from __future__ import annotations

from domain.commands import Actor
from domain.errors import NotPermittedError

__all__ = [
    "require_consent_grantor",
    "require_data_protection_officer",
    "require_roster_writer",
    "require_teacher",
]


def require_roster_writer(actor: Actor) -> None:
    """Rosters are written by an admin or the student information system's service."""
    if actor.role == "admin":
        return
    if actor.role == "service" and "roster.createput" in actor.scopes:
        return
    raise NotPermittedError(
        "only an admin or the student information system's service (scope "
        "roster.createput) writes rosters"
    )


def require_teacher(actor: Actor) -> None:
    """Line items, assessments and attainments are recorded by teachers (of the class,
    which the command checks against the store)."""
    if actor.role != "teacher":
        raise NotPermittedError(
            "only a teacher of the class records its line items, assessments and attainments"
        )


def require_consent_grantor(actor: Actor) -> None:
    """A consent is granted by a guardian or a student (for themself, which the command
    checks against the body)."""
    if actor.role not in ("guardian", "student"):
        # Says nothing of the body: the caller is refused whatever they send.
        raise NotPermittedError("only a guardian or a student grants consents")


def require_data_protection_officer(actor: Actor) -> None:
    """Erasure (GDPR art. 17) is requested by an admin, the data protection officer."""
    if actor.role != "admin":
        raise NotPermittedError("only an admin (the data protection officer) erases data")
