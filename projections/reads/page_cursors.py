"""Where a client's walk through a OneRoster collection stands, so that its next page seeks
to its first record instead of counting off every record before it.

OneRoster pages by `offset`, and a vendor's sync asks for a whole collection page after
page. Each page's OFFSET walks every record before it, and each page counts the collection
again: at a city's 180,000 results a page took 124 ms at offset 0 and 360 ms at 170,000.
Here each page served leaves a mark: the offset its next page starts at, the sourcedId it
ended on, the collection's count and the version of the read model it was read from
(projections/positions.py `read_model_version`: what the projection applied, parked and
retried of the tenant). The request for exactly that offset of the same collection, asked
by the same client in the same way while the version is the same, reads the records after
that sourcedId (a seek along the index) and answers the count it remembers. That is the
page and the count OFFSET gives, since the records are the same. Any other request (another
offset, a read model that moved, a request that came to another process) pages by OFFSET.

The marks are the process's own, at most `capacity` of them, the least recently used
dropped first. They hold no personal data: sourcedIds, counts and positions. A collection
is kept as a digest of what names it (the client, the path, the filter), so a mark takes
the same room however long a filter a client sends (up to the 32 KB a request's target
may have): two requests that name it alike find the same mark, and any other misses it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from projections.positions import read_model_version

__all__ = ["PageCursors", "PageMark", "PageOfWalk", "in_sourced_id_order", "past"]

#: Marks kept by default: a sync in progress needs one, and a city has a few dozen vendors.
DEFAULT_CAPACITY = 10_000


def in_sourced_id_order(sort: str | None) -> bool:
    """Whether pages ordered by the client's `sort` follow sourcedIds alone: only such a
    walk can seek past the sourcedId its page before ended on."""
    return sort in (None, "sourcedId")


def past(
    sourced_id: ColumnElement[Any], after: str | ColumnElement[Any], order_by: str
) -> ColumnElement[bool]:
    """The records a walk in sourcedId order (`order_by` asc or desc) meets after `after`."""
    return sourced_id < after if order_by == "desc" else sourced_id > after


@dataclass(frozen=True, slots=True)
class PageMark:
    """What the page before an offset left: the read model's version it was read in, the
    sourcedId it ended on and the count of the whole collection."""

    version: Hashable
    after: str
    total: int


@dataclass(frozen=True)
class PageOfWalk:
    """A page about to be read: the mark it may seek from (None: it counts off its offset),
    and where the next page's mark goes once it is read."""

    cursors: PageCursors
    collection: Hashable
    offset: int
    version: Hashable
    mark: PageMark | None

    def read(self, rows: Sequence[Mapping[str, Any]], *, limit: int, total: int) -> None:
        """Leaves the mark of the page read (`rows`, of a page of `limit`, out of `total`);
        a page shorter than its limit is the last, and leaves none."""
        if rows and len(rows) == limit:
            mark = PageMark(version=self.version, after=rows[-1]["sourced_id"], total=total)
            self.cursors.leave(self.collection, self.offset + limit, mark)


def _digest(collection: Hashable) -> bytes:
    """A collection's name in 16 bytes: a digest of its text. Two equal names whose texts
    differed (a set that iterates in another order) would only miss each other's marks."""
    return hashlib.blake2b(repr(collection).encode(), digest_size=16).digest()


class PageCursors:
    """The marks the pages of collections left, by (collection, offset); thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"a capacity of {capacity} marks keeps none; give 1 or more")
        self._capacity = capacity
        self._marks: OrderedDict[tuple[bytes, int], PageMark] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._marks)

    def page(
        self,
        connection: Connection,
        collection: Hashable,
        offset: int,
        *,
        projection: str,
        tenant: str,
    ) -> PageOfWalk | None:
        """The page at `offset` of `collection`, which the tenant's read model of
        `projection` holds: its version is read on `connection` first, before the page's
        records (a version older than theirs only misses a seek, where a newer one would
        mark records the version does not name). None at offset 0: a walk's first page
        has no mark to seek from, and most reads at offset 0 are no walk at all (a lookup,
        a poll), which the version's statement would only slow; the walk's second page
        counts off its offset and leaves the mark its third seeks from."""
        if offset <= 0:
            return None
        version = read_model_version(connection, projection=projection, tenant=tenant)
        return PageOfWalk(self, collection, offset, version, self.find(collection, offset, version))

    def find(self, collection: Hashable, offset: int, version: Hashable) -> PageMark | None:
        """The mark the page before `offset` of `collection` left, if it was read in this
        `version` of the read model; None otherwise (a mark of another version is dropped)."""
        key = (_digest(collection), offset)
        with self._lock:
            mark = self._marks.get(key)
            if mark is None:
                return None
            if mark.version != version:
                del self._marks[key]
                return None
            self._marks.move_to_end(key)
            return mark

    def leave(self, collection: Hashable, offset: int, mark: PageMark) -> None:
        """Records where the page ending before `offset` of `collection` left off."""
        key = (_digest(collection), offset)
        with self._lock:
            self._marks[key] = mark
            self._marks.move_to_end(key)
            while len(self._marks) > self._capacity:
                self._marks.popitem(last=False)
