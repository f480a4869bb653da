"""The agreements a process holds between a client's requests: forgotten on the service
agreements' announcement, and never held longer than MAX_HELD_SECONDS even without one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from api.oneroster.agreements import MAX_HELD_SECONDS, ClientAgreements
from domain.application import TenantApplication
from tests.conftest import Ticking


@dataclass
class _Agreement:
    schools: list[str]
    service: str = "learnapp"
    scopes: list[str] = field(default_factory=lambda: ["roster-core.readonly"])
    categories: list[str] = field(default_factory=list)
    basis: str = "statutory"
    purpose: str | None = None
    ended: bool = False


@dataclass
class _Store:
    """A tenant's store as the holder reads it: the agreement as recorded now."""

    recorded: _Agreement
    tenant: str = "vantaa"
    reads: int = 0

    def agreement(self, client_id: str) -> _Agreement:
        self.reads += 1
        return self.recorded


def test_a_change_stored_without_its_announcement_is_read_within_the_longest_hold() -> None:
    clock = Ticking()
    held = ClientAgreements(clock=clock)
    store = _Store(_Agreement(schools=["sch-1", "sch-2"]))
    app = cast(TenantApplication, store)
    held.terms(app, "client-1")

    store.recorded = _Agreement(schools=["sch-1"])  # … and no announcement followed
    clock.now += MAX_HELD_SECONDS / 2
    meanwhile = held.terms(app, "client-1")
    clock.now += MAX_HELD_SECONDS
    later = held.terms(app, "client-1")

    assert meanwhile is not None and meanwhile.schools == {"sch-1", "sch-2"}
    assert later is not None and later.schools == {"sch-1"}
    assert store.reads == 2


def test_an_announcement_makes_the_next_request_read_the_agreement_again() -> None:
    held = ClientAgreements(clock=Ticking())
    store = _Store(_Agreement(schools=["sch-1"]))
    app = cast(TenantApplication, store)
    held.terms(app, "client-1")

    store.recorded = _Agreement(schools=["sch-1"], ended=True)
    held.forget_all()

    assert held.terms(app, "client-1") is None
