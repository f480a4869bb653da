"""Shared looks at the epochs (api/shared_epochs.CatchUpRounds): a request waits for a look
that began after it arrived, and the requests that wait together share one."""

from __future__ import annotations

import asyncio

import pytest

from api.shared_epochs import CatchUpRounds

WAIT = 10.0


class Looks:
    """A look at the epochs that counts its looks; the first one is held until released."""

    def __init__(self, *, failing: int | None = None) -> None:
        self.begun = 0
        self.finished = 0
        self.failing = failing
        self.first_begun = asyncio.Event()
        self.release_first = asyncio.Event()

    async def __call__(self) -> None:
        self.begun += 1
        if self.begun == 1:
            self.first_begun.set()
            await asyncio.wait_for(self.release_first.wait(), WAIT)
        if self.begun == self.failing:
            raise ConnectionError("the database is away")
        self.finished += 1


def test_a_request_that_arrives_during_a_look_waits_for_the_next_look_which_it_shares() -> None:
    looks = Looks()
    rounds = CatchUpRounds(looks)

    async def verified() -> int:
        await rounds()
        return looks.finished

    async def scenario() -> tuple[int, list[int]]:
        first = asyncio.create_task(verified())
        await asyncio.wait_for(looks.first_begun.wait(), WAIT)
        later = [asyncio.create_task(verified()) for _ in range(3)]
        await asyncio.sleep(0)
        looks.release_first.set()
        return await first, list(await asyncio.gather(*later))

    first, later = asyncio.run(scenario())

    assert first >= 1
    assert later == [2, 2, 2]
    assert looks.begun == 2


def test_a_failed_look_fails_each_request_waiting_for_it_and_the_next_request_looks_again() -> None:
    looks = Looks(failing=1)
    looks.release_first.set()
    rounds = CatchUpRounds(looks)

    async def scenario() -> list[BaseException | None]:
        failed = await asyncio.gather(rounds(), rounds(), return_exceptions=True)
        await rounds()
        return list(failed)

    failed = asyncio.run(scenario())

    assert [type(error) for error in failed] == [ConnectionError, ConnectionError]
    assert looks.finished == 1


def test_a_request_that_goes_away_leaves_the_look_to_the_others() -> None:
    looks = Looks()
    rounds = CatchUpRounds(looks)

    async def scenario() -> int:
        leaving = asyncio.create_task(rounds())
        staying = asyncio.create_task(rounds())
        await asyncio.wait_for(looks.first_begun.wait(), WAIT)
        leaving.cancel()
        looks.release_first.set()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        await staying
        return looks.finished

    assert asyncio.run(scenario()) == 1
