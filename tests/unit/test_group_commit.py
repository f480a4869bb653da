"""The group commit's queue, on its own (no store): who commits, and with whom."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import cast

from domain.group_commit import GroupCommit, GroupedSave


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

    first = threading.Thread(target=save, args=(1,))
    first.start()
    assert committing.wait(30)
    queued = [threading.Thread(target=save, args=(n,)) for n in range(2, 7)]
    for thread in queued:
        thread.start()
    deadline = time.monotonic() + 30
    while group.queued < len(queued) and time.monotonic() < deadline:
        time.sleep(0.005)
    released.set()
    for thread in [first, *queued]:
        thread.join(30)

    assert positions == {n: n for n in range(1, 7)}
    assert group.groups == 2
