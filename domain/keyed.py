"""Commands sent with an idempotency key: the key's answer is stored with their events.

The caller (the HTTP API) says how a command's outcome is answered; the tenant application
renders the answer once the command's store position is known, inside the transaction
that records its events (`domain.recorders`). So a command is recorded with its answer or
not at all: a crash in between cannot leave events whose key has no answer, and a retry,
in this process or another, cannot record the command twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from domain.commands import Outcome
from domain.tenant_tables import IdempotentAnswer


@dataclass(frozen=True)
class KeyedCommand:
    """A command's idempotency key and how its outcome is answered."""

    #: Who sent it (a key is the caller's own: another caller's same key is another key).
    principal: str
    key: str
    #: A digest of the request: the same key with another request is refused.
    request_hash: str
    #: The answer to give for an outcome: the caller's code and body text.
    answer: Callable[[Outcome], tuple[int, str]]


class KeyAnsweredError(Exception):
    """The key was answered by another request (a retry that raced this one, in this or
    another process) while this one ran; this one recorded nothing."""

    def __init__(self, answer: IdempotentAnswer) -> None:
        super().__init__("the Idempotency-Key was answered by a concurrent request")
        self.answer = answer


@dataclass
class KeyedRun:
    """A keyed command being run: what it answered, once stored with its events."""

    command: KeyedCommand
    answer: IdempotentAnswer | None = None


#: The keyed command the current request runs, if any (set by `TenantCore.keyed`).
current_keyed_run: ContextVar[KeyedRun | None] = ContextVar("current_keyed_run", default=None)
