"""``_summary`` and ``_elements`` on read and search (FHIR R4 §3.1.1.5.8-9), through the real app on
SQLite and PostgreSQL.

A subsetted resource keeps id, meta and its mandatory elements and is tagged SUBSETTED; what is
stored never changes; every page of a search, a ``POST _search`` form and XML get the same rules.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from adapter.fhir.wire import Format, read_resource

FHIR_JSON = {"content-type": "application/fhir+json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
OWN_TAG = {"system": "http://forlop.no/fhir/CodeSystem/test-tag", "code": "keep-me"}
NARRATIVE = {
    "status": "generated",
    "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Åse Ødegård</p></div>',
}


def create(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def patient(client: TestClient) -> dict[str, Any]:
    return create(
        client,
        {
            "resourceType": "Patient",
            "meta": {"tag": [OWN_TAG]},
            "text": NARRATIVE,
            "identifier": [
                {"system": "http://forlop.no/fhir/sid/test-subset", "value": uuid.uuid4().hex}
            ],
            "name": [{"family": "Ødegård", "given": ["Åse"]}],
            "gender": "female",
            "birthDate": "1938-03-15",
            "_birthDate": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                        "valueDateTime": "1938-03-15T04:30:00+01:00",
                    }
                ]
            },
            "maritalStatus": {"text": "Enke"},
            "communication": [{"language": {"text": "norsk"}, "preferred": True}],
            "contact": [{"name": {"family": "Ødegård", "given": ["Kari"]}}],
        },
    )


def goal(client: TestClient, subject: str) -> dict[str, Any]:
    return create(
        client,
        {
            "resourceType": "Goal",
            "text": NARRATIVE,
            "lifecycleStatus": "active",
            "description": {"text": "Gå til butikken"},
            "subject": {"reference": subject},
            "startDate": "2026-01-14",
            "note": [{"text": "Vil klare det selv"}],
        },
    )


def ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def read(client: TestClient, url: str, **params: str) -> dict[str, Any]:
    response = client.get(url, params=params or None)  # httpx drops the URL's query for {}
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def is_subsetted(resource: dict[str, Any]) -> bool:
    tags = [
        {"system": t.get("system"), "code": t.get("code")}
        for t in resource.get("meta", {}).get("tag", [])
    ]
    assert tags.count(SUBSETTED) <= 1, "tagged twice"
    return SUBSETTED in tags


def content(resource: dict[str, Any]) -> set[str]:
    """The top-level elements other than those every answer carries."""
    return set(resource) - {"resourceType", "id", "meta"}


def assert_meta_kept(subset: dict[str, Any], whole: dict[str, Any]) -> None:
    assert subset["id"] == whole["id"]
    assert subset["meta"]["versionId"] == whole["meta"]["versionId"]
    assert subset["meta"]["lastUpdated"] == whole["meta"]["lastUpdated"]
    assert OWN_TAG in subset["meta"]["tag"]
    assert is_subsetted(subset)


SUMMARY_ELEMENTS = {"identifier", "name", "gender", "birthDate", "_birthDate"}


@pytest.fixture
def stored(client: TestClient) -> dict[str, Any]:
    return patient(client)


def test_summary_true_keeps_summary_elements(client: TestClient, stored: dict[str, Any]) -> None:
    subset = read(client, f"/fhir/{ref(stored)}", _summary="true")
    assert content(subset) == SUMMARY_ELEMENTS
    assert subset["name"] == stored["name"]
    assert subset["_birthDate"] == stored["_birthDate"]
    assert_meta_kept(subset, stored)


def test_summary_text_keeps_narrative_and_mandatory_elements(
    client: TestClient, stored: dict[str, Any]
) -> None:
    subset = read(client, f"/fhir/{ref(stored)}", _summary="text")
    assert content(subset) == {"text"}
    assert subset["text"] == NARRATIVE
    assert_meta_kept(subset, stored)
    plan_goal = goal(client, ref(stored))
    goal_subset = read(client, f"/fhir/{ref(plan_goal)}", _summary="text")
    assert content(goal_subset) == {"text", "lifecycleStatus", "description", "subject"}


def test_summary_data_drops_only_the_narrative(client: TestClient, stored: dict[str, Any]) -> None:
    subset = read(client, f"/fhir/{ref(stored)}", _summary="data")
    assert content(subset) == content(stored) - {"text"}
    assert_meta_kept(subset, stored)


def test_summary_false_is_the_whole_resource(client: TestClient, stored: dict[str, Any]) -> None:
    whole = read(client, f"/fhir/{ref(stored)}", _summary="false")
    assert whole == stored
    assert not is_subsetted(whole)


def test_elements_keeps_what_is_asked_and_what_is_mandatory(
    client: TestClient, stored: dict[str, Any]
) -> None:
    subset = read(client, f"/fhir/{ref(stored)}", _elements="birthDate,contact")
    assert content(subset) == {"birthDate", "_birthDate", "contact"}
    assert subset["contact"] == stored["contact"]
    assert_meta_kept(subset, stored)
    plan_goal = goal(client, ref(stored))
    goal_subset = read(client, f"/fhir/{ref(plan_goal)}", _elements="note")
    assert content(goal_subset) == {"note", "lifecycleStatus", "description", "subject"}
    nothing_known = read(client, f"/fhir/{ref(plan_goal)}", _elements="nonsense, ,")
    assert content(nothing_known) == {"lifecycleStatus", "description", "subject"}
    assert is_subsetted(nothing_known)


def test_subsetting_never_changes_what_is_stored(
    client: TestClient, stored: dict[str, Any]
) -> None:
    url = f"/fhir/{ref(stored)}"
    for params in ({"_summary": "true"}, {"_summary": "text"}, {"_elements": "name"}):
        read(client, url, **params)
    assert read(client, url) == stored
    versions = read(client, f"{url}/_history")
    assert [e["resource"]["meta"]["versionId"] for e in versions["entry"]] == ["1"]
    vread = read(client, f"{url}/_history/1", _elements="gender")
    assert content(vread) == {"gender"}
    assert is_subsetted(vread)


@pytest.mark.parametrize("value", ["bogus", "TRUE", "", "count,true", "true "])
def test_invalid_summary_is_refused(client: TestClient, stored: dict[str, Any], value: str) -> None:
    for response in (
        client.get(f"/fhir/{ref(stored)}", params={"_summary": value}),
        client.get("/fhir/Patient", params={"_id": stored["id"], "_summary": value}),
        client.post(
            "/fhir/Patient/_search",
            content=urlencode({"_id": stored["id"], "_summary": value}),
            headers=FORM,
        ),
    ):
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["expression"] == ["_summary"]


def _matches(found: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    return [e["resource"] for e in found.get("entry", []) if e["search"]["mode"] == mode]


def test_search_subsets_matches_and_includes(client: TestClient, stored: dict[str, Any]) -> None:
    goals = [goal(client, ref(stored)) for _ in range(2)]
    params = {"subject": ref(stored), "_include": "Goal:subject", "colour": "blå"}
    whole = read(client, "/fhir/Goal", **params)
    assert not any(is_subsetted(r) for r in _matches(whole) + _matches(whole, "include"))

    summary = read(client, "/fhir/Goal", **params, _summary="true")
    assert summary["total"] == 2
    assert {r["id"] for r in _matches(summary)} == {g["id"] for g in goals}
    for resource in _matches(summary):
        assert "text" not in resource and "note" not in resource
        assert resource["description"] == {"text": "Gå til butikken"}
        assert is_subsetted(resource)
    [included] = _matches(summary, "include")
    assert content(included) == SUMMARY_ELEMENTS
    [outcome] = _matches(summary, "outcome")
    assert "colour" in outcome["issue"][0]["diagnostics"]
    assert "meta" not in outcome

    elements = read(client, "/fhir/Goal", **params, _elements="startDate")
    for resource in _matches(elements):
        assert content(resource) == {"startDate", "lifecycleStatus", "description", "subject"}


def test_post_search_form_subsets_too(client: TestClient, stored: dict[str, Any]) -> None:
    goal(client, ref(stored))
    for prefer in ({}, {"prefer": "handling=strict"}):
        response = client.post(
            "/fhir/Goal/_search",
            content=urlencode({"subject": ref(stored), "_elements": "note"}),
            headers={**FORM, **prefer},
        )
        assert response.status_code == 200, response.text
        [resource] = _matches(response.json())
        assert content(resource) == {"note", "lifecycleStatus", "description", "subject"}
        assert is_subsetted(resource)
        assert not [e for e in response.json()["entry"] if e["search"]["mode"] == "outcome"]


def test_every_page_is_subsetted(client: TestClient, stored: dict[str, Any]) -> None:
    for _ in range(3):
        goal(client, ref(stored))
    page = read(client, "/fhir/Goal", subject=ref(stored), _count="2", _elements="startDate")
    seen = 0
    while True:
        for resource in _matches(page):
            assert content(resource) == {"startDate", "lifecycleStatus", "description", "subject"}
            seen += 1
        following = next((x["url"] for x in page["link"] if x["relation"] == "next"), None)
        if following is None:
            break
        assert "_elements=startDate" in following
        page = read(client, following)
    assert seen == 3


def test_subsetted_xml(client: TestClient, stored: dict[str, Any]) -> None:
    as_json = read(client, f"/fhir/{ref(stored)}", _summary="true")
    response = client.get(f"/fhir/{ref(stored)}", params={"_summary": "true", "_format": "xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+xml")
    assert read_resource(response.content, Format.XML) == as_json
    found = client.get(
        "/fhir/Patient", params={"_id": stored["id"], "_elements": "gender", "_format": "xml"}
    )
    bundle = read_resource(found.content, Format.XML)
    [resource] = _matches(bundle)
    assert content(resource) == {"gender"}
    assert is_subsetted(resource)


def test_history_entries_are_subsetted(client: TestClient, stored: dict[str, Any]) -> None:
    changed = {**stored, "gender": "other"}
    response = client.put(f"/fhir/{ref(stored)}", json=changed, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    history = read(client, f"/fhir/{ref(stored)}/_history", _elements="gender")
    assert [e["resource"]["gender"] for e in history["entry"]] == ["other", "female"]
    assert all(content(e["resource"]) == {"gender"} for e in history["entry"])
    counted = read(client, f"/fhir/{ref(stored)}/_history", _summary="count")
    assert "entry" not in counted
