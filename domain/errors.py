"""Named domain errors: each says what was wrong and what to do about it."""

from __future__ import annotations


class DomainError(Exception):
    """Raised when a command breaks a rule of the domain; the message is safe to show."""

    #: A stable, machine-readable name of the rule, used in problem details.
    code = "domain-rule"
    #: The field of the command the rule is about, when there is one.
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class InvalidValueError(DomainError):
    """Raised when a field of a command has a value the domain does not accept."""

    code = "invalid-value"


class UnknownReferenceError(DomainError):
    """Raised when a command refers to a sourcedId that does not exist in the tenant."""

    code = "unknown-reference"


class NotFoundError(DomainError):
    """Raised when the aggregate a command addresses does not exist."""

    code = "not-found"


class NotPermittedError(DomainError):
    """Raised when the caller's role or relation does not allow the command."""

    code = "not-permitted"


class ConflictError(DomainError):
    """Raised when a command contradicts the current state of an aggregate."""

    code = "conflict"


class ResultExistsError(ConflictError):
    """Raised when a student already has a result for the line item (OneRoster: one result
    per student per line item); a correction names that result's sourcedId."""

    code = "result-exists"

    def __init__(self, message: str, *, existing: str) -> None:
        super().__init__(message, field="lineItem")
        self.existing = existing


class ConcurrentUpdateError(ConflictError):
    """Raised when another writer changed the aggregate between read and save."""

    code = "concurrent-update"


class ConsentNotAllowedError(NotPermittedError):
    """Raised when the person granting a consent has no right to give it."""

    code = "consent-not-allowed"


class UnknownTenantError(DomainError):
    """Raised when a tenant id names no municipality known to this installation."""

    code = "unknown-tenant"
