"""A column's membership in a list of strings, the list bound as one parameter.

SQLAlchemy's `in_(values)` renders a marker per value each time the statement runs, and the
driver converts each: a OneRoster page filtered on a sealed field (`givenName='Aino'`, which
the blind index answers with the sourcedIds of everyone so named) held 4,100 of them in the
page and as many in its count. Here the statement is compiled once, whatever the list's
length: on PostgreSQL `= ANY(:ids)` (an array of text), elsewhere (SQLite) `IN (SELECT value
FROM json_each(:ids))`, which also has no limit on the number of values, where SQLite's
markers have one (32,766 unless built with another: 250,000 in Debian's). Measured on a
city of 41,000 users, pages of 100 one after another: `givenName='Aino'` (4,100 users) p50
73 and 76 ms a page before, 52 and 47 after; `givenName!='Aino'` 63 → 34–36 ms;
`familyName='Korhonen'` (5,857) 85–91 → 54–55 ms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["not_one_of", "one_of"]


class _StringList(sa.types.TypeDecorator[list[str]]):
    """A list of strings as one bound value: an array of text on PostgreSQL, a JSON array
    elsewhere. (A JSON array on PostgreSQL too, `IN (SELECT jsonb_array_elements_text(…))`,
    spared the driver's conversion of each string but was planned as a join: 79 and 51 ms
    a page where the array took 52 and 47.)"""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(sa.Text))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value)


class _OneOf(ColumnElement[bool]):
    """`column` is (or, negated, is not) one of a bound list of strings."""

    type = sa.Boolean()
    #: A test already, as `a = b` is: never compared with 1 where booleans are integers.
    _is_implicitly_boolean = True
    inherit_cache = True
    # What SQLAlchemy's cache key is made of (the list's values are not: they are bound).
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy declares it a list
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
        ("negated", InternalTraversal.dp_boolean),
    ]

    def __init__(self, column: ColumnElement[Any], values: Iterable[str], *, negated: bool):
        self.column = column
        self.values = sa.bindparam(None, list(values), type_=_StringList(), unique=True)
        self.negated = negated


@compiles(_OneOf, "postgresql")
def _one_of_array(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    values = compiler.process(element.values, **kw)
    # `<> ALL` of an empty array holds, `= ANY` of one does not: as NOT IN () and IN ().
    # Planned with the array's values (a custom plan), it tests membership by a hash of them.
    # A generic plan would test each row against every value: 2.2 s for the count of a
    # city's 41,000 users not among 4,100, against 15 ms. PostgreSQL kept to custom plans
    # when psycopg prepared the statements: 115 custom and no generic over 120 executions
    # on one connection, lists of 406 to 20,359.
    test = "<> ALL" if element.negated else "= ANY"
    return f"{column} {test}({values})"


@compiles(_OneOf)
def _one_of_json(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    values = compiler.process(element.values, **kw)
    test = "NOT IN" if element.negated else "IN"
    return f"{column} {test} (SELECT value FROM json_each({values}))"


def one_of(column: ColumnElement[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """`column IN values`, the values bound as one parameter (false for none)."""
    return _OneOf(column, values, negated=False)


def not_one_of(column: ColumnElement[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """`column NOT IN values`, the values bound as one parameter (true for none)."""
    return _OneOf(column, values, negated=True)
