"""History (FHIR R4 §3.1.0.9): instance, type and system level, with ``_since``, ``_count`` and
paging, through the real app on SQLite and PostgreSQL.

A municipal system polls ``_history?_since=...`` to learn what changed: every version shows up
once, newest first, deletions as DELETE entries, across as many pages as it takes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from adapter.fhir.wire import Format, read_resource
from adapter.store.records import encode_history_cursor

FHIR_JSON = {"content-type": "application/fhir+json"}


def create(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def update(client: TestClient, resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    url = f"/fhir/{resource['resourceType']}/{resource['id']}"
    response = client.put(url, json={**resource, **changes}, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()
    return updated


def delete(client: TestClient, resource: dict[str, Any]) -> None:
    response = client.delete(f"/fhir/{resource['resourceType']}/{resource['id']}")
    assert response.status_code in (200, 204), response.text


def get(client: TestClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert found["resourceType"] == "Bundle"
    assert found["type"] == "history"
    return found


def link(found: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in found["link"] if item["relation"] == relation), None)


def walk(client: TestClient, first: dict[str, Any], relation: str) -> list[dict[str, Any]]:
    pages = [first]
    while (url := link(pages[-1], relation)) is not None:
        assert len(pages) < 200, "paging does not end"
        pages.append(get(client, url))
    return pages


def versions(pages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(fullUrl, etag) of every entry, in the order the pages give them."""
    return [
        (e["fullUrl"].removeprefix("http://testserver/fhir/"), e["response"]["etag"])
        for page in pages
        for e in page.get("entry", [])
    ]


def new_goal(client: TestClient) -> dict[str, Any]:
    patient = create(client, {"resourceType": "Patient", "name": [{"family": "Historikk"}]})
    return create(
        client,
        {
            "resourceType": "Goal",
            "lifecycleStatus": "proposed",
            "description": {"text": "Gå ut med søpla"},
            "subject": {"reference": f"Patient/{patient['id']}"},
        },
    )


@pytest.fixture
def lived(client: TestClient) -> list[dict[str, Any]]:
    """A goal created, changed twice and deleted: its four versions, oldest first."""
    first = new_goal(client)
    second = update(client, first, description={"text": "Gå ut med søpla selv"})
    third = update(client, second, lifecycleStatus="active")
    delete(client, third)
    return [first, second, third]


def test_instance_history_lists_every_version_newest_first(
    client: TestClient, lived: list[dict[str, Any]]
) -> None:
    goal_id = lived[0]["id"]
    found = get(client, f"/fhir/Goal/{goal_id}/_history")
    entries = found["entry"]
    assert [e["request"]["method"] for e in entries] == ["DELETE", "PUT", "PUT", "POST"]
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert [e["request"]["url"] for e in entries] == [f"Goal/{goal_id}"] * 3 + ["Goal"]
    assert [e["response"]["status"][:3] for e in entries] == ["204", "200", "200", "201"]
    assert all(e["fullUrl"] == f"http://testserver/fhir/Goal/{goal_id}" for e in entries)
    assert "resource" not in entries[0]
    assert [e["resource"] for e in entries[1:]] == list(reversed(lived))
    moments = [e["response"]["lastModified"] for e in entries]
    assert moments == sorted(moments, reverse=True)
    assert moments[1:] == [r["meta"]["lastUpdated"] for r in reversed(lived)]
    # The resource is gone, its history is not.
    assert client.get(f"/fhir/Goal/{goal_id}").status_code == 410
    vread = client.get(f"/fhir/Goal/{goal_id}/_history/2")
    assert vread.status_code == 200
    assert vread.json() == lived[1]


@pytest.mark.parametrize(("count", "sizes"), [("1", [1, 1, 1, 1]), ("3", [3, 1]), ("4", [4])])
def test_instance_history_pages_both_ways(
    client: TestClient, lived: list[dict[str, Any]], count: str, sizes: list[int]
) -> None:
    goal_id = lived[0]["id"]
    first = get(client, f"/fhir/Goal/{goal_id}/_history?_count={count}")
    assert link(first, "previous") is None
    forward = walk(client, first, "next")
    assert [len(page["entry"]) for page in forward] == sizes
    assert [etag for _, etag in versions(forward)] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    backward = walk(client, forward[-1], "previous")
    assert [versions([p]) for p in backward] == [versions([p]) for p in reversed(forward)]
    for page in forward[1:]:
        params = dict(parse_qsl(urlsplit(link(page, "self") or "").query))
        assert params["_count"] == count


def test_since_keeps_versions_written_at_or_after_it(
    client: TestClient, lived: list[dict[str, Any]]
) -> None:
    goal_id = lived[0]["id"]
    url = f"/fhir/Goal/{goal_id}/_history"
    everything = get(client, url)["entry"]
    since = lived[2]["meta"]["lastUpdated"]
    found = client.get(url, params={"_since": since})
    assert found.status_code == 200
    expected = [e["response"]["etag"] for e in everything if e["response"]["lastModified"] >= since]
    assert [e["response"]["etag"] for e in found.json()["entry"]] == expected
    assert expected[-1] == 'W/"3"'
    # The same instant written in another time zone.
    moment = datetime.fromisoformat(since)
    elsewhere = moment.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="milliseconds")
    again = client.get(url, params={"_since": elsewhere})
    assert [e["response"]["etag"] for e in again.json()["entry"]] == expected
    later = (moment + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    nothing = get(client, f"{url}?_since={later.replace('+', '%2B')}")
    assert "entry" not in nothing
    earlier = client.get(url, params={"_since": "2000-01-01T00:00:00Z"})
    assert len(earlier.json()["entry"]) == 4


def _ours(pages: list[dict[str, Any]], mine: set[str]) -> list[tuple[str, str]]:
    return [v for v in versions(pages) if v[0] in mine]


def test_type_history_since_pages_through_every_change(client: TestClient) -> None:
    goals = [new_goal(client) for _ in range(3)]
    since = goals[0]["meta"]["lastUpdated"]
    changed = update(client, goals[1], lifecycleStatus="active")
    delete(client, goals[2])
    mine = {f"Goal/{g['id']}" for g in goals}
    first = get(client, f"/fhir/Goal/_history?_since={since}&_count=2")
    pages = walk(client, first, "next")
    assert all(len(page.get("entry", [])) <= 2 for page in pages)
    assert all(
        e["fullUrl"].startswith("http://testserver/fhir/Goal/")
        for page in pages
        for e in page.get("entry", [])
    )
    ours = _ours(pages, mine)
    assert len(ours) == len(set(ours))
    assert sorted(ours) == sorted(
        [
            (f"Goal/{goals[0]['id']}", 'W/"1"'),
            (f"Goal/{goals[1]['id']}", 'W/"1"'),
            (f"Goal/{goals[1]['id']}", 'W/"2"'),
            (f"Goal/{goals[2]['id']}", 'W/"1"'),
            (f"Goal/{goals[2]['id']}", 'W/"2"'),
        ]
    )
    moments = [e["response"]["lastModified"] for page in pages for e in page.get("entry", [])]
    assert moments == sorted(moments, reverse=True)
    assert changed["meta"]["versionId"] == "2"
    for page in pages:
        params = dict(parse_qsl(urlsplit(link(page, "self") or "").query))
        assert params["_since"] == since
    back = walk(client, pages[-1], "previous")
    assert versions(back[-1:]) == versions(pages[:1])


def test_system_history_holds_every_type(client: TestClient) -> None:
    goal = new_goal(client)
    since = goal["meta"]["lastUpdated"]
    patient_ref = goal["subject"]["reference"]
    plan = create(
        client,
        {
            "resourceType": "CarePlan",
            "status": "draft",
            "intent": "plan",
            "subject": {"reference": patient_ref},
        },
    )
    update(client, plan, status="active")
    delete(client, goal)
    pages = walk(client, get(client, f"/fhir/_history?_since={since}&_count=3"), "next")
    ours = _ours(pages, {f"Goal/{goal['id']}", f"CarePlan/{plan['id']}"})
    assert sorted(ours) == sorted(
        [
            (f"Goal/{goal['id']}", 'W/"1"'),
            (f"Goal/{goal['id']}", 'W/"2"'),
            (f"CarePlan/{plan['id']}", 'W/"1"'),
            (f"CarePlan/{plan['id']}", 'W/"2"'),
        ]
    )
    deleted = [
        e
        for page in pages
        for e in page.get("entry", [])
        if e["fullUrl"].endswith(f"Goal/{goal['id']}") and e["request"]["method"] == "DELETE"
    ]
    assert len(deleted) == 1
    assert "resource" not in deleted[0]


BAD_SINCE = [
    "yesterday",
    "2026-01-01",
    "2026-01-01T10:00:00",
    "2026-01-01T10:00Z",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01T10:00:60Z",
    "2026-W01-1T00:00:00Z",
    "20260101T000000Z",
    "2026-01-01T10:00:00+25:00",
    "",
    "' OR 1=1 --",
    "2026-01-01T10:00:00Z\x00",
]


@pytest.mark.parametrize("value", BAD_SINCE)
def test_malformed_since_is_refused(
    client: TestClient, lived: list[dict[str, Any]], value: str
) -> None:
    for url in ("/fhir/_history", "/fhir/Goal/_history", f"/fhir/Goal/{lived[0]['id']}/_history"):
        response = client.get(url, params={"_since": value})
        assert response.status_code == 400, (url, value, response.text)
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["expression"] == ["_since"]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999-14:00"])
def test_extreme_since_is_answered(client: TestClient, value: str) -> None:
    response = client.get("/fhir/Goal/_history", params={"_since": value, "_count": "1"})
    assert response.status_code == 200, response.text


def test_bad_paging_parameters_are_refused(client: TestClient, lived: list[dict[str, Any]]) -> None:
    url = f"/fhir/Goal/{lived[0]['id']}/_history"
    for count in ("0", "-1", "x", "²", "1.5"):
        response = client.get(url, params={"_count": count})
        assert response.status_code == 400, (count, response.text)
        assert response.json()["issue"][0]["expression"] == ["_count"]
    for cursor in ("garbage", encode_history_cursor(10**30, 1), encode_history_cursor(1, -(2**70))):
        response = client.get(url, params={"_cursor": cursor})
        assert response.status_code == 400, (cursor, response.text)
        assert response.json()["issue"][0]["expression"] == ["_cursor"]


def test_history_of_what_never_existed(client: TestClient) -> None:
    assert client.get("/fhir/Goal/never-written/_history").status_code == 404
    assert client.get("/fhir/Nonsense/_history").status_code in (400, 404)
    assert client.get("/fhir/Nonsense/x/_history").status_code in (400, 404)


def test_history_renders_as_xml(client: TestClient, lived: list[dict[str, Any]]) -> None:
    url = f"/fhir/Goal/{lived[0]['id']}/_history"
    as_json = get(client, url)
    response = client.get(url, params={"_format": "xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+xml")
    as_xml = read_resource(response.content, Format.XML)
    assert as_xml["entry"] == as_json["entry"]
    assert as_xml["type"] == "history"
    paged = client.get(url, params={"_format": "xml", "_count": "2"})
    following = link(read_resource(paged.content, Format.XML), "next")
    assert following is not None
    assert client.get(following).headers["content-type"].startswith("application/fhir+xml")
