"""Every FHIR interaction through the real app, on SQLite and on PostgreSQL (FHIR R4 §3.1.0).

Create, read, vread, update (also create-on-update), JSON Patch, delete, their conditional forms,
history, the version headers (ETag, Last-Modified, Location, If-Match, Prefer), the conformance
resources served read-only, validation of every write against base R4 and the profiles it claims,
``/metadata``, and batch and transaction Bundles. The store is shared by the whole session: every
test makes its own resources, identified by fresh identifiers.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
import uuid
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from random import Random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from adapter.domain.identifiers import synthetic_fnr
from adapter.fhir.json_codec import parse_json
from tests.fixtures_support import load, pathways

FHIR_JSON = {"content-type": "application/fhir+json"}
JSON_PATCH = {"content-type": "application/json-patch+json"}
SID = "http://forlop.no/fhir/sid/rest-test"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
FORLOP_PATIENT = "http://forlop.no/fhir/StructureDefinition/forlop-patient"
MARK = "http://forlop.no/fhir/StructureDefinition/rest-test-mark"
WRITABLE = (
    "Patient", "Encounter", "EpisodeOfCare", "Goal", "CarePlan", "CareTeam", "Observation",
    "QuestionnaireResponse", "Organization", "Practitioner", "PractitionerRole", "RelatedPerson",
    "Provenance",
)  # fmt: skip
CONFORMANCE = (
    ("StructureDefinition", "psfs-goal"),
    ("Questionnaire", "psfs"),
    ("CodeSystem", "psfs"),
    ("ValueSet", "psfs-direction"),
)
_random = Random()


# --- helpers -----------------------------------------------------------------------------------


def fresh() -> str:
    return str(uuid.uuid4())


def ident(value: str) -> list[dict[str, str]]:
    return [{"system": SID, "value": value}]


def body(response: Response) -> dict[str, Any]:
    parsed: dict[str, Any] = parse_json(response.content)
    return parsed


def assert_outcome(response: Response, status: int) -> list[dict[str, Any]]:
    """The response is an OperationOutcome with ``status``; every issue is complete."""
    assert response.status_code == status, response.text
    outcome = body(response)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"]
    for issue in outcome["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information")
        assert issue["code"]
        assert issue["diagnostics"]
    issues: list[dict[str, Any]] = outcome["issue"]
    return issues


def expressions(issues: list[dict[str, Any]]) -> list[str]:
    return [e for issue in issues for e in issue.get("expression", [])]


def patient(value: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": ident(value or fresh()),
        "name": [{"family": "Testesen", "given": ["Rest"]}],
    }


def create(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return body(response)


def new_patient(client: TestClient) -> str:
    return str(create(client, patient())["id"])


def search(client: TestClient, query: str) -> list[dict[str, Any]]:
    response = client.get(f"/fhir/{query}")
    assert response.status_code == 200, response.text
    return [
        e["resource"] for e in body(response).get("entry", []) if e["search"]["mode"] == "match"
    ]


def resource_of(rtype: str, patient_id: str, value: str) -> dict[str, Any]:
    """A small base-valid resource of each served type, about the patient."""
    subject = {"reference": f"Patient/{patient_id}"}
    mark = [{"url": MARK, "valueString": "v1"}]
    made: dict[str, dict[str, Any]] = {
        "Patient": patient(value),
        "Encounter": {
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
            },
            "subject": subject,
        },
        "EpisodeOfCare": {"status": "active", "patient": subject},
        "Goal": {
            "lifecycleStatus": "active",
            "description": {"text": "Gå i trapper"},
            "subject": subject,
        },
        "CarePlan": {"status": "active", "intent": "plan", "subject": subject},
        "CareTeam": {"status": "active", "subject": subject},
        "Observation": {"status": "final", "code": {"text": "Gangtest"}, "subject": subject},
        "QuestionnaireResponse": {"status": "completed", "subject": subject},
        "Organization": {"name": "Testkommune hjemmetjeneste"},
        "Practitioner": {"name": [{"family": "Lege"}]},
        "PractitionerRole": {"active": True},
        "RelatedPerson": {"patient": subject, "name": [{"family": "Datter"}]},
        "Provenance": {
            "target": [subject],
            "recorded": "2026-01-12T10:00:00+01:00",
            "agent": [{"who": subject}],
        },
    }
    resource: dict[str, Any] = {"resourceType": rtype, **made[rtype], "extension": mark}
    if rtype == "QuestionnaireResponse":
        resource["identifier"] = ident(value)[0]
    elif rtype != "Provenance":  # Provenance has no identifier
        resource["identifier"] = ident(value)
    return resource


def new_fnr() -> str:
    born = date(_random.randint(1925, 1945), _random.randint(1, 12), _random.randint(1, 28))
    return synthetic_fnr(born, _random.randint(0, 999))


# --- create, read, vread, update, patch, delete, history ---------------------------------------


@pytest.mark.parametrize("rtype", WRITABLE)
def test_every_interaction_on_every_served_type(client: TestClient, rtype: str) -> None:
    pid = new_patient(client)
    resource = resource_of(rtype, pid, fresh())

    created = client.post(f"/fhir/{rtype}", json=resource, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    first = body(created)
    rid = first["id"]
    assert first["meta"]["versionId"] == "1"
    assert created.headers["location"] == f"http://testserver/fhir/{rtype}/{rid}/_history/1"

    read = client.get(f"/fhir/{rtype}/{rid}")
    assert read.status_code == 200
    assert body(read) == first

    changed = copy.deepcopy(first)
    changed["extension"][0]["valueString"] = "v2"
    updated = client.put(f"/fhir/{rtype}/{rid}", json=changed, headers=FHIR_JSON)
    assert updated.status_code == 200, updated.text
    assert body(updated)["meta"]["versionId"] == "2"
    assert updated.headers["etag"] == 'W/"2"'

    patch = [{"op": "replace", "path": "/extension/0/valueString", "value": "v3"}]
    patched = client.patch(f"/fhir/{rtype}/{rid}", json=patch, headers=JSON_PATCH)
    assert patched.status_code == 200, patched.text
    assert body(patched)["extension"][0]["valueString"] == "v3"
    assert body(patched)["meta"]["versionId"] == "3"

    assert (
        body(client.get(f"/fhir/{rtype}/{rid}/_history/1"))["extension"][0]["valueString"] == "v1"
    )
    assert (
        body(client.get(f"/fhir/{rtype}/{rid}/_history/2"))["extension"][0]["valueString"] == "v2"
    )

    deleted = client.delete(f"/fhir/{rtype}/{rid}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_outcome(client.get(f"/fhir/{rtype}/{rid}"), 410)
    old = client.get(f"/fhir/{rtype}/{rid}/_history/3")
    assert old.status_code == 200
    assert body(old)["extension"][0]["valueString"] == "v3"
    assert_outcome(client.get(f"/fhir/{rtype}/{rid}/_history/4"), 410)
    assert_outcome(client.get(f"/fhir/{rtype}/{rid}/_history/5"), 404)

    history = body(client.get(f"/fhir/{rtype}/{rid}/_history"))
    assert history["type"] == "history"
    assert [e["response"]["etag"] for e in history["entry"]] == [f'W/"{n}"' for n in (4, 3, 2, 1)]
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "PUT", "POST"]
    assert "resource" not in history["entry"][0]


@pytest.mark.parametrize("rtype", ["Patient", "Goal"])
def test_update_with_a_client_id_creates(client: TestClient, rtype: str) -> None:
    rid = f"rest-{fresh()}"
    resource = {**resource_of(rtype, new_patient(client), fresh()), "id": rid}
    response = client.put(f"/fhir/{rtype}/{rid}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"http://testserver/fhir/{rtype}/{rid}/_history/1"
    assert body(client.get(f"/fhir/{rtype}/{rid}"))["id"] == rid
    again = client.put(f"/fhir/{rtype}/{rid}", json=resource, headers=FHIR_JSON)
    assert again.status_code == 200
    assert again.headers["etag"] == 'W/"1"', "an update that changes nothing keeps the version"


def test_update_needs_the_body_id_of_the_url(client: TestClient) -> None:
    rid = new_patient(client)
    current = body(client.get(f"/fhir/Patient/{rid}"))
    other = {**current, "id": f"other-{fresh()}", "gender": "female"}
    issues = assert_outcome(client.put(f"/fhir/Patient/{rid}", json=other, headers=FHIR_JSON), 400)
    assert "Patient.id" in expressions(issues)
    assert_outcome(client.get(f"/fhir/Patient/{other['id']}"), 404)
    without = {k: v for k, v in current.items() if k != "id"}
    issues = assert_outcome(
        client.put(f"/fhir/Patient/{rid}", json=without, headers=FHIR_JSON), 400
    )
    assert "Patient.id" in expressions(issues)
    assert body(client.get(f"/fhir/Patient/{rid}"))["meta"]["versionId"] == "1"


def test_create_ignores_a_client_id(client: TestClient) -> None:
    chosen = f"chosen-{fresh()}"
    created = create(client, {**patient(), "id": chosen})
    assert created["id"] != chosen
    assert_outcome(client.get(f"/fhir/Patient/{chosen}"), 404)


def test_type_history_since(client: TestClient) -> None:
    before = create(client, patient())
    time.sleep(0.01)
    after = create(client, patient())
    since = after["meta"]["lastUpdated"]
    history = client.get("/fhir/Patient/_history", params={"_since": since})
    assert history.status_code == 200
    ids = {e["resource"]["id"] for e in body(history)["entry"] if "resource" in e}
    assert after["id"] in ids
    assert before["id"] not in ids
    instance = client.get(f"/fhir/Patient/{before['id']}/_history", params={"_since": since})
    assert body(instance).get("entry", []) == []
    assert_outcome(client.get("/fhir/Patient/_history", params={"_since": "yesterday"}), 400)


def test_patch_refuses_what_would_break_the_resource(client: TestClient) -> None:
    rid = new_patient(client)
    url = f"/fhir/Patient/{rid}"
    bad_value = [{"op": "add", "path": "/gender", "value": "vet ikke"}]
    issues = assert_outcome(client.patch(url, json=bad_value, headers=JSON_PATCH), 422)
    assert "Patient.gender" in expressions(issues)
    unknown = [{"op": "add", "path": "/colour", "value": "blue"}]
    assert "Patient.colour" in expressions(
        assert_outcome(client.patch(url, json=unknown, headers=JSON_PATCH), 400)
    )
    missing = [{"op": "remove", "path": "/birthDate"}]
    assert_outcome(client.patch(url, json=missing, headers=JSON_PATCH), 422)
    new_id = [{"op": "replace", "path": "/id", "value": "someone-else"}]
    assert_outcome(client.patch(url, json=new_id, headers=JSON_PATCH), 400)
    not_a_list = {"op": "remove", "path": "/name"}
    assert_outcome(client.patch(url, json=not_a_list, headers=JSON_PATCH), 400)
    as_fhir = [{"op": "remove", "path": "/name"}]
    assert_outcome(client.patch(url, json=as_fhir, headers=FHIR_JSON), 415)
    assert body(client.get(url))["meta"]["versionId"] == "1"


# --- conditional create, update, delete --------------------------------------------------------


def test_conditional_create(client: TestClient) -> None:
    value = fresh()
    criteria = {"If-None-Exist": f"identifier={SID}|{value}", **FHIR_JSON}
    first = client.post("/fhir/Patient", json=patient(value), headers=criteria)
    assert first.status_code == 201
    again = client.post("/fhir/Patient", json=patient(value), headers=criteria)
    assert again.status_code == 200
    assert body(again)["id"] == body(first)["id"]
    assert again.headers["etag"] == 'W/"1"', "an existing match is returned without a new version"
    assert len(search(client, f"Patient?identifier={SID}|{value}")) == 1
    create(client, patient(value))
    assert_outcome(client.post("/fhir/Patient", json=patient(value), headers=criteria), 412)
    assert len(search(client, f"Patient?identifier={SID}|{value}")) == 2


def test_conditional_update(client: TestClient) -> None:
    value = fresh()
    params = {"identifier": f"{SID}|{value}"}
    first = client.put("/fhir/Patient", params=params, json=patient(value), headers=FHIR_JSON)
    assert first.status_code == 201, first.text
    rid = body(first)["id"]
    changed = {**patient(value), "gender": "female"}
    second = client.put("/fhir/Patient", params=params, json=changed, headers=FHIR_JSON)
    assert second.status_code == 200
    assert body(second)["id"] == rid
    assert body(second)["meta"]["versionId"] == "2"
    assert body(client.get(f"/fhir/Patient/{rid}"))["gender"] == "female"
    create(client, patient(value))
    assert_outcome(client.put("/fhir/Patient", params=params, json=changed, headers=FHIR_JSON), 412)
    assert body(client.get(f"/fhir/Patient/{rid}"))["meta"]["versionId"] == "2"


def test_conditional_update_with_a_plus_in_the_identifier_finds_its_match(
    client: TestClient,
) -> None:
    value = f"+47 {fresh()}"
    params = {"identifier": f"{SID}|{value}"}
    assert (
        client.put(
            "/fhir/Patient", params=params, json=patient(value), headers=FHIR_JSON
        ).status_code
        == 201
    )
    assert (
        client.put(
            "/fhir/Patient", params=params, json=patient(value), headers=FHIR_JSON
        ).status_code
        == 200
    )
    assert len(search(client, f"Patient?identifier={SID}|{value.replace('+', '%2B')}")) == 1


def test_conditional_update_body_id_must_match_the_match(client: TestClient) -> None:
    value = fresh()
    create(client, patient(value))
    params = {"identifier": f"{SID}|{value}"}
    wrong = {**patient(value), "id": f"other-{fresh()}"}
    assert_outcome(client.put("/fhir/Patient", params=params, json=wrong, headers=FHIR_JSON), 400)


def test_conditional_delete(client: TestClient) -> None:
    value = fresh()
    query = f"identifier={SID}|{value}"
    rid = create(client, patient(value))["id"]
    assert client.delete(f"/fhir/Patient?{query}").status_code == 204
    assert_outcome(client.get(f"/fhir/Patient/{rid}"), 410)
    assert search(client, f"Patient?{query}") == []
    assert client.delete(f"/fhir/Patient?{query}").status_code == 204  # nothing left to delete
    create(client, patient(value))
    create(client, patient(value))
    assert_outcome(client.delete(f"/fhir/Patient?{query}"), 412)
    assert len(search(client, f"Patient?{query}")) == 2


# --- versioning and concurrency headers --------------------------------------------------------


def test_version_headers(client: TestClient) -> None:
    created = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON)
    resource = body(created)
    assert created.headers["etag"] == 'W/"1"'
    stamp = resource["meta"]["lastUpdated"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    modified = parsedate_to_datetime(created.headers["last-modified"])
    written = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert written.replace(microsecond=0) == modified, "Last-Modified is meta.lastUpdated"
    read = client.get(f"/fhir/Patient/{resource['id']}")
    assert read.headers["etag"] == 'W/"1"'
    assert read.headers["last-modified"] == created.headers["last-modified"]
    assert "location" not in read.headers


def test_if_match_guards_update_patch_and_delete(client: TestClient) -> None:
    rid = new_patient(client)
    url = f"/fhir/Patient/{rid}"
    current = body(client.get(url))
    stale = {"If-Match": 'W/"7"'}
    assert_outcome(client.put(url, json=current, headers={**FHIR_JSON, **stale}), 412)
    patch = [{"op": "add", "path": "/gender", "value": "male"}]
    assert_outcome(client.patch(url, json=patch, headers={**JSON_PATCH, **stale}), 412)
    assert_outcome(client.delete(url, headers=stale), 412)
    assert body(client.get(url))["meta"]["versionId"] == "1"

    ok = client.put(
        url, json={**current, "gender": "female"}, headers={**FHIR_JSON, "If-Match": 'W/"1"'}
    )
    assert ok.status_code == 200
    assert ok.headers["etag"] == 'W/"2"'
    assert_outcome(client.patch(url, json=patch, headers={**JSON_PATCH, "If-Match": 'W/"1"'}), 412)
    patched = client.patch(url, json=patch, headers={**JSON_PATCH, "If-Match": 'W/"2"'})
    assert patched.status_code == 200
    assert patched.headers["etag"] == 'W/"3"'
    assert_outcome(client.delete(url, headers={"If-Match": 'W/"2"'}), 412)
    assert client.delete(url, headers={"If-Match": 'W/"3"'}).status_code == 204
    assert_outcome(client.get(url), 410)
    assert_outcome(client.put(url, json=current, headers={**FHIR_JSON, "If-Match": "three"}), 400)


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_prefer_return(client: TestClient, method: str) -> None:
    def send(prefer: str) -> Response:
        if method == "post":
            return client.post(
                "/fhir/Patient", json=patient(), headers={**FHIR_JSON, "Prefer": prefer}
            )
        rid = new_patient(client)
        if method == "put":
            resource = {**patient(), "id": rid, "gender": "other"}
            return client.put(
                f"/fhir/Patient/{rid}", json=resource, headers={**FHIR_JSON, "Prefer": prefer}
            )
        patch = [{"op": "add", "path": "/gender", "value": "other"}]
        return client.patch(
            f"/fhir/Patient/{rid}", json=patch, headers={**JSON_PATCH, "Prefer": prefer}
        )

    minimal = send("return=minimal")
    assert minimal.status_code in (200, 201)
    assert minimal.content == b""
    assert minimal.headers["etag"].startswith('W/"')
    representation = send("return=representation")
    assert body(representation)["resourceType"] == "Patient"
    outcome = send("return=OperationOutcome")
    assert outcome.status_code in (200, 201)
    assert body(outcome)["resourceType"] == "OperationOutcome"
    assert outcome.headers["etag"].startswith('W/"')
    default = send("")
    assert body(default)["resourceType"] == "Patient"


# --- conformance resources: read-only ----------------------------------------------------------


@pytest.mark.parametrize(("rtype", "rid"), CONFORMANCE)
def test_conformance_resources_are_read_only(client: TestClient, rtype: str, rid: str) -> None:
    url = f"/fhir/{rtype}/{rid}"
    read = client.get(url)
    assert read.status_code == 200
    resource = body(read)
    canonical = f"http://forlop.no/fhir/{rtype}/{rid}"
    assert resource["url"] == canonical
    version = resource["meta"]["versionId"]
    assert client.get(f"{url}/_history/{version}").status_code == 200
    assert [r["id"] for r in search(client, f"{rtype}?_id={rid}")] == [rid]

    changed = {**resource, "title": "Endret"}
    fresh_copy = {k: v for k, v in changed.items() if k not in ("id", "meta")}
    patch = [{"op": "replace", "path": "/title", "value": "Endret"}]
    for response in (
        client.post(f"/fhir/{rtype}", json=fresh_copy, headers=FHIR_JSON),
        client.put(url, json=changed, headers=FHIR_JSON),
        client.put(f"/fhir/{rtype}", params={"url": canonical}, json=changed, headers=FHIR_JSON),
        client.patch(url, json=patch, headers=JSON_PATCH),
        client.delete(url),
        client.delete(f"/fhir/{rtype}", params={"url": canonical}),
    ):
        issues = assert_outcome(response, 405)
        assert issues[0]["code"] == "not-supported"
    assert body(client.get(url)) == resource
    assert [r["id"] for r in search(client, f"{rtype}?_id={rid}")] == [rid]


def test_questionnaires_are_found_by_canonical_url(client: TestClient) -> None:
    canonical = "http://forlop.no/fhir/Questionnaire/psfs"
    found = search(client, f"Questionnaire?url={canonical}&version=1.0.0")
    assert [r["id"] for r in found] == ["psfs"]


@pytest.mark.parametrize(("rtype", "rid"), CONFORMANCE[:1] + CONFORMANCE[2:])
def test_conformance_resources_are_found_by_canonical_url(
    client: TestClient, rtype: str, rid: str
) -> None:
    canonical = f"http://forlop.no/fhir/{rtype}/{rid}"
    response = client.get(
        f"/fhir/{rtype}", params={"url": canonical}, headers={"Prefer": "handling=strict"}
    )
    assert response.status_code == 200, response.text
    assert [e["resource"]["id"] for e in body(response)["entry"]] == [rid]


def test_conformance_writes_inside_a_transaction_are_refused(client: TestClient) -> None:
    value = fresh()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(value), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": "ValueSet/psfs-direction"}},
        ],
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR_JSON), 405)
    assert search(client, f"Patient?identifier={SID}|{value}") == []
    assert client.get("/fhir/ValueSet/psfs-direction").status_code == 200


# --- validation of writes ----------------------------------------------------------------------


def test_a_profile_named_in_meta_is_enforced(client: TestClient) -> None:
    claimed = {**patient(), "meta": {"profile": [FORLOP_PATIENT]}}
    issues = assert_outcome(client.post("/fhir/Patient", json=claimed, headers=FHIR_JSON), 422)
    assert "Patient" in expressions(issues)
    assert any("forlop-patient" in i["diagnostics"] for i in issues)

    fnr = new_fnr()
    valid = {**claimed, "identifier": [{"system": FNR, "value": fnr}]}
    created = client.post("/fhir/Patient", json=valid, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert search(client, f"Patient?identifier={FNR}|{fnr}")[0]["meta"]["profile"] == [
        FORLOP_PATIENT
    ]
    unprofiled = patient()  # no fødselsnummer, no profile: base-valid, accepted
    assert client.post("/fhir/Patient", json=unprofiled, headers=FHIR_JSON).status_code == 201


def test_profile_violation_in_a_psfs_goal_names_the_element(client: TestClient) -> None:
    pid = new_patient(client)
    bundle = load(pathways()[0].expected / "extract-baseline.bundle.json")
    goal = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal")
    goal = copy.deepcopy(goal)
    goal["subject"] = goal["expressedBy"] = {"reference": f"Patient/{pid}"}
    goal["identifier"][0]["value"] = fresh()
    del goal["outcomeReference"]
    goal["target"][0]["detailInteger"] = 12
    issues = assert_outcome(client.post("/fhir/Goal", json=goal, headers=FHIR_JSON), 422)
    assert any(e.startswith("Goal.target[0]") for e in expressions(issues)), issues
    goal["target"][0]["detailInteger"] = 7
    assert client.post("/fhir/Goal", json=goal, headers=FHIR_JSON).status_code == 201
    del goal["extension"]
    issues = assert_outcome(client.post("/fhir/Goal", json=goal, headers=FHIR_JSON), 422)
    assert "Goal.extension" in expressions(issues)


# --- /metadata ---------------------------------------------------------------------------------


def test_metadata_lists_what_is_implemented(client: TestClient) -> None:
    statement = body(client.get("/fhir/metadata"))
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert set(statement["format"]) == {"json", "xml"}
    rest = statement["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {
        "transaction", "batch", "search-system", "history-system",
    }  # fmt: skip
    by_type = {r["type"]: r for r in rest["resource"]}
    assert set(WRITABLE) <= set(by_type)
    for rtype, _ in CONFORMANCE:
        codes = {i["code"] for i in by_type[rtype]["interaction"]}
        assert codes == {"read", "vread", "search-type"}
    patient_entry = by_type["Patient"]
    assert {i["code"] for i in patient_entry["interaction"]} == {
        "read", "vread", "search-type", "create", "update", "patch", "delete",
        "history-instance", "history-type",
    }  # fmt: skip
    assert patient_entry["conditionalDelete"] == "single"
    assert {o["name"] for o in patient_entry["operation"]} == {"validate", "everything"}
    assert {o["name"] for o in by_type["QuestionnaireResponse"]["operation"]} == {
        "validate", "extract",
    }  # fmt: skip
    assert {o["name"] for o in by_type["Goal"]["operation"]} == {"validate"}

    # every search parameter the statement lists is one the server takes
    columns = {"_id": ("_id", fresh()), "_lastUpdated": ("_lastUpdated", "ge2026-01-01")}
    for rtype in ("Patient", "Goal", "CarePlan", "Observation", "QuestionnaireResponse"):
        for param in by_type[rtype]["searchParam"]:
            name = param["name"]
            probe = columns.get(name, (f"{name}:missing", "true"))
            response = client.get(
                f"/fhir/{rtype}",
                params={probe[0]: probe[1], "_count": "1"},
                headers={"Prefer": "handling=strict"},
            )
            assert response.status_code == 200, (rtype, param, response.text)
    # and one it does not list is refused in strict handling
    unlisted = client.get(
        "/fhir/Patient", params={"colour": "blue"}, headers={"Prefer": "handling=strict"}
    )
    assert_outcome(unlisted, 400)
    # every operation it lists answers (not 404) and none it does not list exists
    assert client.get(f"/fhir/Patient/{new_patient(client)}/$everything").status_code == 200
    assert_outcome(client.post("/fhir/Goal/$extract", json={}, headers=FHIR_JSON), 404)
    assert_outcome(client.get(f"/fhir/Goal/{fresh()}/$everything"), 404)


# --- batch and transaction ---------------------------------------------------------------------


def entry(
    resource: dict[str, Any] | None,
    method: str,
    url: str,
    full_url: str | None = None,
    **request: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if full_url:
        out["fullUrl"] = full_url
    if resource is not None:
        out["resource"] = resource
    out["request"] = {"method": method, "url": url, **request}
    return out


def bundle_of(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


@pytest.mark.parametrize("base", ["/fhir", "/fhir/"])
def test_transaction_resolves_references_and_answers_in_request_order(
    client: TestClient, base: str
) -> None:
    value = fresh()
    patient_urn, goal_urn = f"urn:uuid:{fresh()}", f"urn:uuid:{fresh()}"
    goal = {
        "resourceType": "Goal",
        "identifier": ident(value),
        "lifecycleStatus": "active",
        "description": {"text": "Handle selv"},
        "subject": {"reference": patient_urn},
    }
    observation = {
        "resourceType": "Observation",
        "identifier": ident(value),
        "status": "final",
        "code": {"text": "PSFS"},
        "subject": {"reference": f"Patient?identifier={SID}|{value}"},
        "focus": [{"reference": goal_urn}],
    }
    bundle = bundle_of(
        "transaction",
        entry(None, "GET", f"Goal?identifier={SID}|{value}"),
        entry(observation, "POST", "Observation"),
        entry(goal, "PUT", f"Goal?identifier={SID}|{value}", goal_urn),
        entry(
            patient(value), "POST", "Patient", patient_urn, ifNoneExist=f"identifier={SID}|{value}"
        ),
    )
    response = client.post(base, json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    answer = body(response)
    assert answer["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["200 OK", "201 Created", "201 Created", "201 Created"]
    locations = [e["response"].get("location", "") for e in answer["entry"]]
    assert locations[1].startswith("Observation/")
    assert locations[2].startswith("Goal/")
    assert locations[3].startswith("Patient/")
    for item in answer["entry"][1:]:
        assert item["response"]["etag"] == 'W/"1"'
        assert re.fullmatch(r"[A-Za-z]+/[A-Za-z0-9.-]+/_history/1", item["response"]["location"])
    # GET ran last (R4 §3.1.0.11.2 order): it sees the Goal written by a later entry
    searched = answer["entry"][0]["resource"]
    assert [e["resource"]["id"] for e in searched["entry"]] == [locations[2].split("/")[1]]

    patient_ref = "/".join(locations[3].split("/")[:2])
    goal_ref = "/".join(locations[2].split("/")[:2])
    stored_goal = body(client.get(f"/fhir/{goal_ref}"))
    assert stored_goal["subject"] == {"reference": patient_ref}
    stored_observation = body(client.get(f"/fhir/{'/'.join(locations[1].split('/')[:2])}"))
    assert stored_observation["subject"] == {"reference": patient_ref}
    assert stored_observation["focus"] == [{"reference": goal_ref}]

    again = body(client.post(base, json=bundle, headers=FHIR_JSON))
    statuses = [e["response"]["status"] for e in again["entry"]]
    assert statuses == ["200 OK", "201 Created", "200 OK", "200 OK"]
    assert [e["response"].get("location") for e in again["entry"]][2:] == locations[2:]
    assert len(search(client, f"Patient?identifier={SID}|{value}")) == 1
    assert len(search(client, f"Goal?identifier={SID}|{value}")) == 1


def test_transaction_is_all_or_nothing(client: TestClient) -> None:
    value = fresh()
    existing = new_patient(client)
    patient_urn = f"urn:uuid:{fresh()}"
    bad_goal = {
        "resourceType": "Goal",
        "identifier": ident(value),
        "lifecycleStatus": "not-a-status",
        "description": {"text": "x"},
        "subject": {"reference": patient_urn},
    }
    before = body(client.get(f"/fhir/Patient/{existing}"))
    bundle = bundle_of(
        "transaction",
        entry(patient(value), "POST", "Patient", patient_urn),
        entry(resource_of("Observation", existing, value), "POST", "Observation"),
        entry({**before, "gender": "male"}, "PUT", f"Patient/{existing}"),
        entry(None, "DELETE", f"Patient/{new_patient(client)}"),
        entry(bad_goal, "POST", "Goal"),
    )
    issues = assert_outcome(client.post("/fhir", json=bundle, headers=FHIR_JSON), 422)
    assert any(
        e.startswith("Bundle.entry[4].resource.lifecycleStatus") for e in expressions(issues)
    )
    for rtype in ("Patient", "Observation", "Goal"):
        assert search(client, f"{rtype}?identifier={SID}|{value}") == []
    assert body(client.get(f"/fhir/Patient/{existing}")) == before
    delete_target = bundle["entry"][3]["request"]["url"]
    assert client.get(f"/fhir/{delete_target}").status_code == 200


def test_transaction_deletes_before_it_matches(client: TestClient) -> None:
    value = fresh()
    old = create(client, patient(value))
    bundle = bundle_of(
        "transaction",
        entry(patient(value), "POST", "Patient", ifNoneExist=f"identifier={SID}|{value}"),
        entry(None, "DELETE", f"Patient/{old['id']}"),
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    answer = body(response)["entry"]
    assert answer[0]["response"]["status"] == "201 Created"
    assert answer[1]["response"]["status"] == "204 No Content"
    assert answer[0]["response"]["location"].split("/")[1] != old["id"]
    assert [p["id"] for p in search(client, f"Patient?identifier={SID}|{value}")] == [
        answer[0]["response"]["location"].split("/")[1]
    ]


def test_transaction_patch_entry_runs_before_a_get(client: TestClient) -> None:
    rid = new_patient(client)
    patch = [{"op": "add", "path": "/gender", "value": "female"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(json.dumps(patch).encode()).decode(),
    }
    bundle = bundle_of(
        "transaction",
        entry(None, "GET", f"Patient/{rid}"),
        entry(binary, "PATCH", f"Patient/{rid}"),
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    answer = body(response)["entry"]
    assert answer[0]["resource"]["gender"] == "female"
    assert answer[1]["response"]["status"] == "200 OK"
    assert answer[1]["response"]["etag"] == 'W/"2"'
    plain = bundle_of("transaction", entry({"op": "x"}, "PATCH", f"Patient/{rid}"))
    issues = assert_outcome(client.post("/fhir", json=plain, headers=FHIR_JSON), 400)
    assert "Bundle.entry[0].resource" in expressions(issues)


def test_transaction_writing_a_resource_twice_is_a_conflict(client: TestClient) -> None:
    rid = new_patient(client)
    current = body(client.get(f"/fhir/Patient/{rid}"))
    value = fresh()
    twice = bundle_of(
        "transaction",
        entry({**current, "gender": "male"}, "PUT", f"Patient/{rid}"),
        entry({**current, "gender": "female"}, "PUT", f"Patient/{rid}"),
    )
    assert_outcome(client.post("/fhir", json=twice, headers=FHIR_JSON), 409)
    same_criteria = bundle_of(
        "transaction",
        entry(patient(value), "POST", "Patient", ifNoneExist=f"identifier={SID}|{value}"),
        entry(patient(value), "POST", "Patient", ifNoneExist=f"identifier={SID}|{value}"),
    )
    issues = assert_outcome(client.post("/fhir", json=same_criteria, headers=FHIR_JSON), 409)
    assert "Bundle.entry[1].request" in expressions(issues)
    assert body(client.get(f"/fhir/Patient/{rid}"))["meta"]["versionId"] == "1"
    assert search(client, f"Patient?identifier={SID}|{value}") == []


def test_batch_entries_fail_independently(client: TestClient) -> None:
    value = fresh()
    rid = new_patient(client)
    bundle = bundle_of(
        "batch",
        entry(patient(value), "POST", "Patient"),
        entry({**patient(value), "gender": "unknown-gender"}, "POST", "Patient"),
        entry(None, "GET", f"Patient/{fresh()}"),
        entry(None, "GET", f"Patient/{rid}"),
        entry(patient(value), "PUT", f"Patient/{rid}"),
        entry(None, "DELETE", f"Patient/{rid}"),
    )
    response = client.post("/fhir/", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    answer = body(response)
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in answer["entry"]]
    assert statuses == ["201", "422", "404", "200", "400", "204"]
    for failed in (answer["entry"][1], answer["entry"][2], answer["entry"][4]):
        outcome = failed["response"]["outcome"]
        assert outcome["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[1].resource.gender" in expressions(
        answer["entry"][1]["response"]["outcome"]["issue"]
    )
    assert answer["entry"][3]["resource"]["id"] == rid
    assert len(search(client, f"Patient?identifier={SID}|{value}")) == 1
    assert_outcome(client.get(f"/fhir/Patient/{rid}"), 410)


def test_absolute_request_urls_are_taken_relative_to_the_base(client: TestClient) -> None:
    rid = new_patient(client)
    current = body(client.get(f"/fhir/Patient/{rid}"))
    bundle = bundle_of(
        "transaction",
        entry({**current, "gender": "female"}, "PUT", f"http://testserver/fhir/Patient/{rid}"),
    )
    response = client.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    assert body(response)["entry"][0]["response"]["location"] == f"Patient/{rid}/_history/2"
