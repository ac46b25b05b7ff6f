"""Property: SQL search (SQLite, PostgreSQL) returns exactly what the in-memory matcher returns,
in the same order and split into the same pages, for generated resources and queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.search.parser import parse_search
from adapter.store.memory import MemoryRepository
from adapter.store.repository import Repository
from adapter.store.sql import SqlRepository
from tests.store.workers import clear

SYSTEMS = ["http://s1", "http://s2"]
CODES = ["c1", "c2", "c3"]
WORDS = ["Ås", "Åsmund", "Berg", "berg", "Bø", "Østby", "Kari", "Ola Nordmann"]
PATIENTS = ["p1", "p2", "p3"]
GOALS = ["g1", "g2"]


# Shared boundaries make the edge cases of the prefixes (ranges that start or end together) common.
DATE_POOL = [
    "2024",
    "2024-03",
    "2024-03-01",
    "2024-03-31",
    "2024-03-01T00:00:00Z",
    "2024-02-29T23:59:59.999+00:00",
    "2024-04",
    "2023-12-31T23:00:00-01:00",
]


def dates() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(DATE_POOL), random_dates())


@st.composite
def random_dates(draw: st.DrawFn) -> str:
    """A date, dateTime or instant of random precision around 2024."""
    year = draw(st.integers(2023, 2025))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    precision = draw(st.sampled_from(["year", "month", "day", "minute", "second", "milli"]))
    if precision == "year":
        return f"{year}"
    if precision == "month":
        return f"{year}-{month:02d}"
    if precision == "day":
        return f"{year}-{month:02d}-{day:02d}"
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    zone = draw(st.sampled_from(["Z", "+01:00", "-05:30"]))
    text = f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"
    if precision == "minute":
        return text
    text += f":{draw(st.integers(0, 59)):02d}"
    if precision == "milli":
        text += f".{draw(st.integers(0, 999)):03d}"
    return text + zone


def codings() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"code": st.sampled_from(CODES)},
        optional={"system": st.sampled_from(SYSTEMS), "display": st.sampled_from(WORDS)},
    )


def concepts() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"coding": st.lists(codings(), max_size=2)}, optional={"text": st.sampled_from(WORDS)}
    )


def periods() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={"start": dates(), "end": dates()})


def refs(choices: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.builds(lambda r: {"reference": r}, st.sampled_from(choices))


def patients() -> st.SearchStrategy[dict[str, Any]]:
    name = st.fixed_dictionaries(
        {},
        optional={
            "family": st.sampled_from(WORDS),
            "given": st.lists(st.sampled_from(WORDS), max_size=2),
        },
    )
    return st.fixed_dictionaries(
        {"resourceType": st.just("Patient")},
        optional={
            "name": st.lists(name, max_size=2),
            "gender": st.sampled_from(["male", "female", "other"]),
            "birthDate": dates().map(lambda d: d[:10]),
            "active": st.booleans(),
        },
    )


def observations() -> st.SearchStrategy[dict[str, Any]]:
    effective = st.one_of(
        dates().map(lambda d: {"effectiveDateTime": d}),
        periods().map(lambda p: {"effectivePeriod": p}),
        st.just({}),
    )
    body = st.fixed_dictionaries(
        {
            "resourceType": st.just("Observation"),
            "status": st.sampled_from(["final", "amended"]),
            "code": concepts(),
        },
        optional={
            "subject": refs([f"Patient/{p}" for p in PATIENTS] + ["Group/p1"]),
            "focus": st.lists(refs([f"Goal/{g}" for g in GOALS]), max_size=2),
            "category": st.lists(concepts(), max_size=2),
        },
    )
    return st.builds(lambda b, e: {**b, **e}, body, effective)


def goals() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "resourceType": st.just("Goal"),
            "lifecycleStatus": st.sampled_from(["active", "completed", "cancelled"]),
            "description": st.just({"text": "aktivitet"}),
            "subject": refs([f"Patient/{p}" for p in PATIENTS]),
        },
        optional={"startDate": dates().map(lambda d: d[:10]), "achievementStatus": concepts()},
    )


@st.composite
def corpora(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rid in PATIENTS:
        out.append({**draw(patients()), "id": rid})
    for rid in GOALS:
        out.append({**draw(goals()), "id": rid})
    for n in range(draw(st.integers(0, 8))):
        out.append({**draw(observations()), "id": f"o{n}"})
    return out


def token_values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(CODES),
        st.builds(lambda s, c: f"{s}|{c}", st.sampled_from(SYSTEMS), st.sampled_from(CODES)),
        st.builds(lambda c: f"|{c}", st.sampled_from(CODES)),
        st.builds(lambda s: f"{s}|", st.sampled_from(SYSTEMS)),
    )


def date_values() -> st.SearchStrategy[str]:
    prefixes = st.sampled_from(["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"])
    return st.builds(lambda p, d: p + d, prefixes, dates())


def _or(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=2).map(",".join)


CLAUSES: dict[str, list[st.SearchStrategy[tuple[str, str]]]] = {
    "Observation": [
        st.tuples(st.sampled_from(["code", "category", "code:not"]), _or(token_values())),
        st.tuples(st.just("code:text"), st.sampled_from(["as", "ber", "ola n", "ø"])),
        st.tuples(
            st.sampled_from(["code:missing", "focus:missing", "date:missing"]),
            st.sampled_from(["true", "false"]),
        ),
        st.tuples(st.sampled_from(["patient", "subject"]), _or(st.sampled_from(PATIENTS))),
        st.tuples(st.just("subject"), st.sampled_from(["Patient/p1", "Group/p1", "p1"])),
        st.tuples(st.just("subject:Patient"), st.sampled_from(PATIENTS)),
        st.tuples(st.just("focus"), _or(st.sampled_from(GOALS + ["Goal/g1"]))),
        st.tuples(st.just("date"), _or(date_values())),
        st.tuples(st.just("status"), _or(st.sampled_from(["final", "amended"]))),
        st.tuples(st.just("_id"), _or(st.sampled_from(["o0", "o1", "o2"]))),
    ],
    "Patient": [
        st.tuples(
            st.sampled_from(["name", "family", "given", "name:contains"]),
            _or(st.sampled_from(["as", "AS", "berg", "ø", "nord", "ola n", "b"])),
        ),
        st.tuples(st.just("name:exact"), st.sampled_from(WORDS)),
        st.tuples(st.just("birthdate"), _or(date_values())),
        st.tuples(
            st.sampled_from(["gender", "active", "gender:not"]),
            st.sampled_from(["male", "female", "true", "false"]),
        ),
        st.tuples(st.just("name:missing"), st.sampled_from(["true", "false"])),
    ],
    "Goal": [
        st.tuples(st.sampled_from(["lifecycle-status", "achievement-status"]), _or(token_values())),
        st.tuples(st.just("lifecycle-status"), st.sampled_from(["active", "completed"])),
        st.tuples(st.just("start-date"), date_values()),
        st.tuples(st.just("patient"), st.sampled_from(PATIENTS)),
    ],
}
SORTS: dict[str, list[str]] = {
    "Observation": ["date", "-date", "code", "-status", "_id", "-_id", "category,date"],
    "Patient": ["name", "-family", "birthdate", "-birthdate,gender", "_id"],
    "Goal": ["start-date", "-lifecycle-status", "achievement-status", "-_id"],
}
INCLUDES: dict[str, list[tuple[str, str]]] = {
    "Observation": [("_include", "Observation:focus"), ("_include", "Observation:patient")],
    "Patient": [("_revinclude", "Observation:subject"), ("_revinclude", "Goal:patient")],
    "Goal": [("_revinclude", "Observation:focus"), ("_include", "Goal:subject")],
}


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    resource_type = draw(st.sampled_from(sorted(CLAUSES)))
    params = draw(st.lists(st.one_of(CLAUSES[resource_type]), min_size=1, max_size=3))
    if draw(st.booleans()):
        params.append(("_sort", draw(st.sampled_from(SORTS[resource_type]))))
    if draw(st.booleans()):
        params.append(draw(st.sampled_from(INCLUDES[resource_type])))
    params.append(("_count", str(draw(st.integers(1, 4)))))
    return resource_type, params


def every_page(repo: Repository, resource_type: str, params: list[tuple[str, str]]) -> list[Any]:
    """(ids of each page, included keys of each page) through all pages."""
    pages: list[Any] = []
    cursor: list[tuple[str, str]] = []
    with repo.transaction(read_only=True) as tx:
        for _ in range(50):
            page = tx.search(parse_search(resource_type, params + cursor).query)
            pages.append(
                ([s.id for s in page.matches], [(s.resource_type, s.id) for s in page.included])
            )
            if page.next_cursor is None:
                return pages
            cursor = [("_cursor", page.next_cursor)]
    raise AssertionError("paging did not end")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sql_repository(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqlRepository]:
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_repository")
        return
    repo = SqlRepository.from_url(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    yield repo
    repo.close()


@settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(corpus=corpora(), searches=st.lists(queries(), min_size=6, max_size=12))
def test_sql_search_equals_in_memory_search(
    sql_repository: SqlRepository,
    corpus: list[dict[str, Any]],
    searches: list[tuple[str, list[tuple[str, str]]]],
) -> None:
    clear(sql_repository)
    memory = MemoryRepository()
    for repo in (memory, sql_repository):
        with repo.transaction() as tx:
            for resource in corpus:
                tx.create(resource, id=resource["id"])
    for resource_type, params in searches:
        expected = every_page(memory, resource_type, params)
        assert every_page(sql_repository, resource_type, params) == expected, params
