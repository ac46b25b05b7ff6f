"""Every error is an OperationOutcome with the right status, and bad input changes nothing
(FHIR R4 §3.1.0.1.11 error responses; DESIGN.md "Errors"): 400, 404, 405, 409, 410, 412, 413,
415 and 422, the configured limits on body size, JSON/XML depth and Bundle entries, and
properties: no input makes a 500 or leaves half a write behind.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.app import create_app
from adapter.config import Settings
from adapter.fhir.json_codec import parse_json
from adapter.security.settings import AuthSettings
from adapter.store.sql import SqlRepository

FHIR_JSON = {"content-type": "application/fhir+json"}
FHIR_XML = {"content-type": "application/fhir+xml"}
SID = "http://forlop.no/fhir/sid/rest-test"
ISSUE_SYSTEM = "http://forlop.no/fhir/CodeSystem/issue"
LIMITS = Settings(max_body_bytes=4000, max_json_depth=10, max_bundle_entries=3)


# --- helpers -----------------------------------------------------------------------------------


def fresh() -> str:
    return str(uuid.uuid4())


def patient(value: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SID, "value": value}],
        "name": [{"family": "Feilsen"}],
    }


def assert_outcome(response: Response, status: int, forlop_code: str | None = None) -> list[Any]:
    """``status`` with an OperationOutcome whose every issue is complete."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = parse_json(response.content)
    assert outcome["resourceType"] == "OperationOutcome"
    issues: list[Any] = outcome["issue"]
    assert issues
    for issue in issues:
        assert issue["severity"] in ("fatal", "error")
        assert issue["code"]
        assert issue["diagnostics"]
        assert issue["details"]["coding"][0]["system"] == ISSUE_SYSTEM
    if forlop_code is not None:
        codes = [i["details"]["coding"][0]["code"] for i in issues]
        assert forlop_code in codes, codes
    return issues


def expressions(issues: list[Any]) -> list[str]:
    return [e for issue in issues for e in issue.get("expression", [])]


def stored(client: TestClient, rtype: str, value: str) -> list[Any]:
    response = client.get(f"/fhir/{rtype}", params={"identifier": f"{SID}|{value}"})
    assert response.status_code == 200
    return [
        e for e in parse_json(response.content).get("entry", []) if e["search"]["mode"] == "match"
    ]


def create_patient(client: TestClient) -> dict[str, Any]:
    response = client.post("/fhir/Patient", json=patient(fresh()), headers=FHIR_JSON)
    assert response.status_code == 201
    created: dict[str, Any] = parse_json(response.content)
    return created


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post_entry(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        out["fullUrl"] = full_url
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """An app with small limits: 4000-byte bodies, JSON/XML 10 deep, 3 Bundle entries."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("limits") / "forlop.db"
        repository = SqlRepository.from_url(f"sqlite:///{path}")
    else:
        repository = request.getfixturevalue("postgres_repository")
    dev = AuthSettings(insecure_dev=True)
    with TestClient(create_app(LIMITS, repository=repository, auth=dev)) as client:
        yield client
    if request.param == "sqlite":
        repository.close()


# --- 400 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"resourceType": "Patient", "name": [', "FORLOP-WIRE-001"),
        (b'{"resourceType": "Patient", "gender": "male", "gender": "female"}', "FORLOP-WIRE-002"),
        (b'["Patient"]', "FORLOP-WIRE-004"),
        (b"", "FORLOP-STRUCT-005"),
    ],
)
def test_malformed_json_is_400(client: TestClient, content: bytes, code: str) -> None:
    assert_outcome(client.post("/fhir/Patient", content=content, headers=FHIR_JSON), 400, code)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (
            b'<Patient xmlns="http://hl7.org/fhir"><name><family value="x"/></name>',
            "FORLOP-WIRE-005",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&x;"/></name></Patient>',
            "FORLOP-WIRE-006",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;">]>'
            b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&b;"/></name></Patient>',
            "FORLOP-WIRE-006",
        ),
        (b'<Patient><name><family value="x"/></name></Patient>', "FORLOP-WIRE-010"),
    ],
    ids=["unclosed", "xxe", "entity-expansion", "no-namespace"],
)
def test_malformed_or_hostile_xml_is_400(client: TestClient, content: bytes, code: str) -> None:
    assert_outcome(client.post("/fhir/Patient", content=content, headers=FHIR_XML), 400, code)


def test_wrong_resource_type_for_the_url_is_400(client: TestClient) -> None:
    value = fresh()
    goal_body = {**patient(value), "resourceType": "Goal"}
    issues = assert_outcome(client.post("/fhir/Patient", json=goal_body, headers=FHIR_JSON), 400)
    assert expressions(issues) == ["Goal.resourceType"]
    target = create_patient(client)["id"]
    as_goal = {**patient(value), "resourceType": "Goal", "id": target}
    assert_outcome(client.put(f"/fhir/Patient/{target}", json=as_goal, headers=FHIR_JSON), 400)
    unknown = {"resourceType": "Pasient", "id": "x"}
    assert_outcome(client.post("/fhir/Patient", json=unknown, headers=FHIR_JSON), 400)
    assert stored(client, "Patient", value) == []


def test_body_id_other_than_url_id_is_400(client: TestClient) -> None:
    target = create_patient(client)
    other = {**target, "id": f"other-{fresh()}", "gender": "male"}
    issues = assert_outcome(
        client.put(f"/fhir/Patient/{target['id']}", json=other, headers=FHIR_JSON), 400
    )
    assert expressions(issues) == ["Patient.id"]
    missing = {k: v for k, v in target.items() if k != "id"}
    issues = assert_outcome(
        client.put(f"/fhir/Patient/{target['id']}", json=missing, headers=FHIR_JSON), 400
    )
    assert expressions(issues) == ["Patient.id"]
    assert client.get(f"/fhir/Patient/{target['id']}").headers["etag"] == 'W/"1"'
    assert_outcome(client.get(f"/fhir/Patient/{other['id']}"), 404)


def test_duplicate_full_urls_are_400(client: TestClient) -> None:
    urn, first, second = f"urn:uuid:{fresh()}", fresh(), fresh()
    bundle = transaction(post_entry(patient(first), urn), post_entry(patient(second), urn))
    issues = assert_outcome(client.post("/fhir", json=bundle, headers=FHIR_JSON), 400)
    assert expressions(issues) == ["Bundle.entry[1].fullUrl"]
    assert stored(client, "Patient", first) == stored(client, "Patient", second) == []


def test_references_to_nothing_are_400(client: TestClient) -> None:
    value = fresh()
    goal = {
        "resourceType": "Goal",
        "identifier": [{"system": SID, "value": value}],
        "lifecycleStatus": "active",
        "description": {"text": "Gå tur"},
        "subject": {"reference": f"urn:uuid:{fresh()}"},
    }
    issues = assert_outcome(client.post("/fhir/Goal", json=goal, headers=FHIR_JSON), 400)
    assert expressions(issues) == ["Goal.subject.reference"]
    in_bundle = transaction(post_entry(patient(value), f"urn:uuid:{fresh()}"), post_entry(goal))
    issues = assert_outcome(client.post("/fhir", json=in_bundle, headers=FHIR_JSON), 400)
    assert all(e.startswith("Bundle.entry[1]") for e in expressions(issues))
    missing = {**goal, "subject": {"reference": f"Patient/{fresh()}"}}
    issues = assert_outcome(client.post("/fhir/Goal", json=missing, headers=FHIR_JSON), 400)
    assert expressions(issues) == ["Goal.subject.reference"]
    deleted = create_patient(client)["id"]
    assert client.delete(f"/fhir/Patient/{deleted}").status_code == 204
    gone_ref = {**goal, "subject": {"reference": f"Patient/{deleted}"}}
    assert_outcome(client.post("/fhir/Goal", json=gone_ref, headers=FHIR_JSON), 400)
    in_bundle = transaction(post_entry(patient(value)), post_entry(missing))
    issues = assert_outcome(client.post("/fhir", json=in_bundle, headers=FHIR_JSON), 400)
    assert expressions(issues) == ["Bundle.entry[1].resource.subject.reference"]
    assert stored(client, "Goal", value) == stored(client, "Patient", value) == []


@pytest.mark.parametrize(
    ("change", "expression", "code"),
    [
        ({"colour": "blå"}, "Patient.colour", "FORLOP-STRUCT-002"),
        ({"birthDate": "1938-13-45"}, "Patient.birthDate", "FORLOP-STRUCT-005"),
        ({"active": "yes"}, "Patient.active", "FORLOP-STRUCT-003"),
        ({"name": {"family": "x"}}, "Patient.name", "FORLOP-STRUCT-008"),
    ],
    ids=["unknown-element", "invalid-date", "wrong-json-type", "not-a-list"],
)
def test_invalid_elements_are_400_with_their_expression(
    client: TestClient, change: dict[str, Any], expression: str, code: str
) -> None:
    value = fresh()
    response = client.post("/fhir/Patient", json={**patient(value), **change}, headers=FHIR_JSON)
    issues = assert_outcome(response, 400, code)
    assert expression in expressions(issues)
    assert stored(client, "Patient", value) == []


def test_bundle_shape_errors_are_400(client: TestClient) -> None:
    value = fresh()
    for bundle in (
        {"resourceType": "Bundle", "type": "transaction", "entry": {"request": {}}},
        transaction({"resource": patient(value)}),
        transaction({"resource": patient(value), "request": {"method": "FETCH", "url": "Patient"}}),
        transaction(
            {
                "resource": patient(value),
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": 3},
            }
        ),
        transaction({"request": {"method": "PUT", "url": "Patient/x"}}),
        {"resourceType": "Bundle", "type": "collection", "entry": []},
        patient(value),
    ):
        assert_outcome(client.post("/fhir", json=bundle, headers=FHIR_JSON), 400)
    assert stored(client, "Patient", value) == []


# --- 404, 405, 409, 410, 412, 415, 422 ---------------------------------------------------------


def test_unknown_id_type_and_route_are_404(client: TestClient) -> None:
    assert_outcome(client.get(f"/fhir/Patient/{fresh()}"), 404, "FORLOP-REST-001")
    assert_outcome(client.get(f"/fhir/Patient/{fresh()}/_history/1"), 404)
    assert_outcome(client.get(f"/fhir/Patient/{fresh()}/_history/x"), 404)
    for response in (
        client.get(f"/fhir/Pasient/{fresh()}"),
        client.get("/fhir/Pasient"),
        client.post("/fhir/Pasient", json={"resourceType": "Pasient"}, headers=FHIR_JSON),
        client.put(
            "/fhir/Pasient/x", json={"resourceType": "Pasient", "id": "x"}, headers=FHIR_JSON
        ),
        client.delete("/fhir/Pasient/x"),
        client.get("/fhir/Pasient/_history"),
        client.get(f"/fhir/Pasient/{fresh()}/_history/1"),
        client.post("/fhir/Pasient/$validate", json={"resourceType": "Patient"}, headers=FHIR_JSON),
        client.get("/fhir/Patient/x/_history/1/extra"),
        client.get("/elsewhere"),
        client.post("/fhir/Goal/$everything", json={"resourceType": "Goal"}, headers=FHIR_JSON),
        client.get("/fhir/Patient/$nothing"),
    ):
        assert_outcome(response, 404, "FORLOP-REST-001")


def test_methods_a_route_does_not_take_are_405(client: TestClient) -> None:
    target = create_patient(client)["id"]
    for response in (
        client.delete("/fhir/metadata"),
        client.post("/fhir/metadata", json={"resourceType": "Patient"}, headers=FHIR_JSON),
        client.post(f"/fhir/Patient/{target}", json=patient(fresh()), headers=FHIR_JSON),
        client.delete("/fhir/Patient"),
        client.put(f"/fhir/Patient/{target}/_history/1", json=patient(fresh()), headers=FHIR_JSON),
        client.get(f"/fhir/QuestionnaireResponse/{fresh()}/$extract"),
        client.delete("/fhir/CodeSystem/psfs"),
        client.put(
            "/fhir/Questionnaire/psfs",
            json={"resourceType": "Questionnaire", "id": "psfs", "status": "draft"},
            headers=FHIR_JSON,
        ),
    ):
        assert_outcome(response, 405, "FORLOP-REST-005")
    assert client.get(f"/fhir/Patient/{target}").headers["etag"] == 'W/"1"'


def test_overlapping_writes_in_a_transaction_are_409(client: TestClient) -> None:
    target = create_patient(client)
    bundle = transaction(
        {"request": {"method": "DELETE", "url": f"Patient/{target['id']}"}},
        {
            "resource": {**target, "gender": "male"},
            "request": {"method": "PUT", "url": f"Patient/{target['id']}"},
        },
    )
    issues = assert_outcome(
        client.post("/fhir", json=bundle, headers=FHIR_JSON), 409, "FORLOP-REST-003"
    )
    assert expressions(issues) == ["Bundle.entry[1].request"]
    assert client.get(f"/fhir/Patient/{target['id']}").status_code == 200


def test_deleted_is_410_and_stale_versions_412(client: TestClient) -> None:
    target = create_patient(client)
    url = f"/fhir/Patient/{target['id']}"
    assert_outcome(
        client.put(url, json=target, headers={**FHIR_JSON, "If-Match": 'W/"2"'}),
        412,
        "FORLOP-REST-004",
    )
    assert client.delete(url).status_code == 204
    assert_outcome(client.get(url), 410, "FORLOP-REST-002")
    assert_outcome(client.get(f"{url}/_history/2"), 410)
    patch = [{"op": "add", "path": "/gender", "value": "male"}]
    assert_outcome(
        client.patch(url, json=patch, headers={"content-type": "application/json-patch+json"}), 410
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_unsupported_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    value = fresh()
    headers = {"content-type": content_type} if content_type else {}
    content = json.dumps(patient(value)).encode()
    assert_outcome(
        client.post("/fhir/Patient", content=content, headers=headers), 415, "FORLOP-REST-006"
    )
    assert_outcome(client.post("/fhir", content=content, headers=headers), 415)
    assert stored(client, "Patient", value) == []


def test_rule_violations_are_422(client: TestClient) -> None:
    value = fresh()
    bad_code = {**patient(value), "gender": "kvinne"}
    issues = assert_outcome(
        client.post("/fhir/Patient", json=bad_code, headers=FHIR_JSON), 422, "FORLOP-TERM-001"
    )
    assert expressions(issues) == ["Patient.gender"]
    bad_fnr = {
        **patient(value),
        "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "14833641222"}],
    }
    issues = assert_outcome(client.post("/fhir/Patient", json=bad_fnr, headers=FHIR_JSON), 422)
    assert any(e.startswith("Patient.identifier[0]") for e in expressions(issues))
    assert stored(client, "Patient", value) == []


# --- limits ------------------------------------------------------------------------------------


def test_body_over_the_limit_is_413(limited: TestClient) -> None:
    value = fresh()
    big = {**patient(value), "name": [{"family": "x" * 5000}]}
    assert_outcome(
        limited.post("/fhir/Patient", json=big, headers=FHIR_JSON), 413, "FORLOP-WIRE-008"
    )
    chunks = iter([json.dumps(big).encode()[i : i + 1000] for i in range(0, 6000, 1000)])
    assert_outcome(limited.post("/fhir/Patient", content=chunks, headers=FHIR_JSON), 413)
    bundle = transaction(post_entry(big))
    assert_outcome(limited.post("/fhir", json=bundle, headers=FHIR_JSON), 413)
    assert stored(limited, "Patient", value) == []
    small = limited.post("/fhir/Patient", json=patient(value), headers=FHIR_JSON)
    assert small.status_code == 201


def test_bundle_over_the_entry_limit_is_413(limited: TestClient) -> None:
    values = [fresh() for _ in range(4)]
    bundle = transaction(*(post_entry(patient(v)) for v in values))
    assert_outcome(limited.post("/fhir", json=bundle, headers=FHIR_JSON), 413, "FORLOP-WIRE-008")
    bundle["type"] = "batch"
    assert_outcome(limited.post("/fhir", json=bundle, headers=FHIR_JSON), 413)
    assert all(stored(limited, "Patient", v) == [] for v in values)
    bundle["entry"] = bundle["entry"][:3]
    assert limited.post("/fhir", json=bundle, headers=FHIR_JSON).status_code == 200


def test_nesting_over_the_depth_limit_is_400(limited: TestClient) -> None:
    value = fresh()
    nested: dict[str, Any] = {
        "url": "http://forlop.no/fhir/StructureDefinition/x",
        "valueString": "x",
    }
    for _ in range(8):
        nested = {"url": "http://forlop.no/fhir/StructureDefinition/x", "extension": [nested]}
    deep = {**patient(value), "extension": [nested]}
    assert_outcome(
        limited.post("/fhir/Patient", json=deep, headers=FHIR_JSON), 400, "FORLOP-WIRE-003"
    )
    xml = '<Patient xmlns="http://hl7.org/fhir">' + '<extension url="u">' * 12
    xml += "</extension>" * 12 + "</Patient>"
    assert_outcome(
        limited.post("/fhir/Patient", content=xml.encode(), headers=FHIR_XML),
        400,
        "FORLOP-WIRE-007",
    )
    assert stored(limited, "Patient", value) == []


# --- properties --------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
_keys = st.sampled_from(
    [
        "resourceType",
        "id",
        "identifier",
        "name",
        "gender",
        "birthDate",
        "active",
        "meta",
        "extension",
        "contained",
        "text",
        "link",
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.dictionaries(_keys, _json_values, max_size=3),
    method=st.sampled_from(["POST", "PUT"]),
)
def test_no_body_makes_a_500_or_half_a_write(
    client: TestClient, changes: dict[str, Any], method: str
) -> None:
    rid = f"fuzz-{fresh()}"
    resource = {**patient(fresh()), "id": rid, **changes}
    url = "/fhir/Patient" if method == "POST" else f"/fhir/Patient/{rid}"
    single = client.request(method, url, json=resource, headers=FHIR_JSON)
    assert single.status_code < 500, single.text
    if single.status_code >= 400:
        assert_outcome(single, single.status_code)

    first = fresh()
    entry_url = "Patient" if method == "POST" else f"Patient/{rid}"
    bundle = transaction(
        post_entry(patient(first)),
        {"resource": resource, "request": {"method": method, "url": entry_url}},
    )
    whole = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert whole.status_code < 500, whole.text
    if whole.status_code >= 400:
        assert_outcome(whole, whole.status_code)
        assert stored(client, "Patient", first) == []
    else:
        assert len(stored(client, "Patient", first)) == 1


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_no_bytes_make_a_500(client: TestClient, raw: bytes) -> None:
    for headers in (FHIR_JSON, FHIR_XML):
        response = client.post("/fhir/Patient", content=raw, headers=headers)
        assert 400 <= response.status_code < 500, response.text
        assert_outcome(response, response.status_code)
