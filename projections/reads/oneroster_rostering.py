"""OneRoster 1.2 rostering reads for service clients: collections and records of the roster
read model, limited by the client's agreement, with filter, sort, paging and fields.

The read layer's order (authorise → read → unseal → record disclosure → shape): the
client's scopes are checked first; every query is the caller's tenant AND the agreement's
schools AND the endpoint's own selection AND the caller's filter, so no filter can widen
access (an `OR` in a filter stays inside its parentheses); personal fields are unsealed
only for the categories the agreement names and only when `fields` selects them; what a
response carries of whom is recorded as disclosed before it is answered.

Freshness (`?min_position=N`) is the API's to wait for, as for every read.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from domain.sealing import Sealer
from projections.reads.access import (
    ReadNotPermittedError,
    RosterRecordNotFoundError,
    read_connection,
    retried_once,
    row_dicts,
)
from projections.reads.disclosures import STATUTORY_TASK
from projections.reads.oneroster_consent import ConsentView, consent_view, current_consents
from projections.reads.oneroster_fields import (
    SELECTABLE,
    FieldCatalogue,
    InvalidFilterFieldError,
)
from projections.reads.oneroster_filter import FilterSyntaxError, parse_filter
from projections.reads.page_cursors import PageCursors, in_sourced_id_order, past
from projections.reads.read_service import ReadService
from projections.reads.unsealing import ERASED_TEXT, Unsealer
from projections.roster import RosterProjection, RosterTables

__all__ = [
    "CORE",
    "DEMOGRAPHICS",
    "FULL",
    "MAX_LIMIT",
    "ClientView",
    "InvalidSelectionFieldError",
    "Page",
    "RosterQuery",
    "RosteringReads",
    "Selection",
]

CORE = "roster-core.readonly"
FULL = "roster.readonly"
DEMOGRAPHICS = "roster-demographics.readonly"
#: The largest page served; a larger `limit` is served as this many (documented).
MAX_LIMIT = 10_000

#: The user fields of each personal-data category an agreement can name.
_CONTACT = frozenset({"email", "sms", "phone"})
_IDENTITY = frozenset(
    {
        "givenName",
        "familyName",
        "middleName",
        "preferredFirstName",
        "preferredMiddleName",
        "preferredLastName",
        "pronouns",
        "username",
        "userMasterIdentifier",
        "identifier",
        "userIds",
    }
)
#: US race and ethnicity flags: special-category data (GDPR art. 9), never handed out.
_DROPPED_DEMOGRAPHICS = frozenset(
    {
        "americanIndianOrAlaskaNative",
        "asian",
        "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander",
        "white",
        "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity",
    }
)
#: What stands for a required name the client may not see (the category is not agreed).
WITHHELD_TEXT = ""
#: The people's records, by the column naming their data subject: a consent-based client
#: sees them only through consents covering the `roster` category.
_SUBJECT_OF_ENTITY = {
    "user": "sourced_id",
    "enrollment": "user_sourced_id",
    "demographics": "sourced_id",
}
#: The agreement's basis under which a client sees people only with their consent.
CONSENT_BASIS = "consent"
#: Fields of a user's record that are never answered, whatever `fields` asks for.
_NEVER_ANSWERED = frozenset({"password", "userProfiles"})
#: The label of a page query's column counting every row the page is taken from.
_TOTAL = "total_count_of_the_page_query"
#: The names of a page query's limit and offset parameters, and of the sourcedId a page
#: seeks past.
_LIMIT, _OFFSET, _AFTER = "page_limit", "page_offset", "page_after"


class InvalidSelectionFieldError(ValueError):
    """Raised when `fields` names a field the entity does not have."""


@dataclass(frozen=True)
class ClientView:
    """Who reads, as their agreement says: the service, its scopes (short names), the
    personal-data categories it may see, its basis and the schools it is limited to
    (none: every school of the tenant)."""

    tenant: str
    service: str
    role: str
    scopes: frozenset[str]
    categories: frozenset[str]
    basis: str
    schools: frozenset[str] = frozenset()
    #: The purpose a consent must name to count for a consent-based client.
    purpose: str | None = None


@dataclass(frozen=True)
class RosterQuery:
    """A collection request's parameters, as the caller sent them (checked when used)."""

    limit: int = 100
    offset: int = 0
    sort: str | None = None
    order_by: str = "asc"
    filter: str | None = None
    fields: tuple[str, ...] | None = None


def client_clauses(
    catalogue: FieldCatalogue, entity: str, query: RosterQuery, sourced_id: ColumnElement[Any]
) -> tuple[list[ColumnElement[bool]], list[ColumnElement[Any]]]:
    """The client's `filter` as conditions (AND-ed by the caller with its scope, so a filter
    never widens access) and the answer's order: the client's `sort`, then sourcedId, so
    pages are stable."""
    conditions: list[ColumnElement[bool]] = []
    if query.filter is not None:
        try:
            tree = parse_filter(query.filter)
        except FilterSyntaxError as error:
            raise InvalidFilterFieldError(str(error)) from None
        conditions.append(catalogue.condition(entity, tree))
    descending = query.order_by == "desc"
    order: list[ColumnElement[Any]] = []
    if query.sort:
        column = catalogue.sort_column(entity, query.sort)
        order.append(column.desc() if descending else column.asc())
    order.append(sourced_id.desc() if descending else sourced_id.asc())
    return conditions, order


@dataclass(frozen=True)
class Page:
    """One page of a collection and how many records the caller may see in all."""

    records: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class _Linked:
    """What a page's records show beyond their own rows, read with the page."""

    #: Org or session sourcedId → its children's, in order.
    children: dict[str, list[str]]
    #: For a consent-based client, subject → category → the consent in force naming it.
    consents: dict[str, dict[str, str]] | None


@dataclass(frozen=True)
class _Shaped:
    """Records as answered, and what they disclose of whom (recorded before answering)."""

    records: list[dict[str, Any]]
    #: Subject → the categories of their data the records carry.
    disclosed: dict[str, set[str]]
    #: Subject → the consent the client sees them under (absent: the statutory task).
    bases: dict[str, str]


@dataclass(frozen=True)
class Selection:
    """What an endpoint reads: an entity, the parent records that must be visible, and a
    condition of its own (`/schools/{id}/classes` → classes of that school)."""

    entity: str
    where: Callable[[RosterTables], Iterable[ColumnElement[bool]]] = lambda _t: ()
    parents: Sequence[tuple[str, str, Callable[[RosterTables], Iterable[ColumnElement[bool]]]]] = (
        field(default_factory=tuple)
    )
    #: What determines `where` and `parents` (the operation and its path parameters), when
    #: the caller can say: a page's statement is then built once for the same request.
    key: Hashable | None = None


def _utc_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _day(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()


def _bool(value: bool) -> str:
    return "true" if value else "false"


_TABLE_OF_ENTITY = {
    "org": "orgs",
    "academicSession": "academic_sessions",
    "course": "courses",
    "class": "classes",
    "user": "users",
    "enrollment": "enrollments",
    "demographics": "demographics",
}
#: Where a reference of each type points, under the rostering base URL.
_PATH_OF_TYPE = {
    "org": "orgs",
    "academicSession": "academicSessions",
    "course": "courses",
    "class": "classes",
    "user": "users",
}


@dataclass(frozen=True)
class _PageStatement:
    """A page's statements before its limit and offset (see `RosteringReads.page`)."""

    page: sa.Select[Any]
    count: sa.Select[Any]
    #: The page after a sourcedId (`page_after`), without the count: the next page of a
    #: walk (projections/reads/page_cursors.py).
    seek: sa.Select[Any]
    #: Whether a later request of the same key may be served it (not when the blind index
    #: answered its filter).
    reusable: bool


class _BuiltPages:
    """Page statements built before, for each set of roster tables (a system's), by what
    shapes them: the selection, the client as its agreement stands and the query without
    its limit and offset. Building one (the visibility conditions, the filter, the order)
    took about as long as running it; a service paging through a school asks the same again
    and again. Bounded: the oldest statement is dropped first. Statements hold no data
    read, only what the request named, so nothing here can go stale."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._built: weakref.WeakKeyDictionary[RosterTables, dict[Hashable, _PageStatement]]
        self._built = weakref.WeakKeyDictionary()

    @staticmethod
    def key(selection: Selection, client: ClientView, query: RosterQuery) -> Hashable | None:
        """What a page's statement depends on; None when the selection cannot say."""
        if selection.key is None:
            return None
        return (selection.entity, selection.key, client, replace(query, limit=0, offset=0))

    def get(self, tables: RosterTables, key: Hashable) -> _PageStatement | None:
        with self._lock:
            return self._built.get(tables, {}).get(key)

    def put(self, tables: RosterTables, key: Hashable, built: _PageStatement) -> None:
        with self._lock:
            kept = self._built.setdefault(tables, {})
            kept[key] = built
            if len(kept) > self._size:
                del kept[next(iter(kept))]


#: Up to 1,024 page statements for each system's roster tables.
_BUILT_PAGES = _BuiltPages(1024)


@dataclass(frozen=True, kw_only=True)
class RosteringReads(ReadService[RosterProjection]):
    """The rostering service's reads; build one per request with the container's parts."""

    #: The sealer of a tenant (its application's): reads open personal fields with it.
    sealers: Callable[[str], Sealer]
    #: Finds users by a sealed field's value through the blind index: (tenant, field,
    #: value) → sourcedIds. Without it, sealed fields cannot be filtered on.
    users_with: Callable[[str, str, str], list[str]] | None = None
    #: Where clients' walks through collections stand (projections/reads/page_cursors.py);
    #: None: every page counts off its offset.
    cursors: PageCursors | None = None

    @retried_once
    def page(
        self,
        client: ClientView,
        selection: Selection,
        query: RosterQuery,
        *,
        scopes: frozenset[str],
        base_url: str,
    ) -> Page:
        """A page of the collection `selection` names, as `query` asks (read once more on a
        new connection when the first was found dropped: nothing is disclosed before the
        reads are done)."""
        self._authorise(client, scopes, selection.entity)
        fields = self._fields(selection.entity, query.fields)
        limit = min(query.limit, MAX_LIMIT)
        key = _BUILT_PAGES.key(selection, client, query)
        built = None if key is None else _BUILT_PAGES.get(self.projection.tables, key)
        if built is None:
            built = self._page_statement(client, selection, query)
            if key is not None and built.reusable:
                _BUILT_PAGES.put(self.projection.tables, key, built)
        # A walk in sourcedId order, by a statement that holds no blind-index answer, can
        # seek from where its page before ended (page_cursors.py).
        walkable = key is not None and built.reusable and in_sourced_id_order(query.sort)
        cursors = self.cursors if walkable else None
        with read_connection(self.engine) as c:
            self._require_parents(c, client, selection)
            walk = None
            if cursors is not None:
                tenant, name = client.tenant, self.projection.name
                walk = cursors.page(c, key, query.offset, projection=name, tenant=tenant)
            if walk is not None and walk.mark is not None:
                window: dict[str, Any] = {_LIMIT: limit, _AFTER: walk.mark.after}
                rows = _as_seen(row_dicts(c.execute(built.seek, window)))
                count = walk.mark.total
            else:
                # The page and the count of everything it pages through, in one query.
                window = {_LIMIT: limit, _OFFSET: query.offset}
                rows = _as_seen(row_dicts(c.execute(built.page, window)))
                if rows:
                    count = int(rows[0][_TOTAL])
                else:  # past the end (or nothing): the count needs a query of its own
                    count = int(c.execute(built.count).scalar_one())
                for row in rows:
                    del row[_TOTAL]
            if walk is not None:
                walk.read(rows, limit=limit, total=count)
            linked = self._linked(c, client, selection.entity, rows, fields)
        # Shaped and recorded once the connection is back in the pool: the disclosure's
        # writer needs one too, and a read holding its own while it waits would starve it.
        shaped = self._shape(client, selection.entity, rows, fields, base_url, linked)
        self._disclose(client, shaped)
        return Page(records=shaped.records, total=count, limit=limit, offset=query.offset)

    def _page_statement(
        self, client: ClientView, selection: Selection, query: RosterQuery
    ) -> _PageStatement:
        """The statements of a page of `selection` as `query` asks, before its limit and
        offset: the records with their count, and the count alone (past the end)."""
        tables = self.projection.tables
        users_with = self.users_with
        table = self._table(selection.entity)
        consented = self._consent_view(client, selection.entity)
        # A filter on a sealed field is answered by the blind index now: its statement
        # holds what was found, and must not serve a later request.
        looked_up = False

        def lookup(name: str, value: str) -> list[str]:
            nonlocal looked_up
            looked_up = True
            assert users_with is not None
            found = users_with(client.tenant, name, value)
            if consented is None:
                return found
            # Only people whose consent lets the client see the field can be found by it.
            category = "contact" if name in _CONTACT else "identity"
            with read_connection(self.engine) as c:
                granted = current_consents(
                    c,
                    self.projection.consents.table,
                    tenant=client.tenant,
                    service=client.service,
                    purpose=client.purpose,
                    students=found,
                )
            return [s for s in found if category in granted.get(s, {})]

        catalogue = FieldCatalogue(
            tables,
            lookup=None if users_with is None else lookup,
            visible=self._allowed(client, selection.entity),
        )
        if consented is not None:
            catalogue.see_state(
                selection.entity,
                status=consented.status,
                date_last_modified=consented.date_last_modified,
            )
        conditions = [*self._visible(client, selection.entity, tables), *selection.where(tables)]
        filtered, order = client_clauses(catalogue, selection.entity, query, table.c.sourced_id)
        conditions.extend(filtered)
        count = sa.select(sa.func.count()).select_from(table).where(*conditions)
        # The page's sourcedIds first, then their records: the offset walks the index of
        # sourcedIds alone (an index-only scan where the table is marked visible), not
        # every record before the page.
        ordered = (
            sa.select(table.c.sourced_id)
            .order_by(*order)
            .limit(sa.bindparam(_LIMIT, type_=sa.Integer))
            .correlate(None)
        )
        keys = ordered.where(*conditions).offset(sa.bindparam(_OFFSET, type_=sa.Integer))
        after = sa.bindparam(_AFTER, type_=table.c.sourced_id.type)
        beyond = past(table.c.sourced_id, after, query.order_by)
        records = self._select(table, consented)
        of_tenant = table.c.tenant == client.tenant
        return _PageStatement(
            # The count as a subquery of its own (not correlated with the page's rows), which
            # the database runs once. As a window over the page's rows (count() OVER ()) it
            # read every record the page pages through whole and carried them past the
            # window before the offset: 68 ms a page of a city's 41,000 users, spilling
            # 23 MB to temporary files each time, where this takes 23 ms.
            page=records.add_columns(count.correlate(None).scalar_subquery().label(_TOTAL))
            .where(of_tenant, table.c.sourced_id.in_(keys))
            .order_by(*order),
            count=count,
            seek=records.where(
                of_tenant, table.c.sourced_id.in_(ordered.where(*conditions, beyond))
            ).order_by(*order),
            reusable=not looked_up,
        )

    @retried_once
    def record(
        self,
        client: ClientView,
        selection: Selection,
        sourced_id: str,
        *,
        fields: tuple[str, ...] | None,
        scopes: frozenset[str],
        base_url: str,
    ) -> dict[str, Any]:
        """One record of the collection `selection` names; RosterRecordNotFoundError when
        the caller may not see it or there is none (the same answer: it tells nothing).
        Read once more on a new connection when the first was found dropped."""
        self._authorise(client, scopes, selection.entity)
        selected = self._fields(selection.entity, fields)
        table = self._table(selection.entity)
        tables = self.projection.tables
        conditions = [
            *self._visible(client, selection.entity, tables),
            *selection.where(tables),
            table.c.sourced_id == sourced_id,
        ]
        consented = self._consent_view(client, selection.entity)
        with read_connection(self.engine) as c:
            rows = _as_seen(row_dicts(c.execute(self._select(table, consented).where(*conditions))))
            if not rows:
                raise RosterRecordNotFoundError(f"there is no {selection.entity} {sourced_id!r}")
            linked = self._linked(c, client, selection.entity, rows, selected)
        shaped = self._shape(client, selection.entity, rows, selected, base_url, linked)
        self._disclose(client, shaped)
        return shaped.records[0]

    # -- authorise -----------------------------------------------------------------------

    def _authorise(self, client: ClientView, scopes: frozenset[str], entity: str) -> None:
        if not client.scopes & scopes:
            raise ReadNotPermittedError(
                f"this request needs one of the scopes {sorted(scopes)}, which the client's "
                "agreement does not grant"
            )

    def _fields(self, entity: str, fields: tuple[str, ...] | None) -> frozenset[str]:
        known = SELECTABLE[entity]
        if fields is None:
            return known
        unknown = [f for f in fields if f not in known]
        if unknown or not fields:
            raise InvalidSelectionFieldError(
                f"fields names {unknown or 'nothing'}, not fields of {entity}; "
                f"known: {', '.join(sorted(known))}"
            )
        return frozenset(fields)

    # -- what the caller may see ---------------------------------------------------------

    def _table(self, entity: str) -> sa.Table:
        table: sa.Table = getattr(self.projection.tables, _TABLE_OF_ENTITY[entity])
        return table

    def _consent_view(self, client: ClientView, entity: str) -> ConsentView | None:
        """For a consent-based client, how a person's record follows the consents naming
        it (None: the client's basis is statutory, or the record is nobody's)."""
        if client.basis != CONSENT_BASIS or entity not in _SUBJECT_OF_ENTITY:
            return None
        table = self._table(entity)
        return consent_view(
            self.projection.consents.table,
            tenant=client.tenant,
            service=client.service,
            purpose=client.purpose,
            subject=table.c[_SUBJECT_OF_ENTITY[entity]],
            category="roster",
            status=table.c.status,
            date_last_modified=table.c.date_last_modified,
        )

    @staticmethod
    def _select(table: sa.Table, consented: ConsentView | None) -> sa.Select[Any]:
        """The record's columns, with the status and dateLastModified the client sees."""
        if consented is None:
            return sa.select(table)
        return sa.select(
            table,
            consented.status.label("seen_status"),
            consented.date_last_modified.label("seen_modified"),
        )

    def _visible(
        self, client: ClientView, entity: str, t: RosterTables
    ) -> list[ColumnElement[bool]]:
        """The tenant and the agreement's schools: AND-ed with everything else."""
        table = self._table(entity)
        conditions: list[ColumnElement[bool]] = [table.c.tenant == client.tenant]
        consented = self._consent_view(client, entity)
        if consented is not None:
            conditions.append(consented.visible)
        if not client.schools:
            return conditions
        schools = sorted(client.schools)
        if entity == "org":
            parents = sa.select(t.orgs.c.parent).where(
                t.orgs.c.tenant == client.tenant,
                t.orgs.c.sourced_id.in_(schools),
                t.orgs.c.parent.is_not(None),
            )
            conditions.append(
                sa.or_(t.orgs.c.sourced_id.in_(schools), t.orgs.c.sourced_id.in_(parents))
            )
        elif entity == "class":
            conditions.append(t.classes.c.school.in_(schools))
        elif entity == "enrollment":
            conditions.append(t.enrollments.c.school.in_(schools))
        elif entity == "course":
            cl = t.classes
            conditions.append(
                sa.or_(
                    t.courses.c.org.in_(schools),
                    t.courses.c.sourced_id.in_(
                        sa.select(cl.c.course).where(
                            cl.c.tenant == client.tenant, cl.c.school.in_(schools)
                        )
                    ),
                )
            )
        elif entity in ("user", "demographics"):
            # IN (a list read once), not a correlated EXISTS: an OR of EXISTS is not
            # turned into a join, so each row of the table would scan the school's roles.
            ur, en = t.user_roles, t.enrollments
            conditions.append(
                sa.or_(
                    table.c.sourced_id.in_(
                        sa.select(ur.c.user_sourced_id).where(
                            ur.c.tenant == client.tenant, ur.c.org.in_(schools)
                        )
                    ),
                    table.c.sourced_id.in_(
                        sa.select(en.c.user_sourced_id).where(
                            en.c.tenant == client.tenant, en.c.school.in_(schools)
                        )
                    ),
                )
            )
        return conditions

    def _require_parents(self, c: Connection, client: ClientView, selection: Selection) -> None:
        """A nested collection of a parent the caller cannot see is unknown, not empty."""
        tables = self.projection.tables
        for entity, sourced_id, where in selection.parents:
            table = self._table(entity)
            found = c.execute(
                sa.select(table.c.sourced_id).where(
                    *self._visible(client, entity, tables),
                    *where(tables),
                    table.c.sourced_id == sourced_id,
                )
            ).first()
            if found is None:
                raise RosterRecordNotFoundError(f"there is no {entity} {sourced_id!r}")

    # -- shape, unseal, disclose ---------------------------------------------------------

    def _linked(
        self,
        c: Connection,
        client: ClientView,
        entity: str,
        rows: list[dict[str, Any]],
        fields: frozenset[str],
    ) -> _Linked:
        """What the rows' records show beyond their own rows: the children of orgs and
        sessions, and (for a consent-based client) the consents in force."""
        children: dict[str, list[str]] = {}
        if entity in ("org", "academicSession") and "children" in fields and rows:
            table = self._table(entity)
            ids = [r["sourced_id"] for r in rows]
            for parent, child in c.execute(
                sa.select(table.c.parent, table.c.sourced_id)
                .where(table.c.tenant == client.tenant, table.c.parent.in_(ids))
                .order_by(table.c.sourced_id)
            ):
                children.setdefault(str(parent), []).append(str(child))
        return _Linked(children, self._consents_of(c, client, entity, rows))

    def _shape(
        self,
        client: ClientView,
        entity: str,
        rows: list[dict[str, Any]],
        fields: frozenset[str],
        base_url: str,
        linked: _Linked,
    ) -> _Shaped:
        """The records as answered (needs no connection: the unsealing and shaping of a
        page run after the read's connection went back to the pool)."""

        # A page refers to the same few orgs again and again: each reference made once
        # (records share it; nothing changes a reference once made).
        refs: dict[tuple[str, str], dict[str, str]] = {}

        def ref(kind: str, sourced_id: str | None) -> dict[str, str] | None:
            if sourced_id is None:
                return None
            made = refs.get((kind, sourced_id))
            if made is None:
                made = refs[(kind, sourced_id)] = {
                    "href": f"{base_url}/{_PATH_OF_TYPE[kind]}/{sourced_id}",
                    "sourcedId": sourced_id,
                    "type": kind,
                }
            return made

        children, consents = linked.children, linked.consents
        shape = _SHAPES[entity]
        subject_column = _SUBJECT_OF_ENTITY.get(entity, "")
        # What a record may carry: the fields asked for, never a password or profiles.
        answered = fields - _NEVER_ANSWERED
        unsealer = Unsealer(self._sealer(client))
        if self._allowed(client, entity) & fields:
            unsealer.prefetch(row.get("personal") for row in rows)
        # The sealed fields each seer's categories let it see, worked out once per page.
        wanted: dict[frozenset[str], frozenset[str]] = {}
        disclosed: dict[str, set[str]] = {}
        bases: dict[str, str] = {}
        shaped = []
        for row in rows:
            record = shape(row, ref, children)
            subject = row.get(subject_column)
            seer = client
            if consents is not None:
                # A consent-based client: what the consent in force allows, or nothing
                # when it has ended (the record reads `tobedeleted`).
                granted = consents.get(str(subject), {})
                if "roster" not in granted:
                    seer = replace(client, categories=frozenset())
                else:
                    seer = replace(client, categories=client.categories & frozenset(granted))
                    bases[str(subject)] = granted["roster"]
            if "personal" in row:
                seen = wanted.get(seer.categories)
                if seen is None:
                    seen = wanted[seer.categories] = self._allowed(seer, entity) & fields
                personal = self._opened(unsealer, seen, entity, row)
                record.update(personal)
                categories = self._categories(entity, personal)
                if entity == "user":
                    categories.add("roster")
                if categories and (consents is None or str(subject) in bases):
                    disclosed.setdefault(row["sourced_id"], set()).update(categories)
            elif entity == "enrollment" and (consents is None or str(subject) in bases):
                disclosed.setdefault(row["user_sourced_id"], set()).add("roster")
            if entity == "user":
                record.setdefault("givenName", WITHHELD_TEXT)
                record.setdefault("familyName", WITHHELD_TEXT)
            shaped.append({k: v for k, v in record.items() if v is not None and k in answered})
        return _Shaped(shaped, disclosed, bases)

    def _consents_of(
        self, c: Connection, client: ClientView, entity: str, rows: list[dict[str, Any]]
    ) -> dict[str, dict[str, str]] | None:
        """For a consent-based client, the consents in force of the rows' subjects."""
        if self._consent_view(client, entity) is None:
            return None
        return current_consents(
            c,
            self.projection.consents.table,
            tenant=client.tenant,
            service=client.service,
            purpose=client.purpose,
            students=(str(r[_SUBJECT_OF_ENTITY[entity]]) for r in rows),
        )

    @staticmethod
    def _opened(
        unsealer: Unsealer, wanted: frozenset[str], entity: str, row: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The sealed fields of `row` in `wanted` (those the reader may see and asked for)."""
        if not wanted:
            return {}
        opened = unsealer.open(row["personal"])
        if not isinstance(opened, dict):
            # Erased (or not opened): required names read as the placeholder, the rest is gone.
            return {"givenName": ERASED_TEXT, "familyName": ERASED_TEXT} if entity == "user" else {}
        return {k: v for k, v in opened.items() if k in wanted and v not in (None, "", [])}

    @staticmethod
    def _allowed(client: ClientView, entity: str) -> frozenset[str]:
        """The sealed fields of `entity` the client's agreement lets it see."""
        if entity == "user":
            return (_IDENTITY if "identity" in client.categories else frozenset()) | (
                _CONTACT if "contact" in client.categories else frozenset()
            )
        if entity == "demographics" and "demographics" in client.categories:
            return frozenset(SELECTABLE["demographics"]) - _DROPPED_DEMOGRAPHICS
        return frozenset()

    @staticmethod
    def _categories(entity: str, personal: Mapping[str, Any]) -> set[str]:
        if entity == "demographics":
            return {"demographics"} if personal else set()
        if any(v == ERASED_TEXT for v in personal.values()) and len(personal) == 2:
            return set()
        found = set()
        if not _IDENTITY.isdisjoint(personal):
            found.add("identity")
        if not _CONTACT.isdisjoint(personal):
            found.add("contact")
        return found

    def _disclose(self, client: ClientView, shaped: _Shaped) -> None:
        """Records what was handed out of whom, on the statutory task or (for a
        consent-based client) the consent in force."""
        grouped: dict[tuple[frozenset[str], str], list[str]] = {}
        for subject, categories in shaped.disclosed.items():
            basis = shaped.bases.get(subject, STATUTORY_TASK)
            grouped.setdefault((frozenset(categories), basis), []).append(subject)
        for (kinds, basis), subjects in grouped.items():
            self.disclosures.record(
                tenant=client.tenant,
                subjects=subjects,
                recipient=client.service,
                recipient_role=client.role,
                categories=kinds,
                basis=basis,
                at=self.clock(),
            )

    def _sealer(self, client: ClientView) -> Sealer:
        return self.sealers(client.tenant)


Ref = Callable[[str, str | None], dict[str, str] | None]


def _as_seen(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, each with the status and dateLastModified its reader sees where they differ
    (a consent-based client's rows carry them as `seen_status` and `seen_modified`)."""
    for row in rows:
        if "seen_status" in row:
            row["status"] = row.pop("seen_status")
            row["date_last_modified"] = row.pop("seen_modified")
    return rows


def _base(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sourcedId": row["sourced_id"],
        "status": row["status"],
        "dateLastModified": _utc_text(row["date_last_modified"]),
    }


def _org(row: Mapping[str, Any], ref: Ref, children: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        **_base(row),
        "name": row["name"],
        "type": row["type"],
        "identifier": row["identifier"],
        "parent": ref("org", row["parent"]),
        "children": [ref("org", c) for c in children.get(row["sourced_id"], [])],
    }


def _session(row: Mapping[str, Any], ref: Ref, children: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        **_base(row),
        "title": row["title"],
        "startDate": _day(row["start_date"]),
        "endDate": _day(row["end_date"]),
        "type": row["type"],
        "parent": ref("academicSession", row["parent"]),
        "children": [ref("academicSession", c) for c in children.get(row["sourced_id"], [])],
        "schoolYear": row["school_year"],
    }


def _course(row: Mapping[str, Any], ref: Ref, _c: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        **_base(row),
        "title": row["title"],
        "schoolYear": ref("academicSession", row["school_year"]),
        "courseCode": row["course_code"],
        "grades": list(row["grades"]),
        "subjects": list(row["subjects"]),
        "org": ref("org", row["org"]),
        "subjectCodes": list(row["subject_codes"]),
    }


def _class(row: Mapping[str, Any], ref: Ref, _c: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        **_base(row),
        "title": row["title"],
        "classCode": row["class_code"],
        "classType": row["class_type"],
        "location": row["location"],
        "grades": list(row["grades"]),
        "subjects": list(row["subjects"]),
        "course": ref("course", row["course"]),
        "school": ref("org", row["school"]),
        "terms": [ref("academicSession", t) for t in row["terms"]],
        "subjectCodes": list(row["subject_codes"]),
        "periods": list(row["periods"]),
    }


def _user(row: Mapping[str, Any], ref: Ref, _c: Mapping[str, list[str]]) -> dict[str, Any]:
    roles = []
    for role in row["roles"]:
        shaped = {
            "roleType": role["roleType"],
            "role": role["role"],
            "org": ref("org", role["org"]),
        }
        for name in ("beginDate", "endDate"):
            if role.get(name):
                shaped[name] = role[name]
        roles.append(shaped)
    # The base fields written out, not merged from _base(): a page shapes a hundred users.
    return {
        "sourcedId": row["sourced_id"],
        "status": row["status"],
        "dateLastModified": _utc_text(row["date_last_modified"]),
        "enabledUser": _bool(row["enabled_user"]),
        "roles": roles,
        "primaryOrg": ref("org", row["primary_org"]),
        "agents": [ref("user", a) for a in row["agents"]],
        "grades": list(row["grades"]),
    }


def _enrollment(row: Mapping[str, Any], ref: Ref, _c: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        **_base(row),
        "user": ref("user", row["user_sourced_id"]),
        "class": ref("class", row["class_sourced_id"]),
        "school": ref("org", row["school"]),
        "role": row["role"],
        "primary": _bool(row["primary"]),
        "beginDate": _day(row["begin_date"]),
        "endDate": _day(row["end_date"]),
    }


def _demographics(row: Mapping[str, Any], _ref: Ref, _c: Mapping[str, list[str]]) -> dict[str, Any]:
    return _base(row)


_SHAPES: dict[str, Callable[[Mapping[str, Any], Ref, Mapping[str, list[str]]], dict[str, Any]]] = {
    "org": _org,
    "academicSession": _session,
    "course": _course,
    "class": _class,
    "user": _user,
    "enrollment": _enrollment,
    "demographics": _demographics,
}
