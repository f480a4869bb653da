"""The OneRoster 1.2 `filter` query parameter, parsed into a small tree.

The REST binding (§3.4.4 "Filtering") writes a filter as predicates `field op 'value'` joined
by ` AND ` or ` OR `, e.g. `familyName='Jones' AND dateLastModified>'2015-01-01'`, with the
operators `=`, `!=`, `>`, `>=`, `<`, `<=` and `~` (contains), and dotted paths into
references and arrays (`school.sourcedId='s1'`, `roles.role='teacher'`). What the binding
leaves open is settled here, leniently, as real clients write filters:

- AND binds tighter than OR (`a OR b AND c` is `a OR (b AND c)`); parentheses group;
- AND and OR may be in any case; spaces around operators are optional;
- a value is quoted with `'` or `"`; a quote inside is doubled (`'O''Brien'`); a value
  without spaces may go unquoted.

The tree says nothing of fields or columns: the read service checks each path against the
fields of the collection read, and always AND-s the whole tree with the caller's tenant and
agreement (projections/reads/oneroster_rostering.py), so no filter can widen access.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "OPERATORS",
    "All",
    "Any_",
    "Comparison",
    "Filter",
    "FilterSyntaxError",
    "parse_filter",
]

#: Longest first, so `>=` is not read as `>` followed by `=`.
OPERATORS = (">=", "<=", "!=", "=", ">", "<", "~")
#: Filters longer than this are refused rather than parsed (a request is not a program).
MAX_FILTER_LENGTH = 4000
MAX_PREDICATES = 64


class FilterSyntaxError(ValueError):
    """Raised when a filter is not a well-formed OneRoster filter; says where and why."""


@dataclass(frozen=True)
class Comparison:
    """One predicate: a dotted field path, an operator, and the value as written."""

    path: tuple[str, ...]
    op: str
    value: str

    @property
    def field(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class All:
    """Every part holds (AND)."""

    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class Any_:
    """At least one part holds (OR)."""

    parts: tuple[Filter, ...]


Filter = Comparison | All | Any_

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_.-]+)?")
_KEYWORD = re.compile(r"(AND|OR)(?=[\s(]|$)", re.IGNORECASE)
_BARE_VALUE = re.compile(r"[^\s()'\"]+")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.predicates = 0

    def fail(self, why: str) -> FilterSyntaxError:
        return FilterSyntaxError(f"{why} at character {self.at + 1} of the filter")

    def skip_spaces(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def done(self) -> bool:
        self.skip_spaces()
        return self.at >= len(self.text)

    def keyword(self, word: str) -> bool:
        self.skip_spaces()
        found = _KEYWORD.match(self.text, self.at)
        if found and found.group(1).upper() == word:
            self.at = found.end()
            return True
        return False

    def disjunction(self) -> Filter:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Any_(tuple(parts))

    def conjunction(self) -> Filter:
        parts = [self.term()]
        while self.keyword("AND"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def term(self) -> Filter:
        self.skip_spaces()
        if self.text.startswith("(", self.at):
            self.at += 1
            inner = self.disjunction()
            self.skip_spaces()
            if not self.text.startswith(")", self.at):
                raise self.fail("a '(' is not closed")
            self.at += 1
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise self.fail(f"more than {MAX_PREDICATES} predicates")
        path = self.path()
        self.skip_spaces()
        op = next((o for o in OPERATORS if self.text.startswith(o, self.at)), None)
        if op is None:
            raise self.fail(f"expected an operator ({' '.join(OPERATORS)}) after {'.'.join(path)}")
        self.at += len(op)
        self.skip_spaces()
        return Comparison(path, op, self.value())

    def path(self) -> tuple[str, ...]:
        names = []
        while True:
            found = _NAME.match(self.text, self.at)
            if found is None:
                raise self.fail("expected a field name")
            names.append(found.group())
            self.at = found.end()
            if not self.text.startswith(".", self.at):
                return tuple(names)
            self.at += 1

    def value(self) -> str:
        if self.at >= len(self.text):
            raise self.fail("expected a value")
        quote = self.text[self.at]
        if quote not in "'\"":
            found = _BARE_VALUE.match(self.text, self.at)
            if found is None:
                raise self.fail("expected a value")
            self.at = found.end()
            return found.group()
        self.at += 1
        chars: list[str] = []
        while True:
            end = self.text.find(quote, self.at)
            if end < 0:
                raise self.fail(f"a value's {quote} is not closed")
            chars.append(self.text[self.at : end])
            self.at = end + 1
            if self.text.startswith(quote, self.at):  # a doubled quote is one quote
                chars.append(quote)
                self.at += 1
                continue
            return "".join(chars)


def parse_filter(text: str) -> Filter:
    """The tree of a OneRoster filter; FilterSyntaxError (saying where) when malformed."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterSyntaxError(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    parser = _Parser(text)
    if parser.done():
        raise FilterSyntaxError("the filter is empty")
    tree = parser.disjunction()
    if not parser.done():
        raise parser.fail("unexpected text (join predicates with AND or OR)")
    return tree
