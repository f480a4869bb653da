"""Which store positions the relay may record as published while messages are in flight.

The relay produces without waiting for each batch's acknowledgement, so acknowledgements
come back while later events are still being sent, and not necessarily in store order
(partitions are acknowledged independently). The published position may move only over
the unbroken prefix of settled events: acknowledged ones, and ones the relay parks (refused
for what they are). An event whose delivery failed holds the position back, whatever is
acknowledged after it; the next pass publishes again from there, so nothing is ever
skipped (the acknowledged events after it are published twice, which consumers absorb).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

__all__ = ["Advance", "PublishedPrefix"]

_SENT: Final = 0
_ACKNOWLEDGED: Final = 1
_REFUSED: Final = 2
_FAILED: Final = 3


@dataclass(slots=True)
class _Entry:
    position: int
    state: int = _SENT
    topic: str = ""
    partition: int = -1
    reason: str = ""


@dataclass(frozen=True)
class Advance:
    """What the prefix moved over since the last advance: the relay records it in one
    transaction (the new position, the partition positions, the events to park)."""

    #: The first and last store positions moved over (0 and the previous position when
    #: nothing was).
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
    """Events sent after `position`, in store order, and how each one settled."""

    def __init__(self, position: int) -> None:
        self._position = position
        self._entries: deque[_Entry] = deque()
        self._by_position: dict[int, _Entry] = {}
        self._failed: list[tuple[int, str]] = []

    @property
    def position(self) -> int:
        """Everything up to here is settled (and was handed out by `advance`)."""
        return self._position

    @property
    def in_flight(self) -> int:
        """Events sent and not yet moved over (unsettled, or settled behind one that is not)."""
        return len(self._entries)

    @property
    def failure(self) -> tuple[int, str] | None:
        """The first failed delivery (its position and why), if any: the prefix stops there."""
        return self._failed[0] if self._failed else None

    def sent(self, position: int) -> None:
        """An event handed to the producer (positions must increase)."""
        last = self._entries[-1].position if self._entries else self._position
        if position <= last:
            raise ValueError(f"position {position} sent after {last}: store order is required")
        entry = _Entry(position)
        self._entries.append(entry)
        self._by_position[position] = entry

    def acknowledged(self, position: int, topic: str, partition: int) -> None:
        """The broker acknowledged the event, stored on `partition` of `topic`."""
        entry = self._by_position[position]
        if entry.state == _SENT:
            entry.state, entry.topic, entry.partition = _ACKNOWLEDGED, topic, partition

    def refused(self, position: int, reason: str) -> None:
        """The event can never be published as it is (too large, not encodable): it is
        parked when the prefix passes it, and does not hold the rest back."""
        entry = self._by_position[position]
        if entry.state == _SENT:
            entry.state, entry.reason = _REFUSED, reason

    def failed(self, position: int, error: str) -> None:
        """The delivery failed for the broker's state: the prefix stops before it."""
        entry = self._by_position[position]
        if entry.state == _SENT:
            entry.state = _FAILED
            self._failed.append((position, error))

    def fail_first_unsettled(self, error: str) -> None:
        """Fails the first event not settled yet (the producer lost track of it)."""
        for entry in self._entries:
            if entry.state == _SENT:
                self.failed(entry.position, error)
                return

    def advance(self) -> Advance:
        """Move over the settled events at the front; return what was moved over."""
        entries = self._entries
        first = 0
        partitions: dict[tuple[str, int], int] = {}
        refused: dict[int, str] = {}
        while entries:
            entry = entries[0]
            if entry.state == _ACKNOWLEDGED:
                partitions[(entry.topic, entry.partition)] = entry.position
            elif entry.state == _REFUSED:
                refused[entry.position] = entry.reason
            else:
                break
            entries.popleft()
            del self._by_position[entry.position]
            first = first or entry.position
            self._position = entry.position
        return Advance(first=first, last=self._position, partitions=partitions, refused=refused)
