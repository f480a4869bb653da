"""Reading a tenant's stored events as plain rows, in store order (the relay and the store
rebuild of projections read the notification log this way).

On PostgreSQL one query of plain rows on the recorder's own connection pool (what
`select_notifications` builds an object of each for, a third of reading's time); elsewhere
`select_notifications`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from domain.application import TenantApplication

__all__ = ["StoredRow", "notification", "plain_stored_state", "read_page"]

#: A stored event as read here: (position, aggregate id (a UUID, or its text), aggregate
#: version, stored topic, stored state).
StoredRow = tuple[int, UUID | str, int, str, bytes]


def read_page(app: TenantApplication, start: int, limit: int) -> Sequence[StoredRow]:
    """The tenant's stored events from position `start` on, at most `limit`, in store order."""
    recorder = app.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        with (
            recorder.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            statement = _PAGE_STATEMENTS.get(id(recorder))
            if statement is None or statement[0] is not recorder:
                # As bytes, composed once: a Composed query is composed again on every
                # execute (~15% of a page's read in the relay's profile).
                query = SQL(
                    # The id as text: the server formats it as str(UUID) does, off this
                    # process.
                    "SELECT notification_id, originator_id::text, originator_version, topic, "
                    "state FROM {schema}.{table} WHERE notification_id>=%s "
                    "ORDER BY notification_id LIMIT %s"
                ).format(
                    schema=Identifier(recorder.datastore.schema),
                    table=Identifier(recorder.events_table_name),
                )
                statement = (recorder, query.as_bytes(connection))
                _PAGE_STATEMENTS[id(recorder)] = statement
            # In binary: the stored state comes as its bytes, where text format sends each
            # byte as two hex digits for this process to decode (a page of sealed events read
            # in about half the time so, with half PostgreSQL's CPU). The columns' Python
            # types are the same.
            cursor.execute(statement[1], (start, limit), prepare=True, binary=True)
            return cast(list[StoredRow], cursor.fetchall())
    return [
        (n.id, cast(UUID, n.originator_id), n.originator_version, n.topic, n.state)
        for n in recorder.select_notifications(start=start, limit=limit)
    ]


#: The page query of each PostgreSQL recorder (keyed by id, holding the recorder so the id
#: is not reused while the entry lives).
_PAGE_STATEMENTS: dict[int, tuple[PostgresApplicationRecorder, bytes]] = {}


def notification(row: StoredRow) -> Notification:
    """The row as eventsourcing's Notification (for its mapper)."""
    position, originator_id, originator_version, topic, state = row
    if isinstance(originator_id, str):
        try:
            originator_id = UUID(originator_id)  # read as text on PostgreSQL
        except ValueError:
            pass  # an id that is text in the store too
    return Notification(
        id=position,
        originator_id=originator_id,
        originator_version=originator_version,
        topic=topic,
        state=bytes(state),
    )


def plain_stored_state(app: TenantApplication) -> bool:
    """Whether the tenant's store keeps events as plain JSON (no cipher, no compressor), so
    messages (and consumers' records) can be made straight from the stored records."""
    mapper = app.mapper
    return (
        mapper.cipher is None
        and mapper.compressor is None
        and isinstance(mapper.transcoder, JSONTranscoder)
    )
