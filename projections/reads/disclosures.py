"""The disclosure record: who received which category of a person's data, when, on what basis.

GDPR art. 15(1)(c) gives a data subject the right to know the recipients to whom their
personal data have been disclosed; art. 5(2) makes the controller able to show it. Every
read that hands out personal data records here who received it.

Reads are hot, and concurrent reads of one class disclose the same rows, so they are written
together: requests hand their rows to the DisclosureLog, whose writer folds every request
waiting into one transaction (a group commit) and lets each go once its rows are durable.
A request never answers before its disclosure is recorded; if recording fails, it raises
DisclosureNotRecordedError (the API answers 503) and sends nothing. The table holds one row per (tenant, subject, recipient, category,
basis, day), with the first and last time of that day and how many requests disclosed it.
The record names people only by sourcedId and holds no personal data itself, so it needs
no sealing; it is kept in the main database beside the read models.

How to record (after the data is read and before it is answered; a read service's
`disclose` fills in the caller and the time):

    disclosures.record(
        tenant=actor.tenant, subjects=[student_id, ...],
        recipient=actor.subject, recipient_role=actor.role,
        categories=["assessment"], basis=STATUTORY_TASK,  # or the consent's id
        at=clock(),
    )

`categories` come from domain.consent.DATA_CATEGORIES (identity, contact, roster,
assessment, attainment, demographics, photos) or ALL for a whole export; `basis` is
STATUTORY_TASK for what the school discloses under its legal obligation or public task
(GDPR art. 6(1)(c)/(e)), RIGHT_OF_ACCESS for a person's own export, or the id of the
consent that allowed it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from domain.consent import DATA_CATEGORIES

__all__ = [
    "ALL",
    "RIGHT_OF_ACCESS",
    "STATUTORY_TASK",
    "Disclosure",
    "DisclosureLog",
    "DisclosureNotRecordedError",
    "UnknownDisclosureCategoryError",
    "create_table",
    "disclosure_rows",
    "disclosures_of",
    "user_detail_categories",
]

#: The basis of what the school discloses under its legal duty or public task.
STATUTORY_TASK = "statutory task"
#: The basis of a person's own export, or their guardian's (GDPR art. 15).
RIGHT_OF_ACCESS = "right of access (GDPR art. 15)"
#: The category of a whole export: every category at once.
ALL = "all"
CATEGORIES = DATA_CATEGORIES | {ALL}

#: How long the writer keeps its connection once no batch is waiting. Batches written
#: back to back reuse it, so a batch costs one round trip to the server (its statement,
#: autocommitted) where a checkout per batch cost four: the pool's ping, BEGIN, the
#: statement and COMMIT, each a wait for the GIL once the answer is in under load.
HELD_IDLE_SECONDS = 1.0

#: The user fields that are contact details; the other personal fields are identity.
CONTACT_FIELDS = frozenset({"email", "sms", "phone"})

metadata = sa.MetaData()
disclosures = sa.Table(
    "disclosures",
    metadata,
    sa.Column("tenant", sa.String(32), primary_key=True),
    sa.Column("subject", sa.String(128), primary_key=True),
    sa.Column("recipient", sa.String(128), primary_key=True),
    sa.Column("category", sa.String(32), primary_key=True),
    # Part of the key, so one recipient's disclosures under two bases on a day stay two.
    sa.Column("basis", sa.String(128), primary_key=True),
    #: The UTC day; the times below are exact.
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("recipient_role", sa.String(16), nullable=False),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    #: How many requests disclosed it that day.
    sa.Column("count", sa.Integer, nullable=False),
)


class UnknownDisclosureCategoryError(ValueError):
    """Raised when a disclosure is recorded under a category that is not one of CATEGORIES."""


class DisclosureNotRecordedError(Exception):
    """Raised when a disclosure could not be recorded: the read must not answer then."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the data was not sent because its disclosure could not be recorded ({reason}); "
            "try again shortly"
        )


@dataclass(frozen=True)
class Disclosure:
    """One recipient's receipt of one category of a subject's data on one day."""

    recipient: str
    recipient_role: str
    category: str
    basis: str
    day: date
    first_at: datetime
    last_at: datetime
    count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "recipientRole": self.recipient_role,
            "category": self.category,
            "basis": self.basis,
            "day": self.day.isoformat(),
            "firstAt": self.first_at.isoformat(),
            "lastAt": self.last_at.isoformat(),
            "count": self.count,
        }


def create_table(engine: Engine) -> None:
    """Creates the disclosure table when missing (the composition root calls it once)."""
    metadata.create_all(engine)


_Key = tuple[str, str, str, str, str, date]
#: One request's disclosure before it is written as rows: (tenant, subjects, recipient,
#: categories, basis, day), subjects and categories sorted and each once.
_GrantKey = tuple[str, tuple[str, ...], str, tuple[str, ...], str, date]


@dataclass
class _Row:
    """A disclosure row before it is written: what several requests of a batch fold into."""

    recipient_role: str
    first_at: datetime
    last_at: datetime
    count: int = 1

    def fold(self, other: _Row) -> None:
        self.recipient_role = other.recipient_role
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.count += other.count


def _grant(
    *,
    tenant: str,
    subjects: Iterable[str],
    recipient: str,
    recipient_role: str,
    categories: Iterable[str],
    basis: str,
    at: datetime | None,
) -> tuple[_GrantKey, _Row]:
    """One disclosure as its key and its times (a row of every subject × category to
    be); raises on an unknown category."""
    wanted = tuple(sorted(set(categories)))
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise UnknownDisclosureCategoryError(
            f"disclosure categories {unknown} are not among {sorted(CATEGORIES)}"
        )
    when = (at or datetime.now(UTC)).astimezone(UTC)
    key = (tenant, tuple(sorted(set(subjects))), recipient, wanted, basis, when.date())
    return key, _Row(recipient_role, when, when)


def _rows_of(grants: Mapping[_GrantKey, _Row]) -> dict[_Key, _Row]:
    """The rows the disclosures `grants` record, by key: each grant is a row of each of
    its subjects and categories, and grants of the same row fold into one."""
    rows: dict[_Key, _Row] = {}
    for (tenant, subjects, recipient, categories, basis, day), grant in grants.items():
        for subject in subjects:
            for category in categories:
                key = (tenant, subject, recipient, category, basis, day)
                row = _Row(grant.recipient_role, grant.first_at, grant.last_at, grant.count)
                found = rows.get(key)
                if found is None:
                    rows[key] = row
                else:
                    found.fold(row)
    return rows


def disclosure_rows(
    *,
    tenant: str,
    subjects: Iterable[str],
    recipient: str,
    recipient_role: str,
    categories: Iterable[str],
    basis: str,
    at: datetime | None = None,
) -> dict[_Key, _Row]:
    """The rows recording one disclosure, by key; raises on an unknown category."""
    key, grant = _grant(
        tenant=tenant,
        subjects=subjects,
        recipient=recipient,
        recipient_role=recipient_role,
        categories=categories,
        basis=basis,
        at=at,
    )
    return _rows_of({key: grant})


def _values(rows: Mapping[_Key, _Row]) -> list[dict[str, Any]]:
    return [
        {
            "tenant": tenant,
            "subject": subject,
            "recipient": recipient,
            "category": category,
            "basis": basis,
            "day": day,
            "recipient_role": row.recipient_role,
            "first_at": row.first_at,
            "last_at": row.last_at,
            "count": row.count,
        }
        # Sorted, so concurrent writers (other processes) lock shared rows in one order.
        for (tenant, subject, recipient, category, basis, day), row in sorted(
            rows.items(), key=lambda item: item[0]
        )
    ]


_UPSERT_FROM_JSON = sa.text(
    """
    INSERT INTO disclosures
        (tenant, subject, recipient, category, basis, day, recipient_role, first_at, last_at,
         "count")
    SELECT tenant, subject, recipient, category, basis, day, recipient_role, first_at,
           last_at, "count"
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        tenant varchar, subject varchar, recipient varchar, category varchar, basis varchar,
        day date, recipient_role varchar, first_at timestamptz, last_at timestamptz,
        "count" integer
    )
    ON CONFLICT (tenant, subject, recipient, category, basis, day) DO UPDATE SET
        recipient_role = excluded.recipient_role,
        first_at = LEAST(disclosures.first_at, excluded.first_at),
        last_at = GREATEST(disclosures.last_at, excluded.last_at),
        "count" = disclosures."count" + excluded."count"
    """
)


class _Batch:
    """The disclosures of the requests waiting for one transaction, and how it went.

    Kept as one entry per distinct disclosure (its subjects and categories together), not
    per row: concurrent reads of one class by one teacher fold into one entry at the cost
    of a dictionary look-up each, and the writer makes the rows once per batch."""

    def __init__(self) -> None:
        self.grants: dict[_GrantKey, _Row] = {}
        self.error: BaseException | None = None
        self.written = threading.Event()

    def add(self, key: _GrantKey, grant: _Row) -> None:
        """Takes `grant` (made for this batch alone: it is kept, not copied)."""
        found = self.grants.get(key)
        if found is None:
            self.grants[key] = grant
        else:
            found.fold(grant)

    def settle(self, error: BaseException | None) -> None:
        self.error = error
        self.written.set()


class DisclosureLog:
    """Records the disclosures of concurrent requests with one transaction per batch.

    Every request of the process adds its rows to the open batch and waits; a writer thread
    takes the open batch whenever it is free, writes it in one transaction, and releases the
    batch's requests. Readers of one class fold into the same rows, so 32 concurrent reads
    cost one upsert of the class's rows, not 32 upserts queueing on the same row locks.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._changed = threading.Condition()
        self._open = _Batch()
        self._writer: threading.Thread | None = None
        self._closed = False
        #: The writer's connection on PostgreSQL while batches keep coming (see _write).
        self._held: Connection | None = None

    def record(
        self,
        *,
        tenant: str,
        subjects: Iterable[str],
        recipient: str,
        recipient_role: str,
        categories: Iterable[str],
        basis: str,
        at: datetime | None = None,
    ) -> int:
        """Records that `recipient` received `categories` of each subject's data; returns
        once the rows are committed. Raises DisclosureNotRecordedError when they could not
        be: the caller must not answer then.

        `subjects` are sourcedIds (repeats count once), `recipient` the caller's subject or
        service id, `recipient_role` its role, `basis` STATUTORY_TASK, RIGHT_OF_ACCESS or a
        consent id; `at` defaults to now. Returns the number of rows recorded.
        """
        key, grant = _grant(
            tenant=tenant,
            subjects=subjects,
            recipient=recipient,
            recipient_role=recipient_role,
            categories=categories,
            basis=basis,
            at=at,
        )
        rows = len(key[1]) * len(key[3])
        if not rows:
            return 0
        with self._changed:
            if self._closed:
                raise DisclosureNotRecordedError("the server is shutting down")
            batch = self._open
            batch.add(key, grant)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_batches, name="disclosure-log", daemon=True
                )
                self._writer.start()
            self._changed.notify()
        batch.written.wait()
        if batch.error is not None:
            raise DisclosureNotRecordedError(
                f"{type(batch.error).__name__}: {batch.error}"
            ) from batch.error
        return rows

    def close(self) -> None:
        """Writes what is waiting, then stops the writer; later records are refused."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            writer = self._writer
        if writer is not None:
            writer.join()

    def _write_batches(self) -> None:
        try:
            while True:
                with self._changed:
                    if not self._open.grants and not self._closed:
                        # Waits for a batch; with a connection held, only so long.
                        self._changed.wait(HELD_IDLE_SECONDS if self._held else None)
                    batch = self._open
                    if batch.grants:
                        self._open = _Batch()
                    elif self._closed:
                        return
                if not batch.grants:
                    self._give_back_held()  # none came for a while
                    continue
                try:
                    self._write_retried(_rows_of(batch.grants))
                # Whatever went wrong, every waiting request is refused with it.
                except Exception as error:  # noqa: BLE001
                    self._give_back_held(broken=True)
                    batch.settle(error)
                else:
                    batch.settle(None)
        finally:
            self._give_back_held()

    def _write_retried(self, rows: Mapping[_Key, _Row]) -> None:
        """Writes `rows`, once more on a fresh connection when the held one was found
        dropped (the server restarted, or an administrator ended its session while it was
        held): what the pool's ping would have replaced unseen. Were the first statement
        committed before its answer was lost, the batch is counted twice: a disclosure
        recorded twice, never one lost."""
        was_held = self._held is not None
        try:
            self._write(rows)
        except sa.exc.DBAPIError as error:
            if not (was_held and error.connection_invalidated):
                raise
            self._give_back_held(broken=True)
            self._write(rows)

    def _write(self, rows: Mapping[_Key, _Row]) -> None:
        if not rows:
            return
        values = _values(rows)
        if self._engine.dialect.name != "postgresql":
            with self._engine.begin() as connection:
                # sqlite3 runs executemany in C; the statement is compiled once and cached.
                connection.execute(_sqlite_upsert(), values)
            return
        if self._held is None:
            # Checked out from the pool, which pings it first (a restarted server's is
            # replaced); autocommit, so the statement below is its own transaction.
            self._held = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # One statement and one parameter, whatever the number of rows: the rows go as one
        # JSON array (encoded in C), which jsonb_to_recordset() turns back into rows. orjson
        # writes dates and aware datetimes as ISO 8601, which PostgreSQL reads.
        self._held.execute(_UPSERT_FROM_JSON, {"rows": orjson.dumps(values).decode()})
        self._held.commit()  # ends SQLAlchemy's transaction; autocommit sends nothing

    def _give_back_held(self, *, broken: bool = False) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        with contextlib.suppress(Exception):
            if broken:
                held.invalidate()  # not back into the pool: a fresh one next time
            held.close()


@functools.cache
def _sqlite_upsert() -> sa.Insert:
    """Insert one disclosure row, or fold it into the row of its day already there."""
    statement = sqlite.insert(disclosures)
    new, old = statement.excluded, disclosures.c
    return statement.on_conflict_do_update(
        index_elements=list(disclosures.primary_key.columns),
        set_={
            "recipient_role": new.recipient_role,
            "first_at": sa.case((new.first_at < old.first_at, new.first_at), else_=old.first_at),
            "last_at": sa.case((new.last_at > old.last_at, new.last_at), else_=old.last_at),
            "count": old.count + new.count,
        },
    )


def disclosures_of(engine: Engine, tenant: str, subject: str) -> list[Disclosure]:
    """Everything recorded as disclosed of `subject`, oldest first."""
    d = disclosures
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(d)
            .where(d.c.tenant == tenant, d.c.subject == subject)
            .order_by(d.c.day, d.c.first_at, d.c.recipient, d.c.category)
        ).mappings()
        return [
            Disclosure(
                recipient=r["recipient"],
                recipient_role=r["recipient_role"],
                category=r["category"],
                basis=r["basis"],
                day=r["day"],
                first_at=_utc(r["first_at"]),
                last_at=_utc(r["last_at"]),
                count=r["count"],
            )
            for r in rows
        ]


def user_detail_categories(details: Mapping[str, Any]) -> list[str]:
    """The categories of a user's opened personal fields: contact (e-mail, phone), identity."""
    present = {name for name, value in details.items() if value not in (None, "", [])}
    categories = []
    if present - CONTACT_FIELDS:
        categories.append("identity")
    if present & CONTACT_FIELDS:
        categories.append("contact")
    return categories


def _utc(value: datetime) -> datetime:
    # SQLite gives back naive datetimes (stored in UTC); PostgreSQL aware ones.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
