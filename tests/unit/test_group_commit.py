"""The group commit's queue, on its own (no store): who commits, and with whom."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import cast

from domain.group_commit import GroupCommit, GroupedSave
from domain.recorders import StaleReadsError


def test_a_save_made_while_committing_a_group_is_saved_alone_instead_of_waiting_for_itself() -> (
    None
):
    saved_alone: list[GroupedSave] = []
    commits: list[int] = []

    def together(saves: Sequence[GroupedSave]) -> list[int | None]:
        # A listener of the save that records something of its own.
        if not commits:
            commits.append(len(saves))
            group.save((), ())
        return [len(commits)] * len(saves)

    def alone(save: GroupedSave) -> int | None:
        saved_alone.append(save)
        return 99

    group = GroupCommit(together=together, alone=alone)

    position = group.save((), ())

    assert position == 1
    assert len(saved_alone) == 1
    assert group.groups == 1


def test_each_save_of_a_group_is_woken_with_its_own_position() -> None:
    committing, released = threading.Event(), threading.Event()

    def together(saves: Sequence[GroupedSave]) -> list[int | None]:
        if not committing.is_set():
            # The first group keeps the committer busy while the others queue.
            committing.set()
            released.wait(30)
        return [cast("int", save.prepared) for save in saves]

    group = GroupCommit(together=together, alone=lambda _save: None)
    positions: dict[int, int | None] = {}

    def save(position: int) -> None:
        positions[position] = group.save((), (), prepared=position)

    run_behind_a_busy_committer(
        group, committing, released, (1,), [(n,) for n in range(2, 7)], save
    )

    assert positions == {n: n for n in range(1, 7)}
    assert group.groups == 2


def test_a_group_whose_unchecked_reads_changed_fails_their_commands_and_saves_the_rest_alone() -> (
    None
):
    committing, released = threading.Event(), threading.Event()
    saved_alone: list[object] = []

    def together(saves: Sequence[GroupedSave]) -> list[int | None]:
        if not committing.is_set():
            committing.set()
            released.wait(30)
            return [1]
        # A record one of the group's commands read unchecked changed before the save.
        raise StaleReadsError("a record the command read changed before its save")

    def alone(save: GroupedSave) -> int | None:
        saved_alone.append(save.prepared)
        return 7

    group = GroupCommit(together=together, alone=alone)
    outcomes: dict[str, object] = {}

    def save(name: str, reads: object) -> None:
        try:
            outcomes[name] = group.save((), (), prepared=name, reads=reads)
        except StaleReadsError as error:
            outcomes[name] = error

    run_behind_a_busy_committer(
        group,
        committing,
        released,
        ("first", None),
        [("read unchecked", {"class": 3}), ("read nothing", None)],
        save,
    )

    assert isinstance(outcomes["read unchecked"], StaleReadsError)
    assert outcomes["read nothing"] == 7
    assert saved_alone == ["read nothing"]


def run_behind_a_busy_committer(
    group: GroupCommit,
    committing: threading.Event,
    released: threading.Event,
    first: tuple[object, ...],
    queued: list[tuple[object, ...]],
    save: Callable[..., None],
) -> None:
    """Saves `first`, whose group holds the committer until `released`; meanwhile the
    `queued` saves queue (one group after it); returns once all of them are settled."""
    holder = threading.Thread(target=save, args=first)
    holder.start()
    assert committing.wait(30)
    threads = [threading.Thread(target=save, args=args) for args in queued]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while group.queued < len(threads) and time.monotonic() < deadline:
        time.sleep(0.005)
    released.set()
    for thread in [holder, *threads]:
        thread.join(30)
