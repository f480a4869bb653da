"""Whether the roster knows the person a token is issued to: `digione token issue` warns when it
does not, since a token for a misspelt sourcedId is valid but shows its holder nothing."""

from __future__ import annotations

from domain.errors import DomainError
from domain.record import TO_BE_DELETED
from domain.roster import User
from domain.tenant_core import TenantCore

__all__ = ["roster_warning"]

#: The OneRoster 1.2 user roles (Role.role) under which the roster knows a person of each token
#: role that reads through the roster; admin, auditor and service tokens name no roster user.
ROSTER_ROLES = {
    "student": frozenset({"student"}),
    # Enrolled as a class's teacher, which the roster allows only to a user with this role.
    "teacher": frozenset({"teacher"}),
    # The people a student's record names as its agents.
    "guardian": frozenset({"guardian", "parent", "relative"}),
}


def roster_warning(app: TenantCore, *, role: str, subject: str) -> str | None:
    """What is wrong with a `role` token for `subject` by the tenant's roster, or None when
    the roster knows them in that role (or the role names no roster user)."""
    wanted = ROSTER_ROLES.get(role)
    if wanted is None:
        return None
    consequence = f"the token is issued, but it shows this {role} nothing"
    try:
        user = app.find("users", subject)
    except DomainError as error:  # a malformed sourcedId
        return f"{error.message}; {consequence}"
    if not isinstance(user, User):
        return (
            f"the roster of {app.tenant} has no user {subject!r}; {consequence} until the "
            "roster has them (check the sourcedId)"
        )
    roles = sorted({r for r, _org in user.roles})
    if not wanted & set(roles):
        known_as = ", ".join(roles) or "a user without a role"
        return (
            f"the roster of {app.tenant} knows {subject!r} as {known_as}, not as a {role}; "
            f"{consequence} (check --role and --subject)"
        )
    if user.status == TO_BE_DELETED:
        return f"{subject!r} is marked tobedeleted in the roster of {app.tenant}"
    return None
