"""The fields of each OneRoster 1.2 rostering entity: how `filter` and `sort` reach them.

Each entity's fields are listed once, with what a predicate on it becomes in SQL over the
roster read model: a column, a sourcedId reference (`school.sourcedId`), a JSON list
(`grades`), a link table (`roles.role`, `terms.sourcedId`, `agents.sourcedId`), or a sealed
personal field. Sealed fields hold only ciphertext, so no filter or sort can reach them:
they answer invalid_filter_field / invalid_sort_field, but for `=` and `!=` on the user
fields of domain/blind_index.py, which go through the keyed blind index the command side
keeps; and only on fields the caller's agreement lets it see.

The names a response may carry (`fields` selection) are the entity's properties in the
official OpenAPI file, listed in SELECTABLE.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from domain.blind_index import INDEXED_FIELDS
from projections.reads.one_of import not_one_of, one_of
from projections.reads.oneroster_filter import All, Any_, Comparison, Filter
from projections.roster import RosterTables

__all__ = [
    "SEALED_USER_FIELDS",
    "SELECTABLE",
    "FieldCatalogue",
    "InvalidFilterFieldError",
    "InvalidSortFieldError",
]

#: The user fields that are sealed personal data (identity and contact).
SEALED_USER_FIELDS = frozenset(
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
        "email",
        "sms",
        "phone",
        "userIds",
        "password",
        "userProfiles",
    }
)
_SEALED_DEMOGRAPHICS = frozenset(
    {
        "birthDate",
        "sex",
        "americanIndianOrAlaskaNative",
        "asian",
        "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander",
        "white",
        "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity",
        "countryOfBirthCode",
        "stateOfBirthAbbreviation",
        "cityOfBirth",
        "publicSchoolResidenceStatus",
    }
)
_BASE = ("sourcedId", "status", "dateLastModified", "metadata")
#: Every property of each entity in the official OpenAPI file: what `fields` may name.
SELECTABLE: dict[str, frozenset[str]] = {
    "org": frozenset({*_BASE, "name", "type", "identifier", "parent", "children"}),
    "academicSession": frozenset(
        {*_BASE, "title", "startDate", "endDate", "type", "parent", "children", "schoolYear"}
    ),
    "course": frozenset(
        {
            *_BASE,
            "title",
            "schoolYear",
            "courseCode",
            "grades",
            "subjects",
            "org",
            "subjectCodes",
            "resources",
        }
    ),
    "class": frozenset(
        {
            *_BASE,
            "title",
            "classCode",
            "classType",
            "location",
            "grades",
            "subjects",
            "course",
            "school",
            "terms",
            "subjectCodes",
            "periods",
            "resources",
        }
    ),
    "user": frozenset(
        {
            *_BASE,
            *SEALED_USER_FIELDS,
            "enabledUser",
            "roles",
            "primaryOrg",
            "agents",
            "grades",
            "resources",
        }
    ),
    "enrollment": frozenset(
        {*_BASE, "user", "class", "school", "role", "primary", "beginDate", "endDate"}
    ),
    "demographics": frozenset({*_BASE, *_SEALED_DEMOGRAPHICS}),
}


class InvalidFilterFieldError(ValueError):
    """Raised when a filter names a field that cannot be filtered on, or a bad value."""


class InvalidSortFieldError(ValueError):
    """Raised when `sort` names a field that cannot be sorted by."""


#: Builds the condition of one comparison: (operator, value) → SQL.
Condition = Callable[[str, str], ColumnElement[bool]]


@dataclass(frozen=True)
class _Field:
    condition: Condition | None  # None: sealed, never filtered
    sort: ColumnElement[Any] | None = None


def _escape_like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _parse_datetime(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidFilterFieldError(
            f"{value!r} is not an ISO 8601 date-time (e.g. 2026-08-01T00:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise InvalidFilterFieldError(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def _compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    found: Any
    if op == "=":
        found = column == value
    elif op == "!=":
        found = sa.or_(column != value, column.is_(None))
    elif op == ">":
        found = column > value
    elif op == ">=":
        found = column >= value
    elif op == "<":
        found = column < value
    elif op == "<=":
        found = column <= value
    else:
        raise InvalidFilterFieldError(f"the operator {op} does not apply to this field")
    return cast("ColumnElement[bool]", found)


def text(column: ColumnElement[Any]) -> _Field:
    def condition(op: str, value: str) -> ColumnElement[bool]:
        if op == "~":
            pattern = f"%{_escape_like(value.lower())}%"
            return sa.func.lower(column).like(pattern, escape="!")
        return _compare(column, op, value)

    return _Field(condition, column)


def moment(column: ColumnElement[Any]) -> _Field:
    def condition(op: str, value: str) -> ColumnElement[bool]:
        return _compare(column, op, _parse_datetime(value))

    return _Field(condition, column)


def day(column: ColumnElement[Any]) -> _Field:
    def condition(op: str, value: str) -> ColumnElement[bool]:
        return _compare(column, op, _parse_date(value))

    return _Field(condition, column)


def flag(column: ColumnElement[Any]) -> _Field:
    def condition(op: str, value: str) -> ColumnElement[bool]:
        if value.lower() not in ("true", "false") or op not in ("=", "!="):
            raise InvalidFilterFieldError("a true/false field takes = or != and 'true' or 'false'")
        wanted = value.lower() == "true"
        return column == wanted if op == "=" else column != wanted

    return _Field(condition, column)


def json_list(column: ColumnElement[Any]) -> _Field:
    """A JSON list of strings: `=` holds when one element equals the value, `~` when one
    contains it; ordering operators do not apply."""
    as_text = sa.cast(column, sa.Text)

    def condition(op: str, value: str) -> ColumnElement[bool]:
        if op in ("=", "!="):
            # The column holds json.dumps of the list, so an element is its JSON string.
            found = as_text.like(f"%{_escape_like(json.dumps(value))}%", escape="!")
            return found if op == "=" else sa.not_(found)
        if op == "~":
            return sa.func.lower(as_text).like(f"%{_escape_like(value.lower())}%", escape="!")
        raise InvalidFilterFieldError(f"the operator {op} does not apply to a list")

    return _Field(condition)


#: Builds EXISTS (linked rows … AND a condition on the linked table or alias).
Exists = Callable[[Callable[[Any], ColumnElement[bool]]], ColumnElement[bool]]


def linked(exists: Exists, field: Callable[[Any], _Field]) -> _Field:
    """A field of linked rows (a user's roles, a class's terms): holds when a linked row's
    field does; `!=` holds when none has the value."""

    def condition(op: str, value: str) -> ColumnElement[bool]:
        def holds(on: str) -> Callable[[Any], ColumnElement[bool]]:
            def of(linked_table: Any) -> ColumnElement[bool]:
                check = field(linked_table).condition
                assert check is not None
                return check(on, value)

            return of

        if op == "!=":
            return sa.not_(exists(holds("=")))
        return exists(holds(op))

    return _Field(condition)


SEALED = _Field(None)


#: Finds the users whose sealed field equals a value: (field, value) → sourcedIds.
BlindLookup = Callable[[str, str], list[str]]


def blind(sourced_id: ColumnElement[Any], field: str, lookup: BlindLookup) -> _Field:
    """A sealed field reached through its keyed blind index: `=` and `!=` only."""

    def condition(op: str, value: str) -> ColumnElement[bool]:
        if op not in ("=", "!="):
            raise InvalidFilterFieldError(
                f"{field} is sealed personal data: it takes only = and != (through a keyed "
                "blind index), not other operators"
            )
        found = lookup(field, value)
        # One bound list, however many share the value (projections/reads/one_of.py).
        return one_of(sourced_id, found) if op == "=" else not_one_of(sourced_id, found)

    return _Field(condition)


def _family(table: sa.Table, child_alias: str) -> dict[str, _Field]:
    """`parent.sourcedId` and `children.sourcedId` of a record kept in a tree (orgs,
    academic sessions): its children are the rows of the same table naming it as parent."""
    child = table.alias(child_alias)
    return {
        "parent.sourcedId": text(table.c.parent),
        "children.sourcedId": linked(
            lambda cond: sa.exists().where(
                child.c.tenant == table.c.tenant, child.c.parent == table.c.sourced_id, cond(child)
            ),
            lambda c: text(c.c.sourced_id),
        ),
    }


class FieldCatalogue:
    """The filterable and sortable fields of each entity over one roster read model.

    `lookup` reaches sealed user fields through the blind index; `visible` are the sealed
    fields the caller may see, and so may filter on (a client may not learn by filtering
    what it may not read)."""

    def __init__(
        self,
        tables: RosterTables,
        *,
        lookup: BlindLookup | None = None,
        visible: frozenset[str] = frozenset(),
    ) -> None:
        self._lookup = lookup
        self._visible = visible
        t = tables
        # Each entity's fields are built when first asked for: a read asks for one.
        self._builders: dict[str, Callable[[], dict[str, _Field]]] = {
            "org": lambda: self._org(t),
            "academicSession": lambda: self._session(t),
            "course": lambda: self._course(t),
            "class": lambda: self._class(t),
            "user": lambda: self._user(t),
            "enrollment": lambda: self._enrollment(t),
            "demographics": lambda: {
                **self._base(t.demographics),
                **{name: SEALED for name in _SEALED_DEMOGRAPHICS},
            },
        }
        self._built: dict[str, dict[str, _Field]] = {}

    def _fields_of(self, entity: str) -> dict[str, _Field]:
        fields = self._built.get(entity)
        if fields is None:
            fields = self._built[entity] = self._builders[entity]()
        return fields

    def see_state(
        self,
        entity: str,
        *,
        status: ColumnElement[Any],
        date_last_modified: ColumnElement[Any],
    ) -> None:
        """Filters and sorts `status` and `dateLastModified` as the caller reads them
        (a consent-based client reads a record whose consent ended as `tobedeleted`)."""
        self._fields_of(entity)["status"] = text(status)
        self._fields_of(entity)["dateLastModified"] = moment(date_last_modified)

    @staticmethod
    def _base(table: sa.Table) -> dict[str, _Field]:
        return {
            "sourcedId": text(table.c.sourced_id),
            "status": text(table.c.status),
            "dateLastModified": moment(table.c.date_last_modified),
        }

    def _org(self, t: RosterTables) -> dict[str, _Field]:
        o = t.orgs
        return {
            **self._base(o),
            "name": text(o.c.name),
            "type": text(o.c.type),
            "identifier": text(o.c.identifier),
            **_family(o, "child_org"),
        }

    def _session(self, t: RosterTables) -> dict[str, _Field]:
        s = t.academic_sessions
        return {
            **self._base(s),
            "title": text(s.c.title),
            "type": text(s.c.type),
            "startDate": day(s.c.start_date),
            "endDate": day(s.c.end_date),
            "schoolYear": text(s.c.school_year),
            **_family(s, "child_session"),
        }

    def _course(self, t: RosterTables) -> dict[str, _Field]:
        c = t.courses
        return {
            **self._base(c),
            "title": text(c.c.title),
            "courseCode": text(c.c.course_code),
            "schoolYear.sourcedId": text(c.c.school_year),
            "org.sourcedId": text(c.c.org),
            "grades": json_list(c.c.grades),
            "subjects": json_list(c.c.subjects),
            "subjectCodes": json_list(c.c.subject_codes),
        }

    def _class(self, t: RosterTables) -> dict[str, _Field]:
        c, ct = t.classes, t.class_terms
        return {
            **self._base(c),
            "title": text(c.c.title),
            "classCode": text(c.c.class_code),
            "classType": text(c.c.class_type),
            "location": text(c.c.location),
            "course.sourcedId": text(c.c.course),
            "school.sourcedId": text(c.c.school),
            "grades": json_list(c.c.grades),
            "subjects": json_list(c.c.subjects),
            "subjectCodes": json_list(c.c.subject_codes),
            "periods": json_list(c.c.periods),
            "terms.sourcedId": linked(
                lambda cond: sa.exists().where(
                    ct.c.tenant == c.c.tenant, ct.c.class_sourced_id == c.c.sourced_id, cond(ct)
                ),
                lambda x: text(x.c.term),
            ),
        }

    def _user(self, t: RosterTables) -> dict[str, _Field]:
        u, ur, ua = t.users, t.user_roles, t.user_agents

        def role_exists(cond: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
            return sa.exists().where(
                ur.c.tenant == u.c.tenant, ur.c.user_sourced_id == u.c.sourced_id, cond(ur)
            )

        lookup = self._lookup
        return {
            **self._base(u),
            **{
                name: blind(u.c.sourced_id, name, lookup)
                if lookup is not None and name in INDEXED_FIELDS
                else SEALED
                for name in SEALED_USER_FIELDS
            },
            "enabledUser": flag(u.c.enabled_user),
            "primaryOrg.sourcedId": text(u.c.primary_org),
            "grades": json_list(u.c.grades),
            "agents.sourcedId": linked(
                lambda cond: sa.exists().where(
                    ua.c.tenant == u.c.tenant, ua.c.user_sourced_id == u.c.sourced_id, cond(ua)
                ),
                lambda x: text(x.c.agent),
            ),
            "roles.role": linked(role_exists, lambda x: text(x.c.role)),
            # OneRoster 1.1's `role`, which 1.2 moved into `roles`: clients written for 1.1
            # still send `filter=role='student'`, and it means a role the user holds.
            "role": linked(role_exists, lambda x: text(x.c.role)),
            "roles.roleType": linked(role_exists, lambda x: text(x.c.role_type)),
            "roles.org.sourcedId": linked(role_exists, lambda x: text(x.c.org)),
            "roles.beginDate": linked(role_exists, lambda x: day(x.c.begin_date)),
            "roles.endDate": linked(role_exists, lambda x: day(x.c.end_date)),
        }

    def _enrollment(self, t: RosterTables) -> dict[str, _Field]:
        e = t.enrollments
        return {
            **self._base(e),
            "user.sourcedId": text(e.c.user_sourced_id),
            "class.sourcedId": text(e.c.class_sourced_id),
            "school.sourcedId": text(e.c.school),
            "role": text(e.c.role),
            "primary": flag(e.c.primary),
            "beginDate": day(e.c.begin_date),
            "endDate": day(e.c.end_date),
        }

    def _field(self, entity: str, name: str, error: type[ValueError]) -> _Field:
        fields = self._fields_of(entity)
        found = fields.get(name)
        if found is None:
            # A reference may be named by itself: `school='s1'` as `school.sourcedId='s1'`.
            found = fields.get(f"{name}.sourcedId")
        if found is None:
            head = name.split(".")[0]
            if head in SEALED_USER_FIELDS | _SEALED_DEMOGRAPHICS and head in {
                n.split(".")[0] for n in fields
            }:
                found = SEALED
            else:
                known = ", ".join(sorted(fields))
                raise error(f"{entity} has no field {name!r} to use here; known: {known}")
        head = name.split(".")[0]
        if head in SEALED_USER_FIELDS | _SEALED_DEMOGRAPHICS and head not in self._visible:
            raise error(f"{name} is personal data this client's agreement does not let it see")
        if found.condition is None:
            raise error(f"{name} is sealed personal data: it can be neither filtered nor sorted on")
        return found

    def condition(self, entity: str, tree: Filter) -> ColumnElement[bool]:
        """The SQL condition of a parsed filter over `entity`'s table."""
        if isinstance(tree, All):
            return sa.and_(*(self.condition(entity, part) for part in tree.parts))
        if isinstance(tree, Any_):
            return sa.or_(*(self.condition(entity, part) for part in tree.parts))
        return self._comparison(entity, tree)

    def _comparison(self, entity: str, c: Comparison) -> ColumnElement[bool]:
        field = self._field(entity, c.field, InvalidFilterFieldError)
        assert field.condition is not None
        try:
            return field.condition(c.op, c.value)
        except InvalidFilterFieldError as error:
            raise InvalidFilterFieldError(f"{c.field}: {error}") from None

    def sort_column(self, entity: str, name: str) -> ColumnElement[Any]:
        """The column `sort=name` orders by."""
        field = self._field(entity, name, InvalidSortFieldError)
        if field.sort is None and name in SEALED_USER_FIELDS:
            raise InvalidSortFieldError(f"{name} is sealed personal data: it cannot be sorted by")
        if field.sort is None:
            raise InvalidSortFieldError(f"{name} holds several values: it cannot be sorted by")
        return field.sort
