"""Importing a OneRoster CSV bundle into a tenant: rows become roster events, in batches.

Every row becomes the command a REST PUT of the same record gives (api/oneroster_csv/rows.py)
and runs through the tenant application's roster commands, which compare it with the record
as stored: only real changes become events, so a re-run of the same bundle records none.
The commands of about `batch_size` rows are saved in one store transaction (domain/batch.py):
a crash loses at most the batch in flight, whole, and a re-run completes the import.

A file the manifest marks `bulk` is the whole of its collection as the source system sees
it: records that this source put before and that the file no longer names are marked
`tobedeleted`; records from other sources are never touched, and a `delta` file deletes
only what its rows mark `tobedeleted`. A bulk import that would mark more than
`max_deletion_share` of a collection (a truncated SIS export looks exactly like that) stops
before recording anything and says how many, unless mass deletion is allowed.

Agents are two-way in OneRoster (a student's agents are guardians, a guardian's agents are
students); the store keeps each link on the student. Users are put in two passes, so that a
link to a user further down the file (or a guardian listed only on the guardian's row)
resolves.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from api.oneroster_csv.bundle import DEFAULT_MAX_DELETION_SHARE, FILE_ORDER, Bundle, CsvFile, Note
from api.oneroster_csv.rows import (
    RowError,
    column_of,
    row_command,
    row_shape,
    split_list,
)
from api.routers.roster import ROSTER_BODIES
from domain import retention
from domain.application import TenantApplication
from domain.batch import SaveBatch
from domain.command_roles import require_roster_writer
from domain.commands import Actor, Outcome, PutUser
from domain.errors import DomainError
from domain.record import ACTIVE, TO_BE_DELETED
from domain.roster import Role, User
from domain.sealing import Erased, SealingError

__all__ = [
    "DEFAULT_MAX_DELETION_SHARE",
    "DEFAULT_SOURCE",
    "FileCounts",
    "ImportReport",
    "MassDeletionError",
    "import_bundle",
]

#: The source of a bundle whose manifest names none (source.systemCode / systemName).
DEFAULT_SOURCE = "oneroster-csv"
#: Rows whose commands are saved in one store transaction.
DEFAULT_BATCH_SIZE = 1000
#: Deletions are applied in this order (the records that refer to others first).
_DELETION_ORDER = (
    "enrollments",
    "demographics",
    "users",
    "classes",
    "courses",
    "academicSessions",
    "orgs",
)
#: The files whose rows seal personal data, and the retention class they seal it under.
_SEALED = {"users": retention.USER_DETAILS, "demographics": retention.DEMOGRAPHICS}
_ERASED = (
    "the user's personal data was erased; an import never brings it back, so the row is left out"
)

Progress = Callable[[int, int], None]


@dataclass
class FileCounts:
    """What an import did with one file's rows."""

    mode: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class MassDeletion:
    """A collection a bulk import would mark tobedeleted: how many of how many."""

    collection: str
    would_mark: int
    of: int

    def as_json(self) -> dict[str, Any]:
        return {"collection": self.collection, "wouldMark": self.would_mark, "of": self.of}


@dataclass
class ImportReport:
    """What an import did: counts per file, rows rejected, quirks tolerated, the position
    of its last event (wait for it before reading over REST)."""

    tenant: str
    source: str
    version: str
    files: dict[str, FileCounts] = field(default_factory=dict)
    rejected: list[Note] = field(default_factory=list)
    quirks: list[Note] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    mass_deletions: list[MassDeletion] = field(default_factory=list)
    position: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "source": self.source,
            "onerosterVersion": self.version,
            "position": self.position,
            "files": {name: counts.as_json() for name, counts in self.files.items()},
            "rejected": [note.as_json() for note in self.rejected],
            "quirks": [note.as_json() for note in self.quirks],
            "ignoredFiles": self.ignored_files,
            "massDeletions": [m.as_json() for m in self.mass_deletions],
        }


class MassDeletionError(Exception):
    """Raised when a bulk import would mark more than the allowed share of a collection
    tobedeleted; nothing was recorded."""

    def __init__(self, report: ImportReport, share: float) -> None:
        counts = ", ".join(
            f"{m.would_mark} of {m.of} {m.collection}" for m in report.mass_deletions
        )
        super().__init__(
            f"the bulk import would mark {counts} tobedeleted, more than {share:.0%} of a "
            "collection; nothing was recorded. A truncated export from the student "
            "information system looks exactly like this: check the files, and if the "
            "deletions are meant, import again allowing mass deletion"
        )
        self.report = report


@dataclass
class _Row:
    file: str
    line: int
    sourced_id: str
    status: str
    values: dict[str, str]


#: The records a row of a file refers to, read in bulk with the row's own.
_REFERENCES: dict[str, Callable[[_Row], Iterable[tuple[str, str]]]] = {
    "enrollments": lambda row: (
        ("users", row.values.get("userSourcedId", "")),
        ("classes", row.values.get("classSourcedId", "")),
    ),
    "demographics": lambda row: (("users", row.sourced_id),),
}


class _Import:
    """One run of an import: the plan from the rows, then the batches."""

    def __init__(
        self,
        app: TenantApplication,
        actor: Actor,
        bundle: Bundle,
        *,
        batch_size: int,
        on_progress: Progress | None,
    ) -> None:
        self.app = app
        self.actor = actor
        self.bundle = bundle
        self.source = bundle.source or DEFAULT_SOURCE
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.report = ImportReport(
            tenant=app.tenant,
            source=self.source,
            version=bundle.version,
            quirks=list(bundle.quirks),
            ignored_files=list(bundle.ignored),
        )
        self.rows: dict[str, list[_Row]] = {}
        #: Every sourcedId a file names (rows rejected included: never deleted for a typo).
        self.named: dict[str, set[str]] = {}
        self.done = 0
        self.total = 0
        self._sources: list[tuple[str, str, bool]] = []
        self._batch: SaveBatch | None = None
        #: What became of each user the import wrote, over all its puts (created, changed):
        #: roles.csv's rows are counted by what became of their users.
        self._users_written: dict[str, Outcome] = {}
        #: The users the import refused (a users.csv row, or a user other rows changed): a
        #: row naming one that the tenant did not have before as its agent is rejected too,
        #: as one naming a user the tenant does not have.
        self.refused_users: set[str] = set()

    # -- reading the rows ------------------------------------------------------------------

    def read(self) -> None:
        for name in FILE_ORDER:
            csv_file = self.bundle.files.get(name)
            if csv_file is None:
                continue
            self.report.files[name] = FileCounts(mode=csv_file.mode, rows=len(csv_file.rows))
            self.rows[name] = self._read_file(csv_file)
        # Role rows are applied through their users' rows: they are no steps of their own.
        self.total = sum(len(rows) for name, rows in self.rows.items() if name != "roles")

    def _read_file(self, csv_file: CsvFile) -> list[_Row]:
        rows: list[_Row] = []
        first_line: dict[str, int] = {}
        named = self.named.setdefault(csv_file.name, set())
        status_in_bulk = False
        passwords = False
        for line, values in csv_file.rows:
            sourced_id = values.get("sourcedId", "")
            if not sourced_id:
                self.reject(csv_file.name, line, "sourcedId", "sourcedId is required")
                continue
            named.add(sourced_id)
            if sourced_id in first_line:
                self.reject(
                    csv_file.name,
                    line,
                    "sourcedId",
                    f"sourcedId {sourced_id!r} repeats row {first_line[sourced_id]}",
                )
                continue
            first_line[sourced_id] = line
            passwords = passwords or bool(values.get("password"))
            status = values.get("status", "")
            if csv_file.mode == "bulk":
                status_in_bulk = status_in_bulk or bool(status or values.get("dateLastModified"))
                status = ACTIVE
            elif status.lower() not in (ACTIVE, TO_BE_DELETED):
                self.reject(
                    csv_file.name,
                    line,
                    "status",
                    f"status {status!r} in a delta file: write active or tobedeleted",
                )
                continue
            rows.append(_Row(csv_file.name, line, sourced_id, status.lower(), values))
        if status_in_bulk:
            self.quirk(
                csv_file.name, None, "status", "status and dateLastModified in a bulk file ignored"
            )
        if passwords:
            self.quirk(csv_file.name, None, "password", "passwords are never stored: left out")
        return rows

    # -- deletions and the guard -----------------------------------------------------------

    def deletions(self, max_share: float) -> dict[str, list[str]]:
        """For each bulk file, the records of this source it no longer names."""
        absent: dict[str, list[str]] = {}
        for name, csv_file in self.bundle.files.items():
            if csv_file.mode != "bulk" or name == "roles":
                continue
            known = self.app.tables.records_of_source(self.source, name)
            gone = sorted(
                sid for sid, active in known.items() if active and sid not in self.named[name]
            )
            if gone:
                absent[name] = gone
                total = sum(1 for active in known.values() if active)
                if len(gone) > max_share * total:
                    self.report.mass_deletions.append(MassDeletion(name, len(gone), total))
        self.total += sum(len(ids) for ids in absent.values())
        return absent

    # -- applying --------------------------------------------------------------------------

    def apply(self, absent: dict[str, list[str]]) -> None:
        with self.app.batched() as batch:
            self._batch = batch
            for name in ("orgs", "academicSessions", "courses", "classes"):
                for row in self._prepared(name, _parents_first(self.rows.get(name, []))):
                    self._put(row, functools.partial(self._command, row))
            self._users()
            for name in ("enrollments", "demographics"):
                rows = self.rows.get(name, [])
                for row in self._prepared(name, rows, _REFERENCES[name]):
                    self._put(row, functools.partial(self._command, row))
            for name in _DELETION_ORDER:
                gone = [_Row(name, 0, sid, TO_BE_DELETED, {}) for sid in absent.get(name, [])]
                for row in self._prepared(name, gone):
                    self._delete(name, row.sourced_id)
            self._flush()
        self.report.position = batch.position or self.app.head_position()

    def _prepared(
        self,
        name: str,
        rows: list[_Row],
        references: Callable[[_Row], Iterable[tuple[str, str]]] | None = None,
    ) -> Iterator[_Row]:
        """The rows, a batch's worth at a time, with what their commands would look up one
        by one read in bulk first: the records themselves (or that they are new), the
        records they refer to (`references`: collection and sourcedId pairs), the keys
        that seal their data. Each batch's commands are saved when its rows are done."""
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            ids = [row.sourced_id for row in chunk]
            wanted: dict[str, list[str]] = {name: ids}
            if references is not None:
                for row in chunk:
                    for collection, sourced_id in references(row):
                        wanted.setdefault(collection, []).append(sourced_id)
            self.app.preload(wanted)
            if name in _SEALED:
                self.app.prepare_subject_keys(ids, _SEALED[name])
            yield from chunk
            self._flush()

    def _command(self, row: _Row) -> Any:
        notes: list[Note] = []
        shape = row_shape(row.file, row.values, row.line, notes)
        self.report.quirks.extend(notes)
        return row_command(row.file, row.sourced_id, shape, row.status)

    def _put(self, row: _Row, command: Callable[[], Any], *, again: bool = False) -> None:
        """Runs a row's command; a row it refuses is reported and the rest go on. `again`: a
        row put before (users naming each other), counted and stepped then."""
        count = not again
        counts = self.report.files[row.file]
        try:
            if row.status == TO_BE_DELETED:
                outcome = self._mark(row.file, row.sourced_id)
                # A row of a record already marked (a delta sent again) changed nothing.
                counts.deleted += int(outcome.changed)
                counts.unchanged += int(not outcome.changed)
                count = False
            else:
                built = command()
                method = ROSTER_BODIES[row.file][3]
                outcome = method(self.app, self.actor, built)
        except (RowError, SealingError, DomainError) as error:
            self._refuse(row, error)
        else:
            if count:
                _count(counts, outcome)
            if row.file == "users" and row.status == ACTIVE:
                self._user_written(row.sourced_id, outcome)
            self._sources.append((row.file, row.sourced_id, row.status == ACTIVE))
        finally:
            if not again:
                self._step()

    def _refuse(self, row: _Row, error: RowError | SealingError | DomainError) -> None:
        """Reports the row rejected (a user's, so that rows naming the user as their agent
        are rejected too)."""
        if isinstance(error, RowError):
            column, reason = error.column, error.reason
        elif isinstance(error, SealingError):
            column, reason = None, _ERASED
        else:
            column, reason = column_of(row.file, error.field), error.message
        if row.file == "users":
            self.refused_users.add(row.sourced_id)
        self.reject(row.file, row.line, column, reason)

    def _mark(self, collection: str, sourced_id: str) -> Outcome:
        return self.app.mark_for_deletion(self.actor, collection, sourced_id)

    def _delete(self, collection: str, sourced_id: str) -> None:
        outcome = self._mark(collection, sourced_id)
        if outcome.changed:
            self.report.files[collection].deleted += 1
        self._sources.append((collection, sourced_id, False))
        self._step()

    def _step(self) -> None:
        self.done += 1
        assert self._batch is not None
        # A batch of rows is saved when its rows are done (see `_prepared`); this bounds
        # the rest (a batch of rows that touches many other records, the overlays).
        if len(self._batch) >= 2 * self.batch_size:
            self._flush()
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)

    def _flush(self) -> None:
        assert self._batch is not None
        if self._sources:
            self._batch.add_side_write(
                self.app.tables.record_sources_write(self.source, self._sources)
            )
            self._sources = []
        self._batch.flush()

    # -- users: roles, agents (two-way), enrollments' implied roles, two passes -----------

    def _users(self) -> None:
        plan = _UserPlan(self)
        ordered = sorted(self.rows.get("users", []), key=lambda r: plan.is_student(r.sourced_id))
        waiting: list[_Row] = []

        def agents(row: _Row) -> Iterable[tuple[str, str]]:
            return (("users", agent) for agent in plan.links.get(row.sourced_id, ()))

        for row in self._prepared("users", ordered, agents):
            if plan.waits(row):
                waiting.append(row)
            else:
                self._put(row, functools.partial(plan.command, row))
        # A row naming agents the file has after it is written once they are (or rejected
        # once one of them is), never first without them. Users that name each other wait
        # for one another: a row of theirs that cannot be a user is rejected first (and the
        # rows naming it with it, as above); the rest are written with the agents written so
        # far, then again.
        while waiting:
            ready = [row for row in waiting if not plan.waits(row)]
            if not ready:
                invalid = [row for row in waiting if not plan.builds(row)]
                if invalid:
                    for row in self._prepared("users", invalid, agents):
                        self._put(row, functools.partial(plan.command, row))
                    left_out = {id(row) for row in invalid}
                    waiting = [row for row in waiting if id(row) not in left_out]
                    continue
                for row in self._prepared("users", waiting, agents):
                    self._put(row, functools.partial(plan.command, row, only_present=True))
                for row in self._prepared("users", waiting, agents):
                    self._put(row, functools.partial(plan.command, row), again=True)
                break
            for row in self._prepared("users", ready, agents):
                self._put(row, functools.partial(plan.command, row))
            written = {id(row) for row in ready}
            waiting = [row for row in waiting if id(row) not in written]
        overlays = plan.overlays()
        self.total += len(overlays)
        for sourced_id in overlays:
            self._overlay(plan, sourced_id)
            self._step()
        self._count_role_rows(plan)

    def _user_written(self, sourced_id: str, outcome: Outcome) -> None:
        before = self._users_written.get(sourced_id)
        if before is not None:
            outcome = dataclasses.replace(
                outcome,
                created=before.created or outcome.created,
                changed=before.changed or outcome.changed,
            )
        self._users_written[sourced_id] = outcome

    def _count_role_rows(self, plan: _UserPlan) -> None:
        """roles.csv's rows are applied through their users, so each is counted by what
        became of its user: created, updated or unchanged (a delta's tobedeleted row that
        changed its user, marked tobedeleted). A row whose user was not written (the user's
        row rejected, their personal data erased) is rejected."""
        counts = self.report.files.get("roles")
        if counts is None:
            return
        for row, user in plan.role_rows:
            written = self._users_written.get(user)
            if written is None:
                self.reject("roles", row.line, "userSourcedId", self._unwritten(plan, user))
            elif row.status != ACTIVE:
                counts.deleted += int(written.changed)
                counts.unchanged += int(not written.changed)
            else:
                _count(counts, written)

    def _unwritten(self, plan: _UserPlan, user: str) -> str:
        """Why a role row's user was not written."""
        row = plan.in_users.get(user)
        if row is not None and user in self.refused_users:
            why = f"their users.csv row {row.line} was rejected"
        elif row is not None:  # an active row that was not rejected was written
            why = f"users.csv row {row.line} marks them tobedeleted"
        elif user in self.refused_users:
            why = "they were refused (see users.csv, asked for by other rows)"
        else:
            why = "their personal data was erased"
        return f"the role's user {user!r} was not written: {why}"

    def _overlay(self, plan: _UserPlan, sourced_id: str) -> None:
        """Re-puts a user the bundle's users.csv does not name but whose links or roles
        other rows change (a delta's guardian row naming a student, a role row)."""
        user = self.app.find("users", sourced_id)
        if not isinstance(user, User):
            return
        personal = self.app.sealer.unseal(user.personal)
        if isinstance(personal, Erased):
            return
        roles = plan.roles_of(sourced_id) or []
        guardians = sorted(set(user.guardians) | plan.links.get(sourced_id, set()))
        command = PutUser(
            sourced_id,
            user.status,
            user.enabled,
            roles,
            user.primary_org,
            user.grades,
            [g for g in guardians if self.app.find("users", g) is not None],
            personal,
        )
        try:
            outcome = self.app.put_user(self.actor, command)
        except (DomainError, SealingError) as error:
            reason = error.message if isinstance(error, DomainError) else _ERASED
            self.refused_users.add(sourced_id)
            self.reject("users", 0, None, f"user {sourced_id!r}: {reason}")
        else:
            self._user_written(sourced_id, outcome)

    # -- notes -----------------------------------------------------------------------------

    def reject(self, file: str, line: int, column: str | None, reason: str) -> None:
        self.report.rejected.append(Note(file, line, column, reason))

    def quirk(self, file: str, line: int | None, column: str | None, reason: str) -> None:
        self.report.quirks.append(Note(file, line, column, reason))


class _UserPlan:
    """Each user's roles (roles.csv, 1.1 columns, roles their enrollments imply) and the
    agent links of the bundle, resolved to the direction the store keeps."""

    def __init__(self, run: _Import) -> None:
        self.run = run
        self.app = run.app
        self.in_users = {row.sourced_id: row for row in run.rows.get("users", [])}
        self.bundle_roles: dict[str, list[Role]] = {}
        #: roles.csv's rows taken, each with its user.
        self.role_rows: list[tuple[_Row, str]] = []
        self._existing: dict[str, User | None] = {}
        self._read_roles()
        self._implied_roles()
        #: user → the users linked to it as its agents (stored on it).
        self.links: dict[str, set[str]] = {}
        self._read_agents()

    def _user(self, sourced_id: str) -> User | None:
        if sourced_id not in self._existing:
            found = self.app.find("users", sourced_id)
            self._existing[sourced_id] = found if isinstance(found, User) else None
        return self._existing[sourced_id]

    def _read_roles(self) -> None:
        """A bulk roles.csv is each named user's whole set of roles; a delta's rows add
        (active) or remove (tobedeleted) one role each from the user's stored roles."""
        roles_file = self.run.bundle.files.get("roles")
        delta = roles_file is not None and roles_file.mode == "delta"
        by_user: dict[str, dict[tuple[str, str], Role]] = {}
        for row in self.run.rows.get("roles", []):
            v = row.values
            user = v["userSourcedId"]
            if user not in self.in_users and self._user(user) is None:
                self.run.reject(
                    "roles",
                    row.line,
                    "userSourcedId",
                    f"{user!r} is not a user of the bundle's users.csv or of the tenant",
                )
                continue
            if user not in by_user:
                stored = self.roles_of(user) if delta else None
                by_user[user] = {(r.role, r.org): r for r in stored or []}
            try:
                role = _role(v["roleType"], v["role"], v["orgSourcedId"], v)
            except RowError as error:
                self.run.reject("roles", row.line, error.column, error.reason)
                continue
            self.role_rows.append((row, user))
            if row.status == ACTIVE:
                by_user[user][(role.role, role.org)] = role
            else:
                by_user[user].pop((role.role, role.org), None)
        self.bundle_roles.update({user: list(roles.values()) for user, roles in by_user.items()})
        for row in self.in_users.values():
            v = row.values
            if "orgSourcedIds" in v and v.get("role"):
                orgs = split_list(v["orgSourcedIds"])
                role_name = _ONE_ONE_ROLES.get(v["role"], v["role"])
                self.bundle_roles[row.sourced_id] = [
                    Role("primary" if i == 0 else "secondary", role_name, org)
                    for i, org in enumerate(orgs)
                ]

    def _implied_roles(self) -> None:
        """OneRoster does not require a user's enrollment role to be among their roles
        (real SIS exports break it): the enrollment's role is added as a secondary role."""
        for row in self.run.rows.get("enrollments", []):
            v = row.values
            role, user, school = (
                v.get("role", ""),
                v.get("userSourcedId", ""),
                v.get("schoolSourcedId", ""),
            )
            if row.status != ACTIVE or role not in ("student", "teacher") or not school:
                continue
            roles = self.roles_of(user)
            if roles is None or any(r.role == role for r in roles):
                continue
            self.bundle_roles[user] = [*roles, Role("secondary", role, school)]
            self.run.quirk(
                "enrollments",
                row.line,
                "role",
                f"user {user!r} is enrolled as {role} without that role: given it as a "
                "secondary role",
            )

    def roles_of(self, sourced_id: str) -> list[Role] | None:
        if sourced_id in self.bundle_roles:
            return self.bundle_roles[sourced_id]
        user = self._user(sourced_id)
        if user is None:
            return None
        return [
            Role(r["role_type"], r["role"], r["org"], r.get("begin_date"), r.get("end_date"))
            for r in user.roles.values()
        ]

    def is_student(self, sourced_id: str) -> bool:
        return any(r.role == "student" for r in self.roles_of(sourced_id) or [])

    def _read_agents(self) -> None:
        for row in self.in_users.values():
            if row.status != ACTIVE:
                continue
            self.links.setdefault(row.sourced_id, set())
            for agent in split_list(row.values.get("agentSourcedIds", "")):
                # Stored on the student; between two non-students (or two students), on
                # the user whose row names the other.
                if self.is_student(row.sourced_id) or not self.is_student(agent):
                    self.links.setdefault(row.sourced_id, set()).add(agent)
                else:
                    self.links.setdefault(agent, set()).add(row.sourced_id)

    def overlays(self) -> list[str]:
        changed = set(self.links) | set(self.bundle_roles)
        return sorted(u for u in changed if u not in self.in_users and self._user(u) is not None)

    def waits(self, row: _Row) -> bool:
        """Whether the row's user names an agent of users.csv not written yet (nor refused)."""
        return any(
            agent in self.in_users
            and agent not in self.run.refused_users
            and not self._written(agent)
            for agent in self.links.get(row.sourced_id, ())
        )

    def _written(self, sourced_id: str) -> bool:
        """Whether the user is stored now (or in the import's open batch)."""
        return self.app.find("users", sourced_id, for_update=False) is not None

    def builds(self, row: _Row) -> bool:
        """Whether the row makes a user the store takes, its agents not written yet aside
        (nothing is reported or recorded)."""
        try:
            self.app.check_user(self.run.actor, self.command(row, only_present=True, quirks=[]))
        except (RowError, SealingError, DomainError):
            return False
        return True

    def command(
        self, row: _Row, *, only_present: bool = False, quirks: list[Note] | None = None
    ) -> PutUser:
        """The user's command, linked to its agents (`only_present`: to those written so
        far, for users that name each other); its row's quirks go to the report (or to
        `quirks`)."""
        roles = self.roles_of(row.sourced_id)
        if not roles:
            raise RowError("role", "the user has no role: roles.csv names none for them")
        agents = sorted(self.links.get(row.sourced_id, set()))
        unknown = [a for a in agents if a not in self.in_users and self._user(a) is None]
        if unknown:
            raise RowError(
                "agentSourcedIds",
                f"agent(s) {', '.join(unknown)} are not users of the bundle or the tenant",
            )
        refused = {a for a in agents if a in self.run.refused_users and self._user(a) is None}
        named = sorted(refused & set(split_list(row.values.get("agentSourcedIds", ""))))
        if named:
            raise RowError(
                "agentSourcedIds",
                f"agent(s) {', '.join(named)} were not written: their rows were rejected",
            )
        # A rejected row's own links (a guardian's row naming this student) are not made.
        agents = [a for a in agents if a not in refused]
        shape = row_shape(
            "users", row.values, row.line, self.run.report.quirks if quirks is None else quirks
        )
        shape["roles"] = [
            {"roleType": r.role_type, "role": r.role, "org": {"sourcedId": r.org},
             "beginDate": r.begin_date, "endDate": r.end_date}
            for r in roles
        ]  # fmt: skip
        command: PutUser = row_command("users", row.sourced_id, shape, row.status)
        if only_present:
            agents = [a for a in agents if self._written(a)]
        return dataclasses.replace(command, guardians=agents)


#: OneRoster 1.1 user roles that 1.2 renamed.
_ONE_ONE_ROLES = {"administrator": "siteAdministrator"}


def _role(role_type: str, role: str, org: str, values: dict[str, str]) -> Role:
    def day(column: str) -> date | None:
        text = values.get(column, "")
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise RowError(column, f"{text!r} is not a date as YYYY-MM-DD") from None

    if role_type not in ("primary", "secondary"):
        raise RowError("roleType", f"roleType {role_type!r}: write primary or secondary")
    if not role or not org:
        raise RowError("role" if not role else "orgSourcedId", "role and orgSourcedId are required")
    return Role(role_type, role, org, day("beginDate"), day("endDate"))


def _count(counts: FileCounts, outcome: Outcome) -> None:
    if outcome.created:
        counts.created += 1
    elif outcome.changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


def _parents_first(rows: list[_Row]) -> list[_Row]:
    """Rows ordered so that a parent named in the same file comes before its children."""
    by_id = {row.sourced_id: row for row in rows}
    ordered: list[_Row] = []
    placed: set[str] = set()

    def place(row: _Row, seen: frozenset[str]) -> None:
        if row.sourced_id in placed:
            return
        parent = by_id.get(row.values.get("parentSourcedId", ""))
        if parent is not None and parent.sourced_id not in seen:
            place(parent, seen | {row.sourced_id})
        placed.add(row.sourced_id)
        ordered.append(row)

    for row in rows:
        place(row, frozenset({row.sourced_id}))
    return ordered


def import_bundle(
    app: TenantApplication,
    actor: Actor,
    bundle: Bundle,
    *,
    allow_mass_deletion: bool = False,
    max_deletion_share: float = DEFAULT_MAX_DELETION_SHARE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Imports the bundle's rostering files into the tenant of `app` as `actor` (an admin
    or the SIS service); MassDeletionError, recording nothing, when the guard stops it."""
    require_roster_writer(actor)
    run = _Import(app, actor, bundle, batch_size=batch_size, on_progress=on_progress)
    run.read()
    absent = run.deletions(max_deletion_share)
    if run.report.mass_deletions and not allow_mass_deletion:
        raise MassDeletionError(run.report, max_deletion_share)
    # The bundle's rows (a city's are millions of objects) live as long as the import:
    # the collector's full passes need not go through them again and again.
    gc.freeze()
    try:
        run.apply(absent)
    finally:
        gc.unfreeze()
    # Rows of the file only: a user that other rows re-put (a role row, an agent link) and
    # that was refused is noted as row 0 of users.csv, not one of its rows (a role row that
    # asked for it is rejected itself).
    for name, counts in run.report.files.items():
        counts.rejected = len({n.row for n in run.report.rejected if n.file == name and n.row})
    return run.report


def rejected_rows(report: ImportReport) -> Iterable[Note]:
    """The rows the import left out, in file and row order."""
    return sorted(report.rejected, key=lambda n: (n.file, n.row or 0))
