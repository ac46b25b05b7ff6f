"""The translation core's fixtures pushed to the server and pulled back intact (FHIR R4
§3.1.0.11 transactions; DESIGN.md "Who uses forlop": the EHR's discharge Bundle and the municipal
pull of the care plan).

For every pathway: the discharge transaction Bundle, then the PSFS series as the
``expected/psfs.bundle.json`` transaction (with its PSFS responses) after the PaTH checklist
responses it points at. Every written resource is read back through the transaction-response
locations and equals what was pushed, except for id, version and time, and the references the
server rewrote (``urn:uuid`` fullUrls and conditional references, resolved to ``Type/id``).
Pushing again creates nothing new and no new versions. Last, the municipality's query
``CarePlan?patient=...&_include=CarePlan:goal`` answers the plan with its Goals, in JSON and XML.

Resources the PSFS Bundle names by a literal id that no fixture Bundle creates (the people and
encounters of the pathway) are stored first as small stand-ins without identifiers, so they never
match the discharge Bundle's conditional creates.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from adapter.fhir.json_codec import dump_json, parse_json
from adapter.fhir.xml_codec import parse_xml
from tests.fixtures_support import Pathway, load, pathways

FHIR_JSON = {"content-type": "application/fhir+json"}
PATHWAYS = pathways()
# --- helpers -----------------------------------------------------------------------------------


def body(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    parsed: dict[str, Any] = parse_json(response.content)
    return parsed


def references(node: Any) -> list[dict[str, Any]]:
    """Every Reference object (by identity, so they can be rewritten) in a resource."""
    if isinstance(node, dict):
        own = [node] if isinstance(node.get("reference"), str) else []
        return own + [r for value in node.values() for r in references(value)]
    if isinstance(node, list):
        return [r for value in node for r in references(value)]
    return []


def search_ids(client: TestClient, query: str) -> list[str]:
    page = body(client.get(f"/fhir/{query}"))
    return [e["resource"]["id"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]


def identifier_query(resource: dict[str, Any]) -> str:
    raw = resource["identifier"]
    first = raw if isinstance(raw, dict) else raw[0]
    return f"{resource['resourceType']}?identifier={quote(first['system'] + '|' + first['value'])}"


def resolve(client: TestClient, conditional: str) -> str:
    rtype, _, criteria = conditional.partition("?")
    name, _, value = criteria.partition("=")
    ids = search_ids(client, f"{rtype}?{name}={quote(value)}")
    assert len(ids) == 1, (conditional, ids)
    return f"{rtype}/{ids[0]}"


def as_stored(client: TestClient, resource: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """What the server should hold for a pushed resource: its references resolved."""
    expected = copy.deepcopy(resource)
    for ref in references(expected):
        literal = ref["reference"]
        if literal in ids:
            ref["reference"] = ids[literal]
        elif "?" in literal:
            ref["reference"] = resolve(client, literal)
    expected.pop("id", None)
    return expected


def without_server_fields(resource: dict[str, Any]) -> dict[str, Any]:
    plain = {k: v for k, v in resource.items() if k != "id"}
    meta = {k: v for k, v in plain.pop("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        plain["meta"] = meta
    return plain


def push(client: TestClient, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/fhir", content=dump_json(bundle), headers=FHIR_JSON)
    answer = body(response)
    assert answer["type"] == "transaction-response"
    assert len(answer["entry"]) == len(bundle["entry"])
    responses = [e["response"] for e in answer["entry"]]
    for sent, got in zip(bundle["entry"], responses, strict=True):
        assert got["status"] in ("200 OK", "201 Created"), (sent["request"], got)
        assert got["etag"].startswith('W/"')
        assert got["location"].startswith(sent["resource"]["resourceType"] + "/")
    return responses


def check_intact(
    client: TestClient, bundle: dict[str, Any], responses: list[dict[str, Any]]
) -> None:
    """Every entry, read at its location, is the pushed resource with references resolved."""
    ids = {
        e["fullUrl"]: r["location"].split("/_history")[0]
        for e, r in zip(bundle["entry"], responses, strict=True)
        if "fullUrl" in e
    }
    for entry, response in zip(bundle["entry"], responses, strict=True):
        read = client.get(f"/fhir/{response['location']}")
        stored = body(read)
        assert read.headers["etag"] == response["etag"]
        expected = as_stored(client, entry["resource"], ids)
        assert without_server_fields(stored) == expected, entry["request"]
        assert body(client.get(f"/fhir/{response['location'].split('/_history')[0]}")) == stored


def stand_in(rtype: str, rid: str, patient: str) -> dict[str, Any]:
    """The least a resource of the type needs to be base-valid; no identifiers."""
    content: dict[str, Any] = {
        "Patient": {"name": [{"family": "Stand-in"}]},
        "Practitioner": {"name": [{"family": "Stand-in"}]},
        "RelatedPerson": {"patient": {"reference": patient}},
        "Organization": {"name": "Stand-in"},
        "CareTeam": {"status": "active"},
        "CarePlan": {"status": "active", "intent": "plan", "subject": {"reference": patient}},
        "Encounter": {
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        },
    }[rtype]
    return {"resourceType": rtype, "id": rid, **content}


def ensure_stand_ins(client: TestClient, resources: list[dict[str, Any]]) -> None:
    """Store a stand-in for every literal ``Type/id`` reference that names nothing yet."""
    literals = sorted(
        {
            ref["reference"]
            for resource in resources
            for ref in references(resource)
            if ":" not in ref["reference"]
            and "?" not in ref["reference"]
            and ref["reference"].count("/") == 1
        },
        key=lambda literal: not literal.startswith("Patient/"),
    )
    patient = next(literal for literal in literals if literal.startswith("Patient/"))
    for literal in literals:
        if client.get(f"/fhir/{literal}").status_code == 404:
            rtype, rid = literal.split("/")
            put = client.put(
                f"/fhir/{literal}",
                content=dump_json(stand_in(rtype, rid, patient)),
                headers=FHIR_JSON,
            )
            assert put.status_code == 201, put.text


def put_psfs_response(client: TestClient, response: dict[str, Any]) -> None:
    """A PSFS response as the system that filled it in sends it: PUT with its own id (the
    checklist responses refer to it by that id), read back intact."""
    rid = response["identifier"]["value"]
    url = f"/fhir/QuestionnaireResponse/{rid}"
    put = client.put(url, content=dump_json({**response, "id": rid}), headers=FHIR_JSON)
    assert put.status_code in (200, 201), put.text
    assert without_server_fields(body(client.get(url))) == response


def put_checklists(client: TestClient, pathway: Pathway, bundle: dict[str, Any]) -> None:
    """PUT (conditionally) the PaTH responses the Bundle points at that are not stored yet."""
    wanted = {
        ref["reference"].partition("?identifier=")[2]
        for e in bundle["entry"]
        for ref in references(e["resource"])
        if ref["reference"].startswith("QuestionnaireResponse?identifier=")
    }
    for path in sorted((pathway.expected / "checklists").glob("*.response.json")):
        response = load(path)
        identifier = response["identifier"]
        query = identifier_query(response)
        if f"{identifier['system']}|{identifier['value']}" not in wanted or search_ids(
            client, query
        ):
            continue
        ensure_stand_ins(client, [response])
        put = client.put(f"/fhir/{query}", content=dump_json(response), headers=FHIR_JSON)
        assert put.status_code == 201, put.text
        assert without_server_fields(parse_json(put.content)) == response


# --- the round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("pathway", PATHWAYS, ids=lambda p: p.slug)
def test_fixtures_pushed_and_pulled_back_intact(client: TestClient, pathway: Pathway) -> None:
    discharge = load(pathway.discharge_bundle)
    first = push(client, discharge)
    check_intact(client, discharge, first)
    again = push(client, discharge)
    assert [r["status"] for r in again] == ["200 OK"] * len(again)
    assert [r["etag"] for r in again] == [r["etag"] for r in first], "no new versions"
    assert [r["location"] for r in again] == [r["location"] for r in first]
    for entry in discharge["entry"]:
        assert len(search_ids(client, identifier_query(entry["resource"]))) == 1

    series = load(pathway.expected / "psfs.bundle.json")
    ensure_stand_ins(client, [e["resource"] for e in series["entry"]])
    for path in (pathway.baseline_response, pathway.reassessment_response):
        put_psfs_response(client, load(path))
    put_checklists(client, pathway, series)
    pushed = push(client, series)
    check_intact(client, series, pushed)
    responses = [
        e["resource"]
        for e in series["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]
    assert responses == [load(pathway.baseline_response), load(pathway.reassessment_response)]
    again = push(client, series)
    assert [r["status"] for r in again] == ["200 OK"] * len(again)
    assert [r["etag"] for r in again] == [r["etag"] for r in pushed]
    for entry in series["entry"]:
        if "identifier" in entry["resource"]:
            assert len(search_ids(client, identifier_query(entry["resource"]))) == 1

    plan = next(
        e["resource"] for e in series["entry"] if e["resource"]["resourceType"] == "CarePlan"
    )
    plan_location = next(
        r["location"] for r, e in zip(pushed, series["entry"], strict=True) if e["resource"] is plan
    )
    plan_id = plan_location.split("/")[1]
    goal_ids = {
        r["location"].split("/")[1]
        for r, e in zip(pushed, series["entry"], strict=True)
        if e["fullUrl"] in {g["reference"] for g in plan["goal"]}
    }
    query = f"/fhir/CarePlan?patient={plan['subject']['reference']}&_include=CarePlan:goal"
    as_json = client.get(query)
    pulled = body(as_json)
    matched = [e["resource"]["id"] for e in pulled["entry"] if e["search"]["mode"] == "match"]
    included = {e["resource"]["id"] for e in pulled["entry"] if e["search"]["mode"] == "include"}
    assert plan_id in matched
    assert goal_ids <= included
    assert all(
        e["resource"]["resourceType"] == "Goal"
        for e in pulled["entry"]
        if e["search"]["mode"] == "include"
    )

    as_xml = client.get(query + "&_format=xml")
    assert as_xml.status_code == 200
    assert as_xml.headers["content-type"].startswith("application/fhir+xml")
    from_xml = parse_xml(as_xml.content)
    assert from_xml["entry"] == pulled["entry"]
