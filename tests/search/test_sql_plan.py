"""The SQL date rules equal the in-memory ones on every boundary (exhaustively, small ranges)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from adapter.search.matcher import date_matches
from adapter.search.query import DATE_PREFIXES, DatePrefix
from adapter.search.sql import date_condition

RANGES = [(a, b) for a, b in itertools.product(range(5), repeat=2) if a <= b]
target = sa.Table(
    "target", sa.MetaData(), sa.Column("low", sa.Integer), sa.Column("high", sa.Integer)
)


@pytest.fixture(scope="module")
def conn() -> Iterator[sa.Connection]:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        target.create(connection)
        connection.execute(sa.insert(target), [{"low": a, "high": b} for a, b in RANGES])
        yield connection
    engine.dispose()


@pytest.mark.parametrize("prefix", DATE_PREFIXES)
def test_sql_date_rules_equal_the_matcher(conn: sa.Connection, prefix: DatePrefix) -> None:
    for lo, hi in RANGES:
        rule = date_condition(prefix, lo, hi, target.c.low, target.c.high)
        statement = sa.select(target.c.low, target.c.high).where(rule)
        found = {(row.low, row.high) for row in conn.execute(statement)}
        expected = {(low, high) for low, high in RANGES if date_matches(prefix, lo, hi, low, high)}
        assert found == expected, (prefix, lo, hi)
