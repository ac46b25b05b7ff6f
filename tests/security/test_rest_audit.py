"""Every interaction leaves exactly one AuditEvent with who, what, when, from where and the
outcome (issue: access control, point 4 and point 6), read straight from the store; AuditEvents are
valid R4, searchable with a scope that names them, and each organisation sees its own.

Each interaction is made with a token of its own client id, so its AuditEvents are exactly those
that name that client.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from httpx import Response

from adapter.fhir.errors import has_errors
from adapter.router.audit_log import AuditLog
from adapter.validation.validator import validate
from tests.security.audit_support import WriteProbe, wait_until
from tests.security.conftest import (
    ALL_SCOPES,
    BODO,
    NIDELV,
    ORGNR,
    ORKLAND,
    Caller,
    Secured,
    World,
)

SID = "http://forlop.no/fhir/sid/audit-test"
JSON_PATCH = {"content-type": "application/json-patch+json"}


def one_event(
    secured: Secured, organisation: str | None, act: Callable[[Caller], Response], scope: str = ""
) -> tuple[Response, dict[str, Any], Caller]:
    """The answer of ``act`` made by a new client of ``organisation`` (None: without a token,
    then ``act`` gets a caller whose token is empty) and the one AuditEvent it left."""
    if organisation is None:
        caller = Caller(secured.http, "", "", "")
    else:
        caller = secured.caller(organisation, scope or ALL_SCOPES)
    since = datetime.now(UTC) - timedelta(seconds=2)
    answer = act(caller)
    events = secured.audit_events(caller.client_id or None, since)
    assert len(events) == 1, [e.get("subtype") for e in events]
    return answer, events[0], caller


def entities(event: dict[str, Any], role: str = "4") -> list[str]:
    """References of the entities with an object role (4 domain resource, 1 patient)."""
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == role and "reference" in e.get("what", {})
    ]


def query_of(event: dict[str, Any]) -> str | None:
    for entity in event.get("entity", []):
        if "query" in entity:
            return base64.b64decode(entity["query"]).decode()
    return None


def agent(event: dict[str, Any], system: str) -> dict[str, Any]:
    return next(
        a
        for a in event["agent"]
        if a.get("who", {}).get("identifier", {}).get("system") == system
        and a.get("type", {}).get("coding", [{}])[0].get("code") != "UserOauthAgent"
    )


def check(
    event: dict[str, Any],
    caller: Caller,
    world: World,
    *,
    subtype: str,
    action: str,
    outcome: str = "0",
) -> None:
    assert event["type"]["code"] == "rest"
    assert event["subtype"][0]["code"] == subtype
    assert event["action"] == action
    assert event["outcome"] == outcome
    assert event["recorded"] >= (datetime.now(UTC) - timedelta(minutes=5)).isoformat()[:19]
    organisation = agent(event, ORGNR)
    assert organisation["who"]["identifier"]["value"] == caller.organisation
    assert (
        organisation["who"]["reference"]
        == f"Organization/{world.organizations[caller.organisation]}"
    )
    requestor = next(a for a in event["agent"] if a["requestor"])
    assert requestor["who"]["identifier"]["value"] == caller.client_id
    client = agent(event, "http://forlop.no/fhir/sid/oauth-client-id")
    assert client["network"]["address"] == "testclient"
    assert event["source"]["observer"]["display"].startswith("forlop@")
    assert not has_errors(validate(event))


def patient_body(world: World, organisation: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SID, "value": uuid.uuid4().hex}],
        "managingOrganization": {"reference": f"Organization/{world.organizations[organisation]}"},
    }


# --- one AuditEvent per interaction ----------------------------------------------------------


def test_create_read_vread_update_patch_delete(secured: Secured, world: World) -> None:
    patient: dict[str, Any] = {}

    def create(caller: Caller) -> Response:
        answer = caller.post("/fhir/Patient", patient_body(world, caller.organisation))
        patient.update(answer.json())
        return answer

    answer, event, caller = one_event(secured, ORKLAND, create)
    assert answer.status_code == 201
    check(event, caller, world, subtype="create", action="C")
    pid = patient["id"]
    assert entities(event) == [f"Patient/{pid}/_history/1"]
    assert entities(event, "1") == [f"Patient/{pid}"]
    patch = [{"op": "replace", "path": "/active", "value": False}]
    steps: list[tuple[Callable[[Caller], Response], str, str, int]] = [
        (lambda c: c.get(f"/fhir/Patient/{pid}"), "read", "R", 1),
        (lambda c: c.get(f"/fhir/Patient/{pid}/_history/1"), "vread", "R", 1),
        (lambda c: c.put(f"/fhir/Patient/{pid}", {**patient, "active": True}), "update", "U", 2),
        (
            lambda c: c.send("PATCH", f"/fhir/Patient/{pid}", patch, headers=JSON_PATCH),
            "patch",
            "U",
            3,
        ),
        (lambda c: c.delete(f"/fhir/Patient/{pid}"), "delete", "D", 4),
    ]
    for act, subtype, action, version in steps:
        answer, event, caller = one_event(secured, ORKLAND, act)
        assert answer.status_code in (200, 204), (subtype, answer.text)
        check(event, caller, world, subtype=subtype, action=action)
        assert entities(event) == [f"Patient/{pid}/_history/{version}"], subtype
        if subtype != "delete":
            assert entities(event, "1") == [f"Patient/{pid}"], subtype


def test_a_search_records_its_query_and_what_it_disclosed(secured: Secured, world: World) -> None:
    ingrid = world.patients["ingrid-solvang"]
    params = {"subject": f"Patient/{ingrid}", "_include": "CarePlan:subject"}
    answer, event, caller = one_event(
        secured, BODO, lambda c: c.get("/fhir/CarePlan", params=params)
    )
    check(event, caller, world, subtype="search-type", action="E")
    found = [e["resource"] for e in answer.json()["entry"]]
    assert {r["resourceType"] for r in found} == {"CarePlan", "Patient"}
    assert sorted(entities(event)) == sorted(
        f"{r['resourceType']}/{r['id']}/_history/{r['meta']['versionId']}" for r in found
    )
    assert entities(event, "1") == [f"Patient/{ingrid}"]
    assert query_of(event) == f"subject=Patient%2F{ingrid}&_include=CarePlan%3Asubject"
    _, event, caller = one_event(secured, BODO, lambda c: c.get("/fhir/", params={"_type": "Goal"}))
    check(event, caller, world, subtype="search-system", action="E")
    assert query_of(event) == "_type=Goal"


def test_history_everything_and_validate(secured: Secured, world: World) -> None:
    ingrid = world.patients["ingrid-solvang"]
    answer, event, caller = one_event(
        secured, BODO, lambda c: c.get(f"/fhir/Patient/{ingrid}/_history")
    )
    check(event, caller, world, subtype="history-instance", action="R")
    assert entities(event) == [f"Patient/{ingrid}/_history/1"]
    _, event, caller = one_event(secured, BODO, lambda c: c.get("/fhir/CareTeam/_history"))
    check(event, caller, world, subtype="history-type", action="E")
    answer, event, caller = one_event(
        secured, BODO, lambda c: c.get(f"/fhir/Patient/{ingrid}/$everything")
    )
    check(event, caller, world, subtype="operation", action="E")
    operation = next(e for e in event["entity"] if e.get("name"))
    assert operation["name"] == "$everything"
    assert operation["description"] == "http://hl7.org/fhir/OperationDefinition/Patient-everything"
    assert len(entities(event)) == len(answer.json()["entry"])
    assert entities(event, "1") == [f"Patient/{ingrid}"]
    body = patient_body(world, BODO)
    _, event, caller = one_event(secured, BODO, lambda c: c.post("/fhir/Patient/$validate", body))
    check(event, caller, world, subtype="operation", action="E")


def test_a_transaction_is_one_event_naming_every_entry(secured: Secured, world: World) -> None:
    patient = patient_body(world, NIDELV)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b5c1f7e-8f39-4d2a-b8a6-5d6f0e2a9c11",
                "resource": patient,
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Goal",
                    "lifecycleStatus": "active",
                    "description": {"text": "Gå tur"},
                    "subject": {"reference": "urn:uuid:0b5c1f7e-8f39-4d2a-b8a6-5d6f0e2a9c11"},
                },
                "request": {"method": "POST", "url": "Goal"},
            },
        ],
    }
    answer, event, caller = one_event(secured, NIDELV, lambda c: c.post("/fhir", bundle))
    assert answer.status_code == 200, answer.text
    check(event, caller, world, subtype="transaction", action="E")
    locations = [e["response"]["location"] for e in answer.json()["entry"]]
    assert sorted(entities(event)) == sorted(locations)
    pid = locations[0].split("/")[1]
    assert entities(event, "1") == [f"Patient/{pid}"]
    batch = {**bundle, "type": "batch", "entry": bundle["entry"][:1]}
    batch["entry"][0]["resource"] = patient_body(world, NIDELV)
    answer, event, caller = one_event(secured, NIDELV, lambda c: c.post("/fhir", batch))
    check(event, caller, world, subtype="batch", action="E")
    assert entities(event) == [answer.json()["entry"][0]["response"]["location"]]


def test_a_failed_transaction_leaves_one_failure_event_and_nothing_else(
    secured: Secured, world: World
) -> None:
    marker = uuid.uuid4().hex
    patient = patient_body(world, NIDELV)
    patient["identifier"] = [{"system": SID, "value": marker}]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Goal", "lifecycleStatus": "nonsense"},
                "request": {"method": "POST", "url": "Goal"},
            },
        ],
    }
    answer, event, caller = one_event(secured, NIDELV, lambda c: c.post("/fhir", bundle))
    assert answer.status_code in (400, 422)
    check(event, caller, world, subtype="transaction", action="E", outcome="4")
    assert entities(event) == []
    assert "Entry 1" in event["outcomeDesc"]
    found = caller.get("/fhir/Patient", params={"identifier": f"{SID}|{marker}"})
    assert "entry" not in found.json()


def test_refusals_are_recorded(secured: Secured, world: World) -> None:
    astrid = world.patients["astrid-fjellheim"]
    answer, event, _ = one_event(secured, None, lambda c: c.get(f"/fhir/Patient/{astrid}"))
    assert answer.status_code == 401
    assert event["outcome"] == "4" and event["subtype"][0]["code"] == "read"
    assert event["agent"][0]["who"] == {"display": "unauthenticated caller"}
    assert entities(event) == [f"Patient/{astrid}"]
    answer, event, caller = one_event(
        secured, BODO, lambda c: c.get(f"/fhir/Patient/{astrid}"), "system/Observation.rs"
    )
    assert answer.status_code == 403
    check(event, caller, world, subtype="read", action="R", outcome="4")
    assert "system/Patient.r" in event["outcomeDesc"]
    # A hidden patient: the event names what was asked for, never more of it.
    answer, event, caller = one_event(secured, BODO, lambda c: c.get(f"/fhir/Patient/{astrid}"))
    assert answer.status_code == 404
    check(event, caller, world, subtype="read", action="R", outcome="4")
    assert entities(event) == [f"Patient/{astrid}"]
    assert entities(event, "1") == []
    answer, event, caller = one_event(
        secured, BODO, lambda c: c.delete("/fhir/AuditEvent/x"), "system/AuditEvent.cruds"
    )
    assert answer.status_code == 405
    check(event, caller, world, subtype="delete", action="D", outcome="4")
    answer, event, caller = one_event(
        secured, BODO, lambda c: c.post("/fhir/Patient", {"resourceType": "Goal"})
    )
    assert answer.status_code == 400
    check(event, caller, world, subtype="create", action="C", outcome="4")


def test_audit_events_are_searchable_and_each_organisation_sees_its_own(
    secured: Secured, world: World
) -> None:
    astrid = world.patients["astrid-fjellheim"]
    since = datetime.now(UTC) - timedelta(seconds=1)
    reader = secured.caller(ORKLAND)
    assert reader.get(f"/fhir/Patient/{astrid}").status_code == 200
    intruder = secured.caller(BODO)
    assert intruder.get(f"/fhir/Patient/{astrid}").status_code == 404
    stamp = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    searches = {
        "patient": {"patient": f"Patient/{astrid}"},
        "entity": {"entity": f"Patient/{astrid}"},
        "outcome": {"outcome": "0", "entity": f"Patient/{astrid}"},
        "subtype": {"subtype": "http://hl7.org/fhir/restful-interaction|read"},
        "type": {"type": "http://terminology.hl7.org/CodeSystem/audit-event-type|rest"},
        "agent": {"agent": f"Organization/{world.organizations[ORKLAND]}"},
    }
    nidelv = secured.caller(NIDELV, "system/AuditEvent.rs")
    bodo = secured.caller(BODO, "system/AuditEvent.rs")
    for name, params in searches.items():
        query = {**params, "date": f"ge{stamp}", "_count": "1000"}
        seen = [e["resource"] for e in nidelv.get("/fhir/AuditEvent", params=query).json()["entry"]]
        assert reader.client_id in {_client(e) for e in seen}, name
        for event in seen:
            assert event["recorded"] >= stamp[:19]
    # Bodø's own refused read is Bodø's; Orkland's read of Astrid is not.
    query = {"entity": f"Patient/{astrid}", "date": f"ge{stamp}"}
    seen = {
        _client(e["resource"]) for e in bodo.get("/fhir/AuditEvent", params=query).json()["entry"]
    }
    assert intruder.client_id in seen and reader.client_id not in seen
    # Nidelv, in Astrid's care, sees that Bodø tried.
    failures = nidelv.get("/fhir/AuditEvent", params={**query, "outcome": "4"}).json()["entry"]
    assert intruder.client_id in {_client(e["resource"]) for e in failures}
    assert {e["resource"]["outcome"] for e in failures} == {"4"}


def _client(event: dict[str, Any]) -> str | None:
    return next(
        (
            a["who"]["identifier"]["value"]
            for a in event["agent"]
            if a.get("who", {}).get("identifier", {}).get("system")
            == "http://forlop.no/fhir/sid/oauth-client-id"
        ),
        None,
    )


# --- concurrent interactions: AuditEvents written together (adapter/router/audit_log) -------------

READERS = 8


def _in_threads(acts: Sequence[Callable[[], Response]]) -> list[Response]:
    """The answers of ``acts``, each made from a thread of its own, all started together."""
    answers: list[Response | BaseException | None] = [None] * len(acts)
    start = threading.Barrier(len(acts))

    def run(slot: int) -> None:
        try:
            start.wait()
            answers[slot] = acts[slot]()
        except BaseException as error:  # noqa: BLE001 - raised again below
            answers[slot] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(acts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done: list[Response] = []
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
        assert answer is not None
        done.append(answer)
    return done


def test_concurrent_reads_searches_and_refusals_each_leave_one_event(
    secured: Secured, world: World
) -> None:
    astrid = world.patients["astrid-fjellheim"]
    since = datetime.now(UTC) - timedelta(seconds=2)
    readers = [secured.caller(ORKLAND) for _ in range(READERS)]
    searchers = [secured.caller(ORKLAND) for _ in range(READERS)]
    intruders = [secured.caller(BODO) for _ in range(READERS)]
    answers = _in_threads(
        [partial(c.get, f"/fhir/Patient/{astrid}") for c in readers]
        + [partial(c.get, "/fhir/Goal", params={"patient": astrid}) for c in searchers]
        + [partial(c.get, f"/fhir/Patient/{astrid}") for c in intruders]
    )
    assert [a.status_code for a in answers] == [200] * 2 * READERS + [404] * READERS
    for caller in readers + searchers + intruders:
        events = secured.audit_events(caller.client_id, since)
        assert len(events) == 1, caller.client_id
        event = events[0]
        if caller in readers:
            check(event, caller, world, subtype="read", action="R")
            assert entities(event, "1") == [f"Patient/{astrid}"]
        elif caller in searchers:
            check(event, caller, world, subtype="search-type", action="E")
            assert query_of(event) == f"patient={astrid}"
        else:
            check(event, caller, world, subtype="read", action="R", outcome="4")
            assert entities(event, "1") == []


def test_reads_that_overlap_share_one_audit_transaction(
    secured: Secured, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AuditEvent of the first read is held in its transaction until every other read has
    queued its own: those are then written together, and each read still leaves exactly one."""
    astrid = world.patients["astrid-fjellheim"]
    state = secured.http.app.state.forlop  # type: ignore[attr-defined]
    probe = WriteProbe(secured.repository, hold_first=True)
    log = AuditLog(probe)
    monkeypatch.setattr(state, "audit_log", log)
    since = datetime.now(UTC) - timedelta(seconds=2)
    callers = [secured.caller(ORKLAND) for _ in range(READERS)]
    answers: list[Response | BaseException | None] = [None] * READERS

    def read(slot: int) -> None:
        try:
            answers[slot] = callers[slot].get(f"/fhir/Patient/{astrid}")
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            answers[slot] = error

    threads = [threading.Thread(target=read, args=(i,)) for i in range(READERS)]
    threads[0].start()
    wait_until(probe.holding.is_set, "the first read's AuditEvent is being written")
    for thread in threads[1:]:
        thread.start()
    try:
        wait_until(lambda: log.queued == READERS - 1, "every other read has queued its event")
        # No answer leaves before its AuditEvent is stored.
        assert answers == [None] * READERS
    finally:
        probe.release()
        for thread in threads:
            thread.join()
    assert [getattr(a, "status_code", a) for a in answers] == [200] * READERS
    assert probe.opened == 2
    for caller in callers:
        events = secured.audit_events(caller.client_id, since)
        assert len(events) == 1, caller.client_id
        check(events[0], caller, world, subtype="read", action="R")
