"""The agreements of the service clients calling, held in memory between their requests.

Every OneRoster request needs its client's agreement as recorded now (an ended agreement
stops its tokens at once). Reading it from the event store on every request costs a query
and a replay, so each process holds the agreements in force it has read, and forgets them
all when the service agreements' epoch changes (api/shared_epochs.py): a command that
changes or ends an agreement bumps it right after the change is stored, before it answers,
and every request looks at the epochs before its token is trusted (`verify_async`), so a
request made after the command answered reads the agreement anew.

Only agreements in force are held: an unknown or ended client is looked up again each time
(a new agreement needs no announcement, and an ended one never comes back). And none is
held longer than `MAX_HELD_SECONDS`: should a change ever be stored without its
announcement (a process killed between the two), the old terms outlive it by that at most.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from domain.agreements import Agreement
from domain.application import TenantApplication

__all__ = ["MAX_HELD_SECONDS", "AgreementTerms", "ClientAgreements"]

#: The longest an agreement is held without being read again, announcement or not.
MAX_HELD_SECONDS = 30.0


@dataclass(frozen=True)
class AgreementTerms:
    """What a read needs of an agreement in force (a copy: the aggregate is mutable)."""

    service: str
    #: The scope URIs it grants.
    scopes: frozenset[str]
    categories: frozenset[str]
    basis: str
    schools: frozenset[str]
    purpose: str | None

    @classmethod
    def of(cls, agreement: Agreement) -> AgreementTerms:
        return cls(
            service=agreement.service,
            scopes=frozenset(agreement.scopes),
            categories=frozenset(agreement.categories),
            basis=agreement.basis,
            schools=frozenset(agreement.schools),
            purpose=agreement.purpose,
        )


class ClientAgreements:
    """The terms of the agreements in force that this process has read, by (tenant, client)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: The terms, and when they were read.
        self._held: dict[tuple[str, str], tuple[AgreementTerms, float]] = {}
        #: Counts `forget_all` calls: a read that began before one does not keep what it read.
        self._generation = 0
        self._lock = threading.Lock()

    def held(self, tenant: str, client_id: str) -> AgreementTerms | None:
        """The terms held in memory (no I/O); None when they must be read."""
        held = self._held.get((tenant, client_id))
        if held is None or self._clock() - held[1] > MAX_HELD_SECONDS:
            return None
        return held[0]

    def read(self, app: TenantApplication, client_id: str) -> AgreementTerms | None:
        """The client's agreement in force, read from the event store and held; None when
        there is none or it has ended."""
        generation = self._generation
        read_at = self._clock()
        agreement = app.agreement(client_id)
        if agreement is None or agreement.ended:
            return None
        terms = AgreementTerms.of(agreement)
        with self._lock:
            # Forgotten meanwhile: what was read may be older than the announced change.
            if generation == self._generation:
                self._held[(app.tenant, client_id)] = (terms, read_at)
        return terms

    def terms(self, app: TenantApplication, client_id: str) -> AgreementTerms | None:
        """The held terms, else `read`."""
        return self.held(app.tenant, client_id) or self.read(app, client_id)

    def forget_all(self) -> None:
        """Drops every held agreement (the service agreements' epoch changed)."""
        with self._lock:
            self._generation += 1
            self._held = {}
