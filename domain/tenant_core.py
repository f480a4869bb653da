"""The core of a tenant's command side: its event store, sealing, ids, clock and shared helpers.

Every area's commands (roster, gradebook, consent, privacy) build on `TenantCore`: it finds
and requires records, registers or revises one and saves it (`_register_or_revise`), and
answers the lookups that more than one area needs (a user, a student's age, the log head).
"""

from __future__ import annotations

import copy
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar, cast, runtime_checkable
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, ProgrammingError, StoredEvent

from domain.assessment import Category, LineItem, Result, ScoreScale
from domain.batch import SaveBatch, current_batch
from domain.commands import Actor, Outcome
from domain.consent import age_on
from domain.curriculum import Curriculum
from domain.errors import (
    ConcurrentUpdateError,
    InvalidValueError,
    NotFoundError,
    UnknownReferenceError,
)
from domain.group_commit import GroupCommit, GroupedSave
from domain.ids import DIGIONE_NAMESPACE, aggregate_id, is_valid_sourced_id
from domain.keyed import KeyAnsweredError, KeyedCommand, KeyedRun, current_keyed_run
from domain.ledger import LEDGER_FROM_EVENTS, Ledger
from domain.record import SourcedRecord
from domain.recorders import SIDE_WRITE_GROUPS, SIDE_WRITES, SideWrite
from domain.roster import ROSTER_COLLECTIONS, Demographics, User, is_extension
from domain.sealing import Erased, RetentionClass, Sealer
from domain.store_statistics import StoreStatistics
from domain.tenant_tables import IdempotentAnswer, TenantTables
from domain.transcodings import DateAsISO, SealedValueAsDict
from domain.validated_reads import ReadSet, current_reads, read_versions_of

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R", bound=SourcedRecord)

LINE_ITEMS = "lineItems"
RESULTS = "results"
CATEGORIES = "categories"
SCORE_SCALES = "scoreScales"
#: Every collection of records named by a sourcedId, and the aggregate class holding each.
RECORD_COLLECTIONS: dict[str, type[SourcedRecord]] = {
    **ROSTER_COLLECTIONS,
    LINE_ITEMS: LineItem,
    RESULTS: Result,
    CATEGORIES: Category,
    SCORE_SCALES: ScoreScale,
}


@runtime_checkable
class _RevisedFromFields(Protocol):
    """A record whose `revise` takes the fields it was registered with (an org, a course)."""

    def revise(self, *args: Any, **kwargs: Any) -> None: ...


class TenantCore(Application[UUID]):
    """What every area of one tenant's command side shares.

    One instance serves one tenant (municipality) and owns that tenant's event store, whose
    tables live in the tenant's own SQLite file or PostgreSQL schema.
    """

    def __init__(
        self,
        *,
        tenant: str,
        env: dict[str, str],
        master_key: bytes,
        curriculum: Curriculum,
        fallback_master_keys: tuple[bytes, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        postgres_schema: str | None = None,
        key_cache_seconds: float = 30.0,
    ) -> None:
        super().__init__(env)
        self.tenant = tenant
        self.clock = clock
        self.curriculum = curriculum
        # The SQLite and PostgreSQL factories have a datastore; their base type does not say so.
        datastore = getattr(self.factory, "datastore")  # noqa: B009
        self.tables = TenantTables(datastore, postgres_schema=postgres_schema)
        self.tables.create_tables()
        self.ledger = self._ledger()
        self.ledger.create_table()
        # A store that predates the ledger gets its chain computed once, here at open.
        self.tables.run_once(LEDGER_FROM_EVENTS, self.ledger.chain_recorded)
        #: Called with the position after each save (the relay's wake-up, for instance).
        self.after_save: list[Callable[[int], None]] = []
        #: The store's events table (the recorder's; not in its base type).
        self._events_table = str(getattr(self.recorder, "events_table_name"))  # noqa: B009
        if postgres_schema is not None:
            # The planner's statistics of the store's tables as the store fills.
            analyse_due = functools.partial(self.tables.analyse_due, self._events_table)
            self.after_save.append(StoreStatistics(analyse_due).saved)
        #: Concurrent commands' saves, recorded together (see domain/group_commit.py).
        self.group_commit = GroupCommit(together=self._save_together, alone=self._save_alone)
        self.sealer = Sealer(
            tenant=tenant,
            master_key=master_key,
            fallback_master_keys=fallback_master_keys,
            key_store=self.tables,
            key_cache_seconds=key_cache_seconds,
        )

    def _ledger(self) -> Ledger:
        ledger = getattr(self.recorder, "ledger", None)
        if not isinstance(ledger, Ledger):
            raise TypeError(
                f"{type(self.recorder).__name__} keeps no ledger: the tenant's store needs a "
                "recorder of domain.recorders (APPLICATION_RECORDER_TOPIC)"
            )
        return ledger

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(SealedValueAsDict())

    # -- lookups that more than one area needs ------------------------------------------

    def user(self, sourced_id: str) -> User:
        user = self._find(User, "users", sourced_id)
        if user is None:
            raise NotFoundError(f"no user {sourced_id!r} in this tenant")
        return user

    def personal_details(self, sourced_id: str) -> dict[str, Any] | Erased:
        """A user's personal fields, or ERASED when their key is gone."""
        return self.sealer.unseal(self.user(sourced_id).personal)

    def find(
        self, collection: str, sourced_id: str, *, for_update: bool = True
    ) -> SourcedRecord | None:
        """The record, or None; `for_update=False` when it is only read (no private copy)."""
        return self._find(
            RECORD_COLLECTIONS[collection], collection, sourced_id, for_update=for_update
        )

    def close(self) -> None:
        self.group_commit.close()
        release = getattr(self.recorder, "release_connection", None)
        if callable(release):
            # The connection the recorder holds for group commits, before its pool closes.
            release()
        super().close()

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def age(self, user_id: str) -> int | None:
        """The user's age today from their sealed birth date; None when unknown or erased."""
        born = self._birth_date(user_id)
        return None if born is None else age_on(born, self._today())

    def _birth_date(self, student_id: str) -> date | None:
        demographics = self._find(Demographics, "demographics", student_id)
        if demographics is None:
            return None
        personal = self.sealer.unseal(demographics.personal)
        if isinstance(personal, Erased) or not personal.get("birthDate"):
            return None
        return date.fromisoformat(personal["birthDate"])

    # -- ids and time ----------------------------------------------------------------------

    def _id(self, collection: str, sourced_id: str) -> UUID:
        return aggregate_id(self.tenant, collection, sourced_id)

    def _record_id(self, collection: str, sourced_id: str) -> UUID:
        """The aggregate id of a sourcedId of `collection`, refusing a malformed sourcedId."""
        if not is_valid_sourced_id(sourced_id):
            raise InvalidValueError(
                f"{sourced_id!r} is not a valid sourcedId (letters, digits and ._:@/- , "
                "at most 128 characters)",
                field="sourcedId",
            )
        return self._id(collection, sourced_id)

    @property
    def validates_reads(self) -> bool:
        """Whether a command may check its references on the kept copies, its save then
        checking them (domain/validated_reads.py): the store checks reads, and the
        repository keeps copies that it brings up to date."""
        return (
            bool(getattr(self.recorder, "VALIDATES_READS", False))
            and self.repository.cache is not None
            and self.repository.fastforward
        )

    def _today(self) -> date:
        return self.clock().date()

    # -- finding ---------------------------------------------------------------------------

    def _find(
        self, cls: type[A], collection: str, sourced_id: str, *, for_update: bool = True
    ) -> A | None:
        record_id = self._record_id(collection, sourced_id)
        return self._find_by_id(cls, record_id, for_update=for_update)

    def _find_by_id(self, cls: type[A], aggregate_id: UUID, *, for_update: bool = True) -> A | None:
        batch = current_batch.get()
        pending = None if batch is None else batch.pending(aggregate_id)
        if pending is not None:
            # Changed earlier in the open batch and not saved yet: that copy is the record.
            return pending if isinstance(pending, cls) else None
        if batch is not None and aggregate_id in batch.absent:
            return None
        reads = current_reads.get()
        cache = self.repository.cache
        if reads is not None and not for_update and batch is None and cache is not None:
            # A reference of a validated command: the kept copy as it is, checked at the
            # command's save (domain/validated_reads.py).
            try:
                kept = cache.get(aggregate_id)
            except KeyError:
                try:
                    kept = self.repository.get(aggregate_id, deepcopy_from_cache=False)
                except AggregateNotFoundError:
                    return None
            reads.note(aggregate_id, kept.version)
            return kept if isinstance(kept, cls) else None
        if batch is not None:
            lent = batch.lend(aggregate_id) if for_update else None
            if lent is not None:
                # A copy the batch read for itself: the command may change it as it is.
                return lent if isinstance(lent, cls) else None
            # Read once per batch; a command about to change it gets a private copy.
            if aggregate_id not in batch.read:
                try:
                    batch.read[aggregate_id] = self.repository.get(
                        aggregate_id, deepcopy_from_cache=False
                    )
                except AggregateNotFoundError:
                    return None
            kept = batch.read[aggregate_id]
            found: object = copy.deepcopy(kept) if for_update else kept
            return found if isinstance(found, cls) else None
        try:
            # A record only read (a reference, a membership check) needs no private copy
            # of the cached aggregate; one about to change does. Nor does it wait while
            # another thread brings the cached copy up to date with the store (a hot
            # reference, a class that every concurrent command checks, serialized them
            # all on that thread's round trip): it reads the copy as that thread finds
            # it. What it may miss is a change committed during that round trip, the
            # same race a reference check already runs with a change committed between
            # its read and its save (references are not re-checked when saving).
            found = self.repository.get(
                aggregate_id, deepcopy_from_cache=for_update, fastforward_skipping=not for_update
            )
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def _get_by_uuid(self, cls: type[A], record_id: str, *, kind: str) -> A:
        """The aggregate of `kind` (a consent, an erasure) that a UUID given as text names."""
        try:
            key = UUID(record_id)
        except ValueError:
            raise NotFoundError(f"no {kind} {record_id!r}: {kind} ids are UUIDs") from None
        found = self._find_by_id(cls, key)
        if found is None:
            raise NotFoundError(f"no {kind} {record_id!r} in this tenant")
        return found

    def _require(
        self,
        cls: type[A],
        collection: str,
        sourced_id: str,
        field: str,
        *,
        for_update: bool = False,
    ) -> A:
        found = self._find(cls, collection, sourced_id, for_update=for_update)
        if found is None:
            raise UnknownReferenceError(
                f"{field} refers to {sourced_id!r}, which is not in {collection} of this tenant",
                field=field,
            )
        return found

    # -- changing and saving ---------------------------------------------------------------

    def _put_fields(
        self,
        cls: type[R],
        collection: str,
        sourced_id: str,
        status: str,
        fields: dict[str, Any],
    ) -> Outcome:
        """Puts a record that is registered with `fields` and revised to them."""

        def revise(record: SourcedRecord) -> None:
            if not isinstance(record, _RevisedFromFields):
                raise TypeError(f"{type(record).__name__} has no revise(**fields)")
            record.revise(**fields)

        return self._put_record(
            cls,
            collection,
            sourced_id,
            status,
            register=lambda record_id: cls.register(record_id, sourced_id=sourced_id, **fields),
            revise=revise,
        )

    def _put_record(
        self,
        cls: type[R],
        collection: str,
        sourced_id: str,
        status: str,
        *,
        register: Callable[[UUID], R],
        revise: Callable[[R], None],
        also_changed: Callable[[R], Iterable[Aggregate]] = lambda _record: (),
        side_writes: Iterable[SideWrite] = (),
    ) -> Outcome:
        """Puts a record named by a sourcedId (see `_register_or_revise`, which runs
        `side_writes` with its events), then gives it the OneRoster `status` of the incoming
        record before `also_changed` sees it."""

        def settle(record: R) -> Iterable[Aggregate]:
            record.set_status(status)
            return also_changed(record)

        return self._register_or_revise(
            cls,
            self._record_id(collection, sourced_id),
            outcome_id=sourced_id,
            register=register,
            revise=revise,
            also_changed=settle,
            side_writes=side_writes,
        )

    def _register_or_revise(
        self,
        cls: type[A],
        aggregate_id: UUID,
        *,
        register: Callable[[UUID], A],
        revise: Callable[[A], None] = lambda _existing: None,
        also_changed: Callable[[A], Iterable[Aggregate]] = lambda _aggregate: (),
        look_up: bool = True,
        outcome_id: str | None = None,
        side_writes: Iterable[SideWrite] = (),
    ) -> Outcome:
        """Registers the aggregate when `aggregate_id` names none yet, else revises it; then
        saves it with the other aggregates `also_changed` touched, and says what happened.

        `revise` may refuse (raise) before it changes anything; without one an existing
        aggregate stays as it is. `look_up=False` skips the lookup of an id known to be new.
        The outcome names the aggregate by `outcome_id` (a sourcedId), else by its id.
        `side_writes` are read after `register`/`revise` ran (they may add to them) and run
        in the transaction of the events.
        """
        existing = self._find_by_id(cls, aggregate_id) if look_up else None
        if existing is None:
            aggregate = register(aggregate_id)
        else:
            aggregate = existing
            revise(aggregate)
        others = list(also_changed(aggregate))
        record_id = str(aggregate_id) if outcome_id is None else outcome_id
        return self._outcome(
            record_id, existing is None, aggregate, *others, side_writes=side_writes
        )

    @contextmanager
    def batched(self) -> Iterator[SaveBatch]:
        """Runs the commands in the block without saving each: their aggregates are kept
        (later commands of the block see them) until `batch.flush()` saves all of them in
        one store transaction. What the block left unflushed is saved at its end, unless it
        raised: then nothing unflushed is saved. Outcomes inside say position 0."""
        batch = SaveBatch(lambda aggregates, writes: self._save(*aggregates, side_writes=writes))
        token = current_batch.set(batch)
        try:
            yield batch
            batch.flush()
        finally:
            current_batch.reset(token)

    def prepare_subject_keys(
        self, user_sourced_ids: Iterable[str], retention: RetentionClass
    ) -> None:
        """Reads (and creates, where missing) the keys of many users at once, so that the
        commands that seal their data next read no key one by one. An erased user's key
        is never created again: sealing for them still fails as it always does."""
        subjects = [self._id("users", sid) for sid in user_sourced_ids if is_valid_sourced_id(sid)]
        live, shredded = self.tables.load_subject_keys(subjects, retention)
        missing = [s for s in subjects if s not in live and s not in shredded]
        if missing:
            self.tables.store_subject_keys(
                retention, {s: self.sealer.wrap_new_key(s, retention) for s in missing}
            )
            live.update(self.tables.load_subject_keys(missing, retention)[0])
        self.sealer.remember_keys(retention, live)

    def preload(self, records: Mapping[str, Iterable[str]]) -> None:
        """Reads many records (collection → sourcedIds) into the open batch with one query,
        so that the batch's commands find them without a store read each: the ones the
        store holds as the batch's read copies, the others as known to be absent."""
        batch = current_batch.get()
        if batch is None:
            return
        wanted = {
            self._id(collection, sid)
            for collection, sourced_ids in records.items()
            for sid in sourced_ids
            if is_valid_sourced_id(sid)
        }
        wanted = {
            i
            for i in wanted
            if i not in batch.read and i not in batch.absent and batch.pending(i) is None
        }
        if not wanted:
            return
        events: dict[UUID, list[Any]] = {}
        retained = batch.retained_versions(wanted)
        for stored in self.tables.events_after(self._events_table, retained):
            originator = stored.originator_id
            key = originator if isinstance(originator, UUID) else UUID(originator)
            events.setdefault(key, []).append(self.mapper.to_domain_event(stored))
        for record_id in wanted:
            # As the repository reconstructs (or fast-forwards) one; its projector checks
            # each event's type against a runtime protocol, a tenth of a bulk import's time.
            aggregate: Any = batch.recall(record_id)
            for event in events.get(record_id, ()):
                aggregate = event.mutate(aggregate)
            if aggregate is not None:
                batch.own(aggregate)
            else:
                batch.absent.add(record_id)

    @contextmanager
    def keyed(self, command: KeyedCommand) -> Iterator[KeyedRun]:
        """Runs the commands in the block as `command`'s: the first that saves stores the
        key's answer in the transaction of its events (see `domain.keyed`). The run says
        what was stored; nothing is when the block saved nothing."""
        run = KeyedRun(command)
        token = current_keyed_run.set(run)
        try:
            yield run
        finally:
            current_keyed_run.reset(token)

    def _outcome(
        self,
        record_id: str,
        created: bool,
        *aggregates: Aggregate,
        side_writes: Iterable[SideWrite] = (),
        state: str | None = None,
    ) -> Outcome:
        """Saves the aggregates with `side_writes` (and a keyed command's answer, see
        `keyed`) in one transaction, and says what happened.

        The outcome is known before the save but for its position, so a keyed command's
        answer is rendered inside the transaction once the position is."""
        batch = current_batch.get()
        if batch is not None:
            # Kept for the batch's one transaction (see `batched`).
            changed = batch.keep(aggregates, side_writes)
            return Outcome(record_id, 0, created=created and changed, changed=changed, state=state)
        changed = any(aggregate.pending_events for aggregate in aggregates)

        def outcome_at(position: int) -> Outcome:
            return Outcome(
                record_id, position, created=created and changed, changed=changed, state=state
            )

        seen: list[int] = []
        writes = [*side_writes, lambda _cursor, position: seen.append(position)]
        run = current_keyed_run.get()
        stored: list[IdempotentAnswer] = []
        if run is not None and run.answer is None:
            keyed = run.command

            def answer_at(position: int) -> IdempotentAnswer:
                code, body = keyed.answer(outcome_at(position))
                stored.append(IdempotentAnswer(keyed.request_hash, code, body))
                return stored[-1]

            writes.append(self.tables.answer_write(keyed.principal, keyed.key, answer_at))
        try:
            position = self._save_grouped(aggregates, writes)
        except ConcurrentUpdateError:
            if run is not None and run.answer is None:
                # The key's row decides: a request that answered it first recorded the
                # command; this one recorded nothing and gives that answer.
                found = self.tables.find_answer(run.command.principal, run.command.key)
                if found is not None:
                    raise KeyAnsweredError(found) from None
            raise
        if not seen:
            # The answer and the slots are only as safe as the recorder that writes them.
            raise TypeError(
                f"{type(self.recorder).__name__} writes no side rows: the tenant's store "
                "needs a recorder of domain.recorders (APPLICATION_RECORDER_TOPIC)"
            )
        if run is not None and stored:
            run.answer = stored[-1]
        return outcome_at(position if position is not None else seen[-1])

    def _save_grouped(
        self, aggregates: Sequence[Aggregate], side_writes: Sequence[SideWrite]
    ) -> int | None:
        """Saves a command's aggregates and side writes with those of the commands saving
        at the same time, in one transaction (see `domain.group_commit`); the position of
        its last event, None when it recorded none.

        The events are encoded here, in the command's own thread, before it queues: the
        thread that commits the group then only records them."""
        events = [event for a in _distinct(aggregates) for event in a.pending_events]
        stored = [self.mapper.to_stored_event(event) for event in events]
        reads = current_reads.get()
        if reads is not None:
            reads.saving = True
        try:
            position = self.group_commit.save(aggregates, side_writes, prepared=stored, reads=reads)
            if reads is not None:
                reads.saved = True
            return position
        except IntegrityError:
            raise ConcurrentUpdateError(
                "another request changed the same record at the same time; read it again and retry"
            ) from None

    def _save_together(self, saves: Sequence[GroupedSave]) -> list[int | None]:
        """Records the saves of a group in one transaction; each one's position.

        The encoded events are handed to the store, not the aggregates, so that a failed
        group leaves each aggregate its pending events for the save of its command alone."""
        stored: list[StoredEvent] = []
        groups: list[tuple[int, Sequence[SideWrite]]] = []
        reads = ReadSet()
        for grouped in saves:
            own = cast("list[StoredEvent]", grouped.prepared)
            stored.extend(own)
            groups.append((len(own), grouped.side_writes))
            if isinstance(grouped.reads, ReadSet):
                reads.merge(grouped.reads)
        ids = (
            self.recorder.insert_events(
                stored, **{SIDE_WRITE_GROUPS: groups}, **read_versions_of(reads)
            )
            or []
        )
        if len(ids) != len(stored):
            raise ProgrammingError(f"{len(ids)} positions for {len(stored)} events")
        cache = self.repository.cache if not self.repository.fastforward else None
        for grouped in saves:
            for aggregate in _distinct(grouped.aggregates):
                aggregate.collect_events()
                if cache is not None:
                    cache.put(aggregate.id, aggregate)
        positions: list[int | None] = []
        start = 0
        for count, _writes in groups:
            positions.append(max(ids[start : start + count], default=None))
            start += count
        last = max((p for p in positions if p is not None), default=None)
        if last is not None:
            for listener in self.after_save:
                listener(last)
        return positions

    def _save_alone(self, grouped: GroupedSave) -> int | None:
        reads = grouped.reads if isinstance(grouped.reads, ReadSet) else None
        return self._save(*grouped.aggregates, side_writes=grouped.side_writes, reads=reads)

    def _save(
        self,
        *aggregates: Aggregate,
        side_writes: Iterable[SideWrite] = (),
        reads: ReadSet | None = None,
    ) -> int | None:
        """Saves the aggregates' new events and runs `side_writes` in the same transaction
        (see `domain.recorders`); the position of the last event, None when there was none.
        The records the command read unchecked (`reads`, else the running command's) are
        checked in that transaction (StaleReadsError)."""
        reads = reads if reads is not None else current_reads.get()
        if reads is not None:
            reads.saving = True
        try:
            recordings = self.save(
                *aggregates, **{SIDE_WRITES: list(side_writes)}, **read_versions_of(reads)
            )
        except IntegrityError:
            raise ConcurrentUpdateError(
                "another request changed the same record at the same time; read it again and retry"
            ) from None
        if reads is not None:
            reads.saved = True
        positions = [r.notification.id for r in recordings if r.notification.id is not None]
        if not positions:
            return None
        for listener in self.after_save:
            listener(max(positions))
        return max(positions)


def _distinct(aggregates: Iterable[Aggregate]) -> list[Aggregate]:
    """The aggregates, each object once (a command may name one twice)."""
    return list({id(aggregate): aggregate for aggregate in aggregates}.values())


def require_enum(field: str, value: str, allowed: Iterable[str]) -> None:
    """Refuses a value outside a OneRoster enumeration (extensible with `ext:` values)."""
    choices = sorted(allowed)
    if value not in choices and not is_extension(value):
        raise InvalidValueError(
            f"{field} {value!r} is not one of {', '.join(choices)} (or an ext: value)",
            field=field,
        )


def require_text(field: str, value: str) -> None:
    """Refuses a required text field that is empty or only whitespace."""
    if not value or not value.strip():
        raise InvalidValueError(f"{field} is required and cannot be empty", field=field)


class _RandomIds:
    """Version-4 UUIDs of random bits from the operating system, as uuid4's (ids name
    records in URLs, so they stay unguessable), drawn 256 ids at a time: a system call per
    id gives up the GIL, which a busy command thread then waits to have back. Each thread
    draws from bits of its own (a lock shared by the command threads made them queue for
    it whenever the GIL passed while one held it). A forked child starts on bits of its
    own, so two processes never draw the same ids."""

    _BLOCK = 16 * 256

    def __init__(self) -> None:
        self._local = threading.local()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._local = threading.local()

    def draw(self) -> UUID:
        local = self._local
        at = getattr(local, "at", self._BLOCK)
        if at >= self._BLOCK:
            local.bits, at = os.urandom(self._BLOCK), 0
        local.at = at + 16
        return UUID(bytes=local.bits[at : at + 16], version=4)


_new_ids = _RandomIds()


def generated_id(actor: Actor, idempotency_seed: str | None) -> str:
    """A new record id; with an idempotency seed, the same seed always gives the same id."""
    if idempotency_seed is None:
        return str(_new_ids.draw())
    seed = f"{actor.tenant}/{actor.role}/{actor.subject}/{idempotency_seed}"
    return str(uuid5(DIGIONE_NAMESPACE, seed))
