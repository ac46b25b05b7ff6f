"""The operations through the real app: ``$validate`` (R4 Resource-validate), SDC
``QuestionnaireResponse/$extract`` of PSFS responses applied to the store in the same transaction,
and ``Patient/$everything`` (R4 Patient-everything) with ``_since`` and paging.

The PSFS responses are the synthetic pathways' ``psfs-baseline.json`` and
``psfs-reassessment.json``. So that tests never meet each other's Goals in the shared store, each
test renames the people a response refers to (``Patient/kare-nordby`` becomes
``Patient/kare-nordby-<suffix>``) and the response identifier, and first stores those people.
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from adapter.fhir.json_codec import parse_json
from tests.fixtures_support import Pathway, load, pathways

FHIR_JSON = {"content-type": "application/fhir+json"}
SID = "http://forlop.no/fhir/sid/rest-test"
PSFS_ACTIVITY_KEY = "http://forlop.no/fhir/StructureDefinition/psfs-activity-key"
FORLOP_PATIENT = "http://forlop.no/fhir/StructureDefinition/forlop-patient"
PATHWAYS = pathways()


# --- helpers -----------------------------------------------------------------------------------


def fresh() -> str:
    return str(uuid.uuid4())


def body(response: Response) -> dict[str, Any]:
    parsed: dict[str, Any] = parse_json(response.content)
    return parsed


def matches(client: TestClient, query: str) -> list[dict[str, Any]]:
    response = client.get(f"/fhir/{query}")
    assert response.status_code == 200, response.text
    return [
        e["resource"] for e in body(response).get("entry", []) if e["search"]["mode"] == "match"
    ]


def issues_of(response: Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    outcome = body(response)
    assert outcome["resourceType"] == "OperationOutcome"
    for issue in outcome["issue"]:
        assert issue["severity"] and issue["code"] and issue["diagnostics"]
    issues: list[dict[str, Any]] = outcome["issue"]
    return issues


def expressions(issues: list[dict[str, Any]]) -> list[str]:
    return [e for issue in issues for e in issue.get("expression", [])]


def _walk(node: Any, suffix: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and "/" in value and ":" not in value:
                node[key] = f"{value}-{suffix}"
            else:
                _walk(value, suffix)
    elif isinstance(node, list):
        for item in node:
            _walk(item, suffix)


def isolated(response: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The response about people of its own: every literal reference and the identifier renamed."""
    renamed = copy.deepcopy(response)
    _walk(renamed, suffix)
    renamed["identifier"]["value"] = f"{renamed['identifier']['value']}-{suffix}"
    return renamed


def references(resource: Any) -> list[str]:
    if isinstance(resource, dict):
        found = [resource["reference"]] if isinstance(resource.get("reference"), str) else []
        return found + [r for v in resource.values() for r in references(v)]
    if isinstance(resource, list):
        return [r for v in resource for r in references(v)]
    return []


def store_people(client: TestClient, response: dict[str, Any]) -> str:
    """PUT the Patient, Practitioners, RelatedPersons and Encounters the response refers to;
    returns the patient reference."""
    subject = str(response["subject"]["reference"])
    refs = sorted(set(references(response)), key=lambda r: not r.startswith("Patient/"))
    for ref in refs:
        rtype, rid = ref.split("/")
        content: dict[str, Any] = {
            "Patient": {"name": [{"family": "Testperson"}]},
            "Practitioner": {"name": [{"family": "Terapeut"}]},
            "RelatedPerson": {"patient": {"reference": subject}, "name": [{"family": "Pårørende"}]},
            "Encounter": {
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "HH",
                },
                "subject": {"reference": subject},
            },
        }[rtype]
        resource = {"resourceType": rtype, "id": rid, **content}
        put = client.put(f"/fhir/{ref}", json=resource, headers=FHIR_JSON)
        assert put.status_code in (200, 201), put.text
    return subject


def extract(client: TestClient, response: dict[str, Any]) -> Response:
    return client.post("/fhir/QuestionnaireResponse/$extract", json=response, headers=FHIR_JSON)


def goals_by_key(client: TestClient, subject: str) -> dict[str, dict[str, Any]]:
    goals = matches(client, f"Goal?subject={subject}&_count=100")
    return {
        next(e["valueString"] for e in g["extension"] if e["url"] == PSFS_ACTIVITY_KEY): g
        for g in goals
    }


def expected_goals(pathway: Pathway, golden: str) -> dict[str, dict[str, Any]]:
    bundle = load(pathway.expected / golden)
    return {
        next(e["valueString"] for e in r["extension"] if e["url"] == PSFS_ACTIVITY_KEY): r
        for r in (e["resource"] for e in bundle["entry"])
        if r["resourceType"] == "Goal"
    }


def activities(response: dict[str, Any]) -> int:
    return sum(1 for item in response["item"] if item["linkId"] == "activity")


def expected_count(pathway: Pathway, golden: str, rtype: str) -> int:
    bundle = load(pathway.expected / golden)
    return sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


# --- $validate ---------------------------------------------------------------------------------


def test_validate_a_plain_resource(client: TestClient) -> None:
    value = fresh()
    good = {
        "resourceType": "Patient",
        "identifier": [{"system": SID, "value": value}],
        "active": True,
    }
    ok = issues_of(client.post("/fhir/Patient/$validate", json=good, headers=FHIR_JSON), 200)
    assert [i["severity"] for i in ok] == ["information"]
    malformed = {**good, "birthDate": "15.03.1938", "colour": "blå"}
    url = "/fhir/Patient/$validate"
    issues = issues_of(client.post(url, json=malformed, headers=FHIR_JSON), 200)
    assert {"Patient.birthDate", "Patient.colour"} <= set(expressions(issues))
    assert all(i["severity"] == "error" for i in issues)
    off_binding = {**good, "gender": "kvinne"}
    issues = issues_of(client.post(url, json=off_binding, headers=FHIR_JSON), 200)
    assert expressions(issues) == ["Patient.gender"]
    assert matches(client, f"Patient?identifier={SID}|{value}") == [], "$validate stores nothing"


def test_validate_in_parameters_form_and_against_a_profile(client: TestClient) -> None:
    resource = {
        "resourceType": "Patient",
        "meta": {"profile": [FORLOP_PATIENT]},
        "identifier": [{"system": SID, "value": fresh()}],
    }
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": resource}],
    }
    issues = issues_of(
        client.post("/fhir/Patient/$validate", json=parameters, headers=FHIR_JSON), 200
    )
    assert any("forlop-patient" in i["diagnostics"] for i in issues)
    assert "Patient.name" in expressions(issues)
    empty = {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "create"}]}
    issues_of(client.post("/fhir/Patient/$validate", json=empty, headers=FHIR_JSON), 400)
    wrong_type = {"resourceType": "Goal", "lifecycleStatus": "active"}
    issues_of(client.post("/fhir/Patient/$validate", json=wrong_type, headers=FHIR_JSON), 400)


def test_validate_an_instance(client: TestClient) -> None:
    created = client.post(
        "/fhir/Patient", json={"resourceType": "Patient", "active": True}, headers=FHIR_JSON
    )
    rid = body(created)["id"]
    stored = issues_of(client.post(f"/fhir/Patient/{rid}/$validate"), 200)
    assert [i["severity"] for i in stored] == ["information"]
    proposed = {"resourceType": "Patient", "id": rid, "active": "ja"}
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": proposed}],
    }
    issues = issues_of(
        client.post(f"/fhir/Patient/{rid}/$validate", json=parameters, headers=FHIR_JSON), 200
    )
    assert expressions(issues) == ["Patient.active"]
    assert body(client.get(f"/fhir/Patient/{rid}"))["active"] is True
    issues_of(client.post(f"/fhir/Patient/{fresh()}/$validate"), 404)


# --- $extract ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pathway", PATHWAYS, ids=lambda p: p.slug)
def test_extract_baseline_then_again_then_reassessment(
    client: TestClient, pathway: Pathway
) -> None:
    suffix = fresh()[:8]
    baseline = isolated(load(pathway.baseline_response), suffix)
    reassessment = isolated(load(pathway.reassessment_response), suffix)
    subject = store_people(client, baseline)
    store_people(client, reassessment)

    first = extract(client, baseline)
    assert first.status_code == 200, first.text
    answer = body(first)
    assert answer["type"] == "transaction-response"
    assert all(e["response"]["status"] == "201 Created" for e in answer["entry"])
    goals = goals_by_key(client, subject)
    assert len(goals) == activities(baseline)
    observations = matches(client, f"Observation?subject={subject}&_count=100")
    assert len(observations) == expected_count(
        pathway, "extract-baseline.bundle.json", "Observation"
    )
    response_id = baseline["identifier"]["value"]
    stored = matches(
        client, f"QuestionnaireResponse?identifier={baseline['identifier']['system']}|{response_id}"
    )
    assert len(stored) == 1
    expected = expected_goals(pathway, "extract-baseline.bundle.json")
    assert set(goals) == set(expected)
    for key, goal in goals.items():
        assert goal["achievementStatus"] == expected[key]["achievementStatus"], key
        assert goal.get("target") == expected[key].get("target"), key

    again = extract(client, baseline)
    assert again.status_code == 200, again.text
    second = body(again)
    assert [e["response"]["status"] for e in second["entry"]] == ["200 OK"] * len(answer["entry"])
    assert [e["response"]["etag"] for e in second["entry"]] == [
        e["response"]["etag"] for e in answer["entry"]
    ]
    assert goals_by_key(client, subject) == goals, "extracting twice changes nothing"
    assert len(matches(client, f"Observation?subject={subject}&_count=100")) == len(observations)

    later = extract(client, reassessment)
    assert later.status_code == 200, later.text
    after = goals_by_key(client, subject)
    expected_after = expected_goals(pathway, "extract-reassessment.bundle.json")
    assert set(after) == set(expected_after)
    for key, goal in after.items():
        assert goal["achievementStatus"] == expected_after[key]["achievementStatus"], key
        assert goal["lifecycleStatus"] == expected_after[key]["lifecycleStatus"], key
    changed = [k for k in goals if goals[k]["achievementStatus"] != after[k]["achievementStatus"]]
    assert changed, "the reassessment moves at least one goal"
    for key in changed:
        assert int(after[key]["meta"]["versionId"]) > int(goals[key]["meta"]["versionId"])
    added = expected_count(pathway, "extract-reassessment.bundle.json", "Observation")
    now = matches(client, f"Observation?subject={subject}&_count=100")
    assert len(now) == len(observations) + added


def test_extract_a_stored_response_and_the_parameters_form(client: TestClient) -> None:
    suffix = fresh()[:8]
    response = isolated(load(PATHWAYS[0].baseline_response), suffix)
    subject = store_people(client, response)
    created = client.post("/fhir/QuestionnaireResponse", json=response, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    rid = body(created)["id"]
    extracted = client.post(f"/fhir/QuestionnaireResponse/{rid}/$extract")
    assert extracted.status_code == 200, extracted.text
    assert len(goals_by_key(client, subject)) == activities(response)
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": response}],
    }
    again = client.post("/fhir/QuestionnaireResponse/$extract", json=parameters, headers=FHIR_JSON)
    assert again.status_code == 200, again.text
    assert {e["response"]["status"] for e in body(again)["entry"]} == {"200 OK"}
    identifier = response["identifier"]
    query = f"QuestionnaireResponse?identifier={identifier['system']}|{identifier['value']}"
    assert [r["id"] for r in matches(client, query)] == [rid]


def test_extract_of_a_path_response_is_422(client: TestClient) -> None:
    path_response = load(PATHWAYS[0].expected / "checklists" / "discharge-call.response.json")
    issues = issues_of(extract(client, path_response), 422)
    codes = [i["details"]["coding"][0]["code"] for i in issues]
    assert "FORLOP-MAP-002" in codes
    assert "QuestionnaireResponse.questionnaire" in expressions(issues)
    identifier = path_response["identifier"]
    query = f"QuestionnaireResponse?identifier={identifier['system']}|{identifier['value']}-none"
    assert matches(client, query) == []


def test_extract_that_fails_stores_nothing(client: TestClient) -> None:
    suffix = fresh()[:8]
    response = isolated(load(PATHWAYS[1].baseline_response), suffix)
    subject = str(response["subject"]["reference"])
    identifier = response["identifier"]
    query = f"QuestionnaireResponse?identifier={identifier['system']}|{identifier['value']}"

    # the people it names do not exist yet: the transaction fails as a whole
    issues = issues_of(extract(client, response), 400)
    assert any("does not exist" in i["diagnostics"] for i in issues)
    assert matches(client, query) == []

    store_people(client, response)
    out_of_range = copy.deepcopy(response)
    activity = next(i for i in out_of_range["item"] if i["linkId"] == "activity")
    score = next(i for i in activity["item"] if i["linkId"] == "activity.score")
    score["answer"][0]["valueInteger"] = 12
    issues = issues_of(extract(client, out_of_range), 422)
    assert expressions(issues), issues
    assert matches(client, query) == []
    assert matches(client, f"Goal?subject={subject}") == []
    assert matches(client, f"Observation?subject={subject}") == []


# --- $everything -------------------------------------------------------------------------------


def _everything(client: TestClient, url: str) -> tuple[list[str], int]:
    """Follow next links from ``url``; the "Type/id" of every entry and the number of pages."""
    seen: list[str] = []
    pages = 0
    while url:
        response = client.get(url.removeprefix("http://testserver"))
        assert response.status_code == 200, response.text
        page = body(response)
        assert page["type"] == "searchset"
        seen += ["/".join(e["fullUrl"].split("/")[-2:]) for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), "")
        pages += 1
        assert pages < 100
    return seen, pages


def test_everything_returns_the_patients_record_page_by_page(client: TestClient) -> None:
    suffix = fresh()[:8]
    response = isolated(load(PATHWAYS[2].baseline_response), suffix)
    subject = store_people(client, response)
    pid = subject.split("/")[1]
    assert extract(client, response).status_code == 200
    goals = goals_by_key(client, subject)
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": subject},
        "goal": [{"reference": f"Goal/{g['id']}"} for g in goals.values()],
    }
    assert client.post("/fhir/CarePlan", json=plan, headers=FHIR_JSON).status_code == 201
    other = store_people(client, isolated(load(PATHWAYS[2].baseline_response), fresh()[:8]))

    everything, pages = _everything(client, f"/fhir/Patient/{pid}/$everything?_count=1000")
    assert pages == 1
    types = {ref.split("/")[0] for ref in everything}
    assert {"Patient", "Goal", "Observation", "CarePlan", "QuestionnaireResponse"} <= types
    assert f"Patient/{pid}" in everything
    assert {f"Goal/{g['id']}" for g in goals.values()} <= set(everything)
    assert other not in everything
    assert len(everything) == len(set(everything))

    paged, pages = _everything(client, f"/fhir/Patient/{pid}/$everything?_count=3")
    assert pages == -(-len(everything) // 3)
    assert sorted(paged) == sorted(everything)


def test_everything_since(client: TestClient) -> None:
    suffix = fresh()[:8]
    response = isolated(load(PATHWAYS[0].baseline_response), suffix)
    subject = store_people(client, response)
    pid = subject.split("/")[1]
    assert extract(client, response).status_code == 200
    time.sleep(0.01)
    goals = list(goals_by_key(client, subject).values())
    changed = []
    for goal in goals[:2]:
        goal = {**goal, "note": [{"text": "Oppdatert etter telefon"}]}
        updated = client.put(f"/fhir/Goal/{goal['id']}", json=goal, headers=FHIR_JSON)
        assert updated.status_code == 200, updated.text
        changed.append(body(updated))
    earliest = min(
        datetime.fromisoformat(g["meta"]["lastUpdated"].replace("Z", "+00:00")) for g in changed
    )
    # an offset with a '+' must survive the round trip through the next link
    since = earliest.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="milliseconds")
    assert "+01:00" in since
    url = f"/fhir/Patient/{pid}/$everything?_count=1&_since={since.replace('+', '%2B')}"
    seen, pages = _everything(client, url)
    assert sorted(seen) == sorted(f"Goal/{g['id']}" for g in changed)
    assert pages == 2
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert _everything(client, f"/fhir/Patient/{pid}/$everything?_since={future}")[0] == []
    issues_of(client.get(f"/fhir/Patient/{pid}/$everything?_since=igår"), 400)


def test_everything_of_an_unknown_or_deleted_patient(client: TestClient) -> None:
    issues_of(client.get(f"/fhir/Patient/{fresh()}/$everything"), 404)
    created = client.post(
        "/fhir/Patient", json={"resourceType": "Patient", "active": True}, headers=FHIR_JSON
    )
    rid = body(created)["id"]
    assert client.delete(f"/fhir/Patient/{rid}").status_code == 204
    issues_of(client.get(f"/fhir/Patient/{rid}/$everything"), 410)
