"""The OneRoster filter grammar: every operator, AND/OR, dotted paths, quoting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.reads.oneroster_filter import (
    OPERATORS,
    All,
    Any_,
    Comparison,
    FilterSyntaxError,
    parse_filter,
)


@pytest.mark.parametrize("op", OPERATORS)
def test_every_operator_is_read_with_and_without_spaces(op: str) -> None:
    assert parse_filter(f"familyName{op}'Jones'") == Comparison(("familyName",), op, "Jones")
    assert parse_filter(f"familyName {op} 'Jones'") == Comparison(("familyName",), op, "Jones")


def test_and_binds_tighter_than_or() -> None:
    tree = parse_filter("a='1' OR b='2' AND c='3'")

    assert tree == Any_(
        (
            Comparison(("a",), "=", "1"),
            All((Comparison(("b",), "=", "2"), Comparison(("c",), "=", "3"))),
        )
    )


def test_parentheses_group_and_keywords_may_be_lower_case() -> None:
    tree = parse_filter("(a='1' or b='2') and c='3'")

    assert tree == All(
        (
            Any_((Comparison(("a",), "=", "1"), Comparison(("b",), "=", "2"))),
            Comparison(("c",), "=", "3"),
        )
    )


def test_dotted_paths_reach_into_references_and_arrays() -> None:
    assert parse_filter("roles.org.sourcedId='sch-1'") == Comparison(
        ("roles", "org", "sourcedId"), "=", "sch-1"
    )


def test_a_doubled_quote_is_a_quote_and_keywords_inside_values_are_text() -> None:
    doubled = parse_filter("familyName='O''Brien AND x=''y'''")
    double_quoted = parse_filter('title="say ""hi"" OR not"')

    assert isinstance(doubled, Comparison) and isinstance(double_quoted, Comparison)
    assert doubled.value == "O'Brien AND x='y'"
    assert double_quoted.value == 'say "hi" OR not'


def test_a_value_without_spaces_may_go_unquoted() -> None:
    assert parse_filter("status=active") == Comparison(("status",), "=", "active")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "familyName",
        "familyName=",
        "familyName='Jones",
        "='Jones'",
        "a='1' b='2'",
        "a='1' AND",
        "(a='1'",
        "a='1')",
        "a=='1'",
        "a.='1'",
        "a='1' ANDb='2'",
    ],
)
def test_malformed_filters_are_refused_saying_where(text: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter(text)


def test_a_filter_of_too_many_predicates_is_refused() -> None:
    with pytest.raises(FilterSyntaxError, match="predicates"):
        parse_filter(" AND ".join(["a='1'"] * 65))


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n.upper() not in ("AND", "OR")
)
_values = st.text(st.characters(codec="utf-8"), max_size=20)


def _quoted(value: str, quote: str) -> str:
    return quote + value.replace(quote, quote * 2) + quote


@given(
    path=st.lists(_names, min_size=1, max_size=3),
    op=st.sampled_from(OPERATORS),
    value=_values,
    quote=st.sampled_from(["'", '"']),
)
def test_any_quoted_value_reads_back_exactly(
    path: list[str], op: str, value: str, quote: str
) -> None:
    text = f"{'.'.join(path)}{op}{_quoted(value, quote)}"

    assert parse_filter(text) == Comparison(tuple(path), op, value)


@given(
    values=st.lists(_values, min_size=2, max_size=5),
    joiner=st.sampled_from([" AND ", " OR "]),
)
def test_joined_predicates_keep_their_order_and_values(values: list[str], joiner: str) -> None:
    text = joiner.join(f"f{i}={_quoted(v, chr(39))}" for i, v in enumerate(values))

    tree = parse_filter(text)

    assert isinstance(tree, All if joiner == " AND " else Any_)
    assert [(c.path, c.value) for c in tree.parts if isinstance(c, Comparison)] == [
        ((f"f{i}",), v) for i, v in enumerate(values)
    ]


@given(st.text(max_size=60))
def test_any_text_either_parses_or_is_refused_with_a_syntax_error(text: str) -> None:
    try:
        parse_filter(text)
    except FilterSyntaxError:
        pass
