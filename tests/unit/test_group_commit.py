"""The group commit's queue, on its own (no store): who commits, and with whom."""

from __future__ import annotations

from collections.abc import Sequence

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
