"""Prepared statements give exactly the rows the general planner gives, in the shapes they take."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapter.search import prepared
from adapter.search.parser import parse_search
from adapter.search.query import SearchQuery
from adapter.search.sql import Planner
from adapter.store.schema import INDEX_TABLES
from adapter.store.sql import SqlRepository

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


def _patient(n: int) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "identifier": [{"system": FNR if n % 2 else "urn:other", "value": f"v{n % 5}"}],
        "active": n % 3 == 0,
    }


def _plan(n: int) -> dict[str, object]:
    return {
        "resourceType": "CarePlan",
        "id": f"c{n}",
        "status": "active" if n % 2 else "draft",
        "intent": "plan",
        "subject": {"reference": f"Patient/p{n % 7}"},
        "goal": [{"reference": f"Goal/g{n}-{i}"} for i in range(n % 3)],
    }


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Connection]:
    path: Path = tmp_path_factory.mktemp("prepared") / "store.db"
    repo = SqlRepository.from_url(f"sqlite:///{path}")
    goals = [
        {
            "resourceType": "Goal",
            "id": f"g{n}-{i}",
            "lifecycleStatus": "active",
            "description": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
        }
        for n in range(40)
        for i in range(n % 3)
    ]
    repo.bulk_load([*(_patient(n) for n in range(30)), *(_plan(n) for n in range(40)), *goals])
    with repo.engine.connect() as connection:
        yield connection
    repo.close()


QUERIES = [
    ("CarePlan", [("patient", "Patient/p3")]),
    ("CarePlan", [("patient", "p3")]),
    ("CarePlan", [("patient", "p3,Patient/p4")]),
    ("CarePlan", [("patient", "p3"), ("status", "active")]),
    ("CarePlan", [("status:not", "active")]),
    ("CarePlan", [("status", "active"), ("_count", "3")]),
    ("Patient", [("identifier", f"{FNR}|v1")]),
    ("Patient", [("identifier", "|v1")]),
    ("Patient", [("identifier", f"{FNR}|")]),
    ("Patient", [("identifier", "v2")]),
    ("Patient", [("active", "true"), ("identifier", "v0,v3")]),
    ("Patient", []),
]


def _query(resource_type: str, params: list[tuple[str, str]]) -> SearchQuery:
    parsed = parse_search(resource_type, params)
    assert not parsed.unknown
    return parsed.query


@pytest.mark.parametrize(("resource_type", "params"), QUERIES)
def test_prepared_page_equals_the_planner(
    conn: sa.Connection, resource_type: str, params: list[tuple[str, str]]
) -> None:
    query = _query(resource_type, params)
    for position in (None, ("c1", resource_type), ("p2", resource_type)):
        bound = prepared.page(INDEX_TABLES, query, position)
        assert bound is not None, params
        expected = [
            tuple(row[:5]) for row in conn.execute(Planner(INDEX_TABLES, query).page(position))
        ]
        assert [tuple(row) for row in conn.execute(*bound)] == expected


@pytest.mark.parametrize(
    "params",
    [
        [("_sort", "_lastUpdated")],
        [("identifier:missing", "true")],
        [("name", "kari")],
        [("birthdate", "ge1930")],
        [("_id", "p1")],
        [("identifier:text", "x")],
    ],
)
def test_other_shapes_go_to_the_planner(params: list[tuple[str, str]]) -> None:
    assert prepared.page(INDEX_TABLES, _query("Patient", params), None) is None


def test_system_search_goes_to_the_planner() -> None:
    assert prepared.page(INDEX_TABLES, SearchQuery(types=()), None) is None
    assert prepared.page(INDEX_TABLES, SearchQuery(types=("Patient", "Goal")), None) is None


@pytest.mark.parametrize(
    "include", ["CarePlan:goal", "CarePlan:goal:Goal", "CarePlan:*", "CarePlan:subject:Patient"]
)
def test_prepared_include_equals_the_planner(conn: sa.Connection, include: str) -> None:
    query = _query("CarePlan", [("_include", include)])
    spec = query.includes[0]
    sources = [f"c{n}" for n in range(1, 40, 2)]
    planned = conn.execute(Planner(INDEX_TABLES, query).include(spec, sources, 50)).all()
    found = conn.execute(*prepared.include(INDEX_TABLES, spec, sources, 50)).all()
    assert [tuple(r) for r in found] == [tuple(r) for r in planned]
    assert found
