"""Commands that check their references on this process's copies, validated at their save.

A command reads the records it refers to (a class, to check that the teacher teaches it and
the student is enrolled) and changes others. The repository keeps a copy of each record it
read; asking the store whether a copy is still current is a round trip per reference per
command, even when nothing changed, and under load that round trip (and the wait for the
GIL after it) was a fifth of a command's time.

A command run under `validated_reads` skips it: each reference is read from the kept copy
as it is, and noted with the version read. The save's transaction then checks, under the
lock of the events table, that none of the noted records has a later event
(domain/recorders.py READ_VERSIONS), so a command checked against a copy that another
process (or this one) changed since records nothing: its save raises StaleReadsError, and
`validated_reads` runs the command again, reading every reference from the store as
commands always did. What commits was checked against what the store held when it
committed: no other save of the tenant's events can come in between. A command refused
after reading references unchecked (a teacher not found in the kept copy of a class) is
run again the same way, so that a refusal too is decided on what the store holds: a
refused command costs two runs.

Records read to be changed are read from the store as before (their save is checked by
version already); a save batch (domain/batch.py) reads its own; a recorder that does not
validate reads (SQLite: `VALIDATES_READS`) gets commands that read from the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from uuid import UUID

from domain.recorders import READ_VERSIONS, StaleReadsError

__all__ = ["ReadSet", "current_reads", "read_versions_of", "validated_reads"]


class ReadSet:
    """The records a command read unchecked, each with the version it read."""

    def __init__(self) -> None:
        self._versions: dict[UUID, int] = {}
        #: The command went on to save (what fails after that is not the reads' doing).
        self.saving = False
        #: One of its saves recorded (it is not run again: that would record twice).
        self.saved = False

    def note(self, record_id: UUID, version: int) -> None:
        # The lowest version read of a record is the one its check needs.
        known = self._versions.get(record_id)
        if known is None or version < known:
            self._versions[record_id] = version

    def merge(self, other: ReadSet) -> None:
        for record_id, version in other._versions.items():
            self.note(record_id, version)

    def pairs(self) -> list[tuple[UUID, int]]:
        """(record id, version read) pairs, as the recorder takes them."""
        return list(self._versions.items())

    def __bool__(self) -> bool:
        return bool(self._versions)


#: The read set of the command running in this context (None: reads go to the store).
current_reads: ContextVar[ReadSet | None] = ContextVar("current_reads", default=None)


class _ValidatingApplication(Protocol):
    @property
    def validates_reads(self) -> bool: ...


P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A", bound=_ValidatingApplication)


def validated_reads(
    command: Callable[Concatenate[A, P], R],
) -> Callable[Concatenate[A, P], R]:
    """Runs the command with its references read from the kept copies and checked at its
    save; when one had changed, runs it again with every reference read from the store."""

    @functools.wraps(command)
    def run(app: A, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if current_reads.get() is not None or not app.validates_reads:
            # Inside another validated command (its save checks the reads), or a store
            # that cannot check them.
            return command(app, *args, **kwargs)
        reads = ReadSet()
        token = current_reads.set(reads)
        try:
            return command(app, *args, **kwargs)
        except StaleReadsError:
            if reads.saved:
                raise
        except Exception:
            if not reads or reads.saving:
                raise
            # Refused on copies that may be out of date, before any save checked them:
            # the refusal is decided on fresh reads.
        finally:
            current_reads.reset(token)
        return command(app, *args, **kwargs)

    return run


def read_versions_of(reads: ReadSet | None) -> dict[str, Any]:
    """The recorder's keyword argument for a save's unchecked reads (none: no argument)."""
    return {READ_VERSIONS: reads.pairs()} if reads else {}
