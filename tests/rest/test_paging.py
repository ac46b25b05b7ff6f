"""Paging, sorting and totals of search results (FHIR R4 §3.1.1.5.2 ``_count``, §3.1.1.5.3
``_sort``, §3.1.1.5.6 ``_total``, §3.1.1.6 paging), through the real app on SQLite and PostgreSQL.

A client follows ``Bundle.link`` next to the end and previous back to the start and sees exactly
every match once, in the order it asked for, also while other clients write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from adapter.search.paging import encode_cursor
from adapter.search.parser import parse_search

FHIR_JSON = {"content-type": "application/fhir+json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}

# (lifecycleStatus, startDate) of the goals a series holds; None: no start date.
SERIES: list[tuple[str, str | None]] = [
    ("active", "2026-01-14"),
    ("proposed", "2026-01-10"),
    ("active", None),
    ("completed", "2026-02-01"),
    ("active", "2026-01-14"),
    ("proposed", "2026-03-05"),
    ("active", "2025-12-24"),
]


def create(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def goal(client: TestClient, patient: str, status: str, start: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Goal",
        "lifecycleStatus": status,
        "description": {"text": f"Mål {uuid.uuid4().hex[:6]}"},
        "subject": {"reference": patient},
    }
    if start is not None:
        resource["startDate"] = start
    return create(client, resource)


def series(
    client: TestClient, specs: Sequence[tuple[str, str | None]] = SERIES
) -> tuple[str, list[dict[str, Any]]]:
    """A fresh patient and its goals."""
    patient = create(client, {"resourceType": "Patient", "name": [{"family": "Side"}]})
    reference = f"Patient/{patient['id']}"
    return reference, [goal(client, reference, status, start) for status, start in specs]


def get(client: TestClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert found["resourceType"] == "Bundle"
    return found


def link(found: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in found["link"] if item["relation"] == relation), None)


def ids(found: dict[str, Any]) -> list[str]:
    return [
        e["resource"]["id"]
        for e in found.get("entry", [])
        if e.get("search", {}).get("mode") == "match"
    ]


def search_url(path: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(list(params))}"


def walk(client: TestClient, first: dict[str, Any], relation: str) -> list[dict[str, Any]]:
    """``first`` and every page reached from it by following ``relation`` links."""
    pages = [first]
    while (url := link(pages[-1], relation)) is not None:
        assert len(pages) < 50, "paging does not end"
        pages.append(get(client, url))
    return pages


def _sort_key(goal: dict[str, Any], code: str) -> Any:
    if code == "start-date":
        return goal.get("startDate")
    if code == "lifecycle-status":
        return goal["lifecycleStatus"]
    if code == "_lastUpdated":
        return goal["meta"]["lastUpdated"]
    return goal["id"]


def assert_sorted(goals: list[dict[str, Any]], sort: str) -> None:
    """Ordered by each key in turn; a goal without a value comes after those with one."""
    for before, after in zip(goals, goals[1:], strict=False):
        for item in sort.split(","):
            code = item.lstrip("-")
            a, b = _sort_key(before, code), _sort_key(after, code)
            if a == b:
                continue
            if a is None or b is None:
                assert b is None, (sort, a, b)
            elif item.startswith("-"):
                assert a > b, (sort, a, b)
            else:
                assert a < b, (sort, a, b)
            break


SORTS = [
    None,
    "start-date",
    "-start-date",
    "_lastUpdated",
    "-_lastUpdated",
    "lifecycle-status,-start-date",
    "-lifecycle-status,start-date,_id",
    "-_id",
]


@pytest.mark.parametrize("sort", SORTS, ids=[s or "default" for s in SORTS])
def test_walk_next_to_the_end_and_previous_back(client: TestClient, sort: str | None) -> None:
    patient, goals = series(client)
    by_id = {g["id"]: g for g in goals}
    criteria = [("subject", patient), *([("_sort", sort)] if sort else [])]
    whole = get(client, search_url("/fhir/Goal", [*criteria, ("_count", "50")]))
    order = ids(whole)
    assert sorted(order) == sorted(by_id)
    if sort:
        assert_sorted([by_id[i] for i in order], sort)

    first = get(
        client, search_url("/fhir/Goal", [*criteria, ("_count", "3"), ("_total", "accurate")])
    )
    assert link(first, "previous") is None
    forward = walk(client, first, "next")
    assert [len(ids(page)) for page in forward] == [3, 3, 1]
    assert [i for page in forward for i in ids(page)] == order  # each once, in order
    assert all(page["total"] == 7 for page in forward)

    backward = walk(client, forward[-1], "previous")
    assert [ids(page) for page in backward] == [ids(page) for page in reversed(forward)]
    assert link(backward[-1], "previous") is None
    assert link(backward[-1], "next") == link(first, "next")


def test_links_carry_the_search_and_nothing_else(client: TestClient) -> None:
    patient, _ = series(client)
    first = get(
        client,
        search_url(
            "/fhir/Goal",
            [
                ("subject", patient),
                ("_sort", "-start-date"),
                ("_count", "2"),
                ("_total", "accurate"),
            ],
        ),
    )
    for relation in ("self", "next"):
        url = link(first, relation)
        assert url is not None and url.startswith("http://testserver/fhir/Goal?")
        params = dict(parse_qsl(urlsplit(url).query))
        assert params["subject"] == patient
        assert params["_sort"] == "-start-date"
        assert params["_count"] == "2"
        assert params["_total"] == "accurate"
    assert "_cursor" not in dict(parse_qsl(urlsplit(link(first, "self") or "").query))
    second = get(client, link(first, "next") or "")
    assert link(second, "self") == link(first, "next")


def test_post_search_pages_through_get_links(client: TestClient) -> None:
    patient, goals = series(client)
    response = client.post(
        "/fhir/Goal/_search",
        content=urlencode({"subject": patient, "_count": "4"}),
        headers=FORM,
    )
    assert response.status_code == 200, response.text
    pages = walk(client, response.json(), "next")
    collected = [i for page in pages for i in ids(page)]
    assert sorted(collected) == sorted(g["id"] for g in goals)


def test_system_level_paging(client: TestClient) -> None:
    patient, goals = series(client, SERIES[:3])
    plans = [
        create(
            client,
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": patient},
            },
        )
        for _ in range(2)
    ]
    first = get(
        client,
        search_url("/fhir/", [("_type", "Goal,CarePlan"), ("patient", patient), ("_count", "2")]),
    )
    pages = walk(client, first, "next")
    assert len(pages) == 3
    collected = [i for page in pages for i in ids(page)]
    assert sorted(collected) == sorted(r["id"] for r in [*goals, *plans])
    back = walk(client, pages[-1], "previous")
    assert [ids(page) for page in back] == [ids(page) for page in reversed(pages)]


@pytest.mark.parametrize("sort", [None, "start-date", "-_lastUpdated", "_lastUpdated"])
def test_paging_is_stable_while_others_write(client: TestClient, sort: str | None) -> None:
    """Resources that existed when paging began are each seen exactly once."""
    patient, goals = series(client, SERIES[:6])
    criteria = [("subject", patient), ("_count", "2"), *([("_sort", sort)] if sort else [])]
    pages = [get(client, search_url("/fhir/Goal", criteria))]
    written: list[dict[str, Any]] = []
    while (url := link(pages[-1], "next")) is not None:
        if len(pages) > 2:
            pages.append(get(client, url))
            continue
        # Between two page fetches another client adds goals before and after the cursor, and
        # (unless the order is by _lastUpdated, which a change moves) edits an existing one.
        written += [
            goal(client, patient, "active", "2025-01-01"),
            goal(client, patient, "active", "2027-01-01"),
        ]
        if not sort or "_lastUpdated" not in sort:
            seen = {i for page in pages for i in ids(page)}
            unseen = next((g for g in goals if g["id"] not in seen), None)
            if unseen is not None:
                changed = {**unseen, "description": {"text": "Endret mens noen blar"}}
                response = client.put(f"/fhir/Goal/{unseen['id']}", json=changed, headers=FHIR_JSON)
                assert response.status_code == 200, response.text
        pages.append(get(client, url))
        assert len(pages) < 30
    collected = [i for page in pages for i in ids(page)]
    assert len(collected) == len(set(collected)), "a resource was repeated"
    assert {g["id"] for g in goals} <= set(collected), "a resource that existed was skipped"
    assert set(collected) <= {g["id"] for g in [*goals, *written]}


def test_total_modes(client: TestClient) -> None:
    patient, _ = series(client)
    base = [("subject", patient), ("_count", "2")]
    assert get(client, search_url("/fhir/Goal", [*base, ("_total", "accurate")]))["total"] == 7
    estimate = get(client, search_url("/fhir/Goal", [*base, ("_total", "estimate")]))
    assert estimate["total"] == 7
    assert "total" not in get(client, search_url("/fhir/Goal", [*base, ("_total", "none")]))
    # One page holds everything: the total is known without asking.
    assert get(client, search_url("/fhir/Goal", [("subject", patient)]))["total"] == 7
    response = client.get("/fhir/Goal", params={"subject": patient, "_total": "exact"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_total"]


def test_summary_count_gives_the_total_alone(client: TestClient) -> None:
    patient, _ = series(client)
    for params in (
        [("subject", patient), ("_summary", "count")],
        [("subject", patient), ("_summary", "count"), ("_count", "2")],
        [("subject", patient), ("_summary", "count"), ("_include", "Goal:subject")],
    ):
        found = get(client, search_url("/fhir/Goal", params))
        assert found["total"] == 7
        assert "entry" not in found
        assert link(found, "next") is None
    posted = client.post(
        "/fhir/Goal/_search",
        content=urlencode({"subject": patient, "_summary": "count"}),
        headers=FORM,
    )
    assert posted.status_code == 200
    assert posted.json()["total"] == 7
    assert "entry" not in posted.json()
    # What was ignored is still said.
    noted = get(
        client, search_url("/fhir/Goal", [("subject", patient), ("_summary", "count"), ("x", "1")])
    )
    assert noted["total"] == 7
    assert [e["search"]["mode"] for e in noted["entry"]] == ["outcome"]


def test_count_zero_and_empty_results(client: TestClient) -> None:
    patient, _ = series(client)
    found = get(client, search_url("/fhir/Goal", [("subject", patient), ("_count", "0")]))
    assert found["total"] == 7
    assert "entry" not in found  # FHIR JSON has no empty arrays
    nothing = get(client, search_url("/fhir/Goal", [("subject", patient), ("_id", "nobody")]))
    assert nothing["total"] == 0
    assert "entry" not in nothing


@pytest.mark.parametrize(
    "value", ["-1", "abc", "1.5", "²", "٣", "", " 2", "99999999999999999999999"]
)
def test_bad_counts_are_refused(client: TestClient, value: str) -> None:
    response = client.get("/fhir/Goal", params={"_id": "x", "_count": value})
    if value == "99999999999999999999999":
        # Absurdly large counts are capped at the server's page size, not refused.
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400, (value, response.text)
    assert response.json()["issue"][0]["expression"] == ["_count"]


@pytest.mark.parametrize("sort", ["nonsense", "subject", "", "-", "start-date,", "Goal.startDate"])
def test_bad_sorts_are_refused(client: TestClient, sort: str) -> None:
    response = client.get("/fhir/Goal", params={"_id": "x", "_sort": sort})
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["_sort"]


def test_damaged_and_foreign_cursors_are_refused(client: TestClient) -> None:
    patient, _ = series(client)
    criteria = [("subject", patient), ("_sort", "start-date"), ("_count", "2")]
    first = get(client, search_url("/fhir/Goal", criteria))
    cursor = dict(parse_qsl(urlsplit(link(first, "next") or "").query))["_cursor"]
    query = parse_search("Goal", [("subject", patient), ("_sort", "start-date")]).query
    forged = [
        "garbage",
        cursor[:-4],
        cursor + "AAAA",
        encode_cursor(query, [10**30, "x", "Goal"]),
        encode_cursor(query, [5, "x\x00", "Goal"]),
        encode_cursor(query, ["not a number", "x", "Goal"]),
        encode_cursor(query, [5]),
    ]
    for bad in forged:
        response = client.get("/fhir/Goal", params=[*criteria, ("_cursor", bad)])
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["issue"][0]["expression"] == ["_cursor"]
    # A cursor belongs to its search: other criteria or another order cannot use it.
    for other in (
        [("subject", patient), ("_sort", "-start-date")],
        [("subject", patient), ("lifecycle-status", "active"), ("_sort", "start-date")],
    ):
        response = client.get("/fhir/Goal", params=[*other, ("_cursor", cursor)])
        assert response.status_code == 400, response.text
    # The genuine cursor still works, with any page size.
    again = client.get("/fhir/Goal", params=[*criteria[:2], ("_count", "10"), ("_cursor", cursor)])
    assert again.status_code == 200
    assert len(ids(again.json())) == 5
