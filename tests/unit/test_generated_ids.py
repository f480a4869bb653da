"""New record ids: random version-4 UUIDs, never drawn twice, not even by a forked child."""

from __future__ import annotations

import multiprocessing
import os
import threading
from uuid import UUID

import pytest

from domain.commands import Actor
from domain.tenant_core import generated_id

TEACHER = Actor("tenant", "teacher", "tea-1")


def _ids_drawn_in_a_child(count: int, sent: multiprocessing.Queue[list[str]]) -> None:
    sent.put([generated_id(TEACHER, None) for _ in range(count)])


def test_a_new_record_id_is_a_version_4_uuid_never_drawn_before() -> None:
    drawn = [generated_id(TEACHER, None) for _ in range(10_000)]

    assert len(set(drawn)) == len(drawn)
    assert {UUID(value).version for value in drawn} == {4}


def test_threads_drawing_at_once_never_draw_the_same_id() -> None:
    drawn: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(drawn))

    def draw(into: list[str]) -> None:
        start.wait()
        into.extend(generated_id(TEACHER, None) for _ in range(2_000))

    threads = [threading.Thread(target=draw, args=(ids,)) for ids in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [value for ids in drawn for value in ids]
    assert len(every) == 16_000
    assert len(set(every)) == len(every)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_draws_other_ids_than_its_parent() -> None:
    context = multiprocessing.get_context("fork")
    sent: multiprocessing.Queue[list[str]] = context.Queue()
    child = context.Process(target=_ids_drawn_in_a_child, args=(100, sent))

    child.start()
    in_child = sent.get(timeout=30)
    child.join(30)
    in_parent = [generated_id(TEACHER, None) for _ in range(100)]

    assert not set(in_child) & set(in_parent)
