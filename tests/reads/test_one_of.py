"""A column's membership in a list bound as one parameter (projections/reads/one_of.py), on
SQLite and PostgreSQL, as a sealed-field filter of OneRoster uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from projections.reads.one_of import not_one_of, one_of

_METADATA = sa.MetaData()
_PEOPLE = sa.Table("one_of_people", _METADATA, sa.Column("sourced_id", sa.Text, primary_key=True))
_IDS = ["stu-1", "stu-2", "o'brien", 'say "hi"', "back\\slash", "Väinö-€", "[1, 2]", ""]


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    if backend == "postgres":
        url = sa.make_url(request.getfixturevalue("postgres_database_url"))
        made = sa.create_engine(url.set(drivername="postgresql+psycopg"))
    else:
        made = sa.create_engine("sqlite://")
    _METADATA.create_all(made)
    with made.begin() as c:
        c.execute(_PEOPLE.insert(), [{"sourced_id": s} for s in _IDS])
    yield made
    _METADATA.drop_all(made)
    made.dispose()


def _found(engine: Engine, condition: sa.ColumnElement[bool]) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(sa.select(_PEOPLE.c.sourced_id).where(condition)).scalars())


@pytest.mark.parametrize(
    "listed",
    [
        [],
        ["stu-1"],
        ["o'brien", 'say "hi"', "back\\slash", "Väinö-€", "[1, 2]", ""],
        ["stu-2", "stu-2", "nobody"],
    ],
    ids=["none", "one", "quotes-and-escapes", "repeated-and-unknown"],
)
def test_one_of_finds_exactly_the_listed_ids_and_not_one_of_exactly_the_rest(
    engine: Engine, listed: list[str]
) -> None:
    inside = _found(engine, one_of(_PEOPLE.c.sourced_id, listed))
    outside = _found(engine, not_one_of(_PEOPLE.c.sourced_id, listed))

    assert inside == set(listed) & set(_IDS)
    assert outside == set(_IDS) - set(listed)


def test_a_list_longer_than_sqlites_parameter_limit_is_one_parameter(engine: Engine) -> None:
    # 250,001 names: SQLite refuses a statement with more markers than this one build takes
    # (32,766 by default), which `in_()` renders one per value.
    listed = [f"nobody-{n}" for n in range(250_000)] + ["stu-2"]
    query = sa.select(sa.func.count()).select_from(_PEOPLE)

    with engine.connect() as c:
        inside = c.execute(query.where(one_of(_PEOPLE.c.sourced_id, listed))).scalar_one()
        outside = c.execute(query.where(not_one_of(_PEOPLE.c.sourced_id, listed))).scalar_one()
        compiled = str(query.where(one_of(_PEOPLE.c.sourced_id, listed)).compile(engine))

    assert (inside, outside) == (1, len(_IDS) - 1)
    assert compiled.count("?") + compiled.count("%(") == 1


def test_a_statement_of_another_list_binds_its_own_values(engine: Engine) -> None:
    # SQLAlchemy's compiled cache keys statements by their shape, not by bound values: the
    # second list must not be answered with the first's.
    query = sa.select(_PEOPLE.c.sourced_id)

    with engine.connect() as c:
        first = set(c.execute(query.where(one_of(_PEOPLE.c.sourced_id, ["stu-1"]))).scalars())
        second = set(c.execute(query.where(one_of(_PEOPLE.c.sourced_id, ["stu-2"]))).scalars())

    assert (first, second) == ({"stu-1"}, {"stu-2"})
