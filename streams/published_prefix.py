"""Which store positions the relay may record as published while messages are in flight.

The relay produces without waiting for each batch's acknowledgement, so acknowledgements
come back while later events are still being sent, and not necessarily in store order
(partitions are acknowledged independently). The published position may move only over
the unbroken prefix of settled events: acknowledged ones, and ones the relay parks (refused
for what they are). An event whose delivery failed holds the position back, whatever is
acknowledged after it; the next pass publishes again from there, so nothing is ever
skipped (the acknowledged events after it are published twice, which consumers absorb).

Tens of thousands of events are in flight at once, so the bookkeeping is a few flat lists
indexed by a token per event (no object per event for the garbage collector to walk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["Advance", "PublishedPrefix"]

_SENT: Final = 0
_ACKNOWLEDGED: Final = 1
_REFUSED: Final = 2
_FAILED: Final = 3

#: Settled entries kept at the front before the lists are cut (amortised compaction).
_COMPACT_AFTER: Final = 65_536


@dataclass(frozen=True)
class Advance:
    """What the prefix moved over since the last advance: the relay records it in one
    transaction (the new position, the partition positions, the events to park)."""

    #: The first and last store positions moved over (first is 0 when nothing was).
    first: int
    last: int
    #: The last position acknowledged on each (topic, partition) within the range.
    partitions: dict[tuple[str, int], int] = field(default_factory=dict)
    #: Positions refused for what they are, with why: parked as the position passes them.
    refused: dict[int, str] = field(default_factory=dict)

    @property
    def moved(self) -> bool:
        return self.first > 0


class PublishedPrefix:
    """Events sent after `position`, in store order, and how each one settled. `sent`
    hands out a token per event; the reports name the event by it."""

    def __init__(self, position: int) -> None:
        self._position = position
        #: Token of the first entry still in the lists.
        self._base = 0
        #: Index (in the lists) of the first entry not moved over yet.
        self._head = 0
        self._positions: list[int] = []
        self._states = bytearray()
        self._topics: list[str] = []
        self._partitions: list[int] = []
        self._reasons: dict[int, str] = {}
        self._failed: list[tuple[int, str]] = []

    @property
    def position(self) -> int:
        """Everything up to here is settled (and was handed out by `advance`)."""
        return self._position

    @property
    def in_flight(self) -> int:
        """Events sent and not yet moved over (unsettled, or settled behind one that is not)."""
        return len(self._positions) - self._head

    @property
    def failure(self) -> tuple[int, str] | None:
        """The first failed delivery (its position and why), if any: the prefix stops there."""
        return self._failed[0] if self._failed else None

    def sent(self, position: int) -> int:
        """An event handed to the producer (positions must increase); returns its token."""
        last = self._positions[-1] if self._positions else self._position
        if position <= last:
            raise ValueError(f"position {position} sent after {last}: store order is required")
        self._positions.append(position)
        self._states.append(_SENT)
        self._topics.append("")
        self._partitions.append(-1)
        return self._base + len(self._positions) - 1

    def position_of(self, token: int) -> int:
        return self._positions[token - self._base]

    def acknowledged(self, token: int, topic: str, partition: int) -> None:
        """The broker acknowledged the event, stored on `partition` of `topic`."""
        index = token - self._base
        if self._states[index] == _SENT:
            self._states[index] = _ACKNOWLEDGED
            self._topics[index] = topic
            self._partitions[index] = partition

    def refused(self, token: int, reason: str) -> None:
        """The event can never be published as it is (too large, not encodable): it is
        parked when the prefix passes it, and does not hold the rest back."""
        index = token - self._base
        if self._states[index] == _SENT:
            self._states[index] = _REFUSED
            self._reasons[index + self._base] = reason

    def failed(self, token: int, error: str) -> None:
        """The delivery failed for the broker's state: the prefix stops before it."""
        index = token - self._base
        if self._states[index] == _SENT:
            self._states[index] = _FAILED
            self._failed.append((self._positions[index], error))

    def fail_first_unsettled(self, error: str) -> None:
        """Fails the first event not settled yet (the producer lost track of it)."""
        index = self._states.find(_SENT, self._head)
        if index >= 0:
            self.failed(index + self._base, error)

    def advance(self) -> Advance:
        """Move over the settled events at the front; return what was moved over."""
        states, positions = self._states, self._positions
        start = index = self._head
        end = len(positions)
        partitions: dict[tuple[str, int], int] = {}
        refused: dict[int, str] = {}
        while index < end:
            state = states[index]
            if state == _ACKNOWLEDGED:
                partitions[(self._topics[index], self._partitions[index])] = positions[index]
            elif state == _REFUSED:
                refused[positions[index]] = self._reasons.pop(index + self._base)
            else:
                break
            index += 1
        if index == start:
            return Advance(first=0, last=self._position)
        first = positions[start]
        self._position = positions[index - 1]
        self._head = index
        if index >= _COMPACT_AFTER and index * 2 >= end:
            del positions[:index], self._states[:index]
            del self._topics[:index], self._partitions[:index]
            self._base += index
            self._head = 0
        return Advance(first=first, last=self._position, partitions=partitions, refused=refused)
