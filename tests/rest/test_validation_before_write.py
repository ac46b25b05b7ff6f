"""A transaction Bundle's resources are validated before its write transaction opens: an invalid
one never takes the write lock, and references between entries are judged as what they become."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.app import create_app
from adapter.config import Settings
from adapter.security.settings import AuthSettings
from adapter.store.memory import MemoryRepository
from tests.fixtures_support import FIXTURES
from tests.rest.test_interactions import (
    FHIR_JSON,
    SID,
    assert_outcome,
    bundle_of,
    entry,
    expressions,
    fresh,
    ident,
    patient,
)
from tests.security.audit_support import WriteProbe

DISCHARGE = FIXTURES / "pathways" / "astrid-fjellheim" / "fhir" / "discharge-bundle.json"


@pytest.fixture
def probed() -> Iterator[tuple[TestClient, WriteProbe]]:
    probe = WriteProbe(MemoryRepository())
    app = create_app(Settings(), repository=probe, auth=AuthSettings(insecure_dev=True))
    with TestClient(app, base_url="http://testserver") as client:
        yield client, probe


def goal(subject: str, status: str = "active") -> dict[str, object]:
    return {
        "resourceType": "Goal",
        "identifier": ident(fresh()),
        "lifecycleStatus": status,
        "description": {"text": "Gå til butikken"},
        "subject": {"reference": subject},
    }


def test_an_invalid_entry_is_refused_without_a_write_transaction(
    probed: tuple[TestClient, WriteProbe],
) -> None:
    client, probe = probed
    value = fresh()
    urn = f"urn:uuid:{fresh()}"
    bundle = bundle_of(
        "transaction",
        entry(patient(value), "POST", "Patient", urn),
        entry(goal(urn, status="not-a-status"), "POST", "Goal"),
    )
    before = probe.opened
    issues = assert_outcome(client.post("/fhir", json=bundle, headers=FHIR_JSON), 422)
    assert "Bundle.entry[1].resource.lifecycleStatus" in expressions(issues)
    # One writing transaction: the refusal's AuditEvent. The Bundle itself took none.
    assert probe.opened - before == 1
    found = client.get(f"/fhir/Patient?identifier={SID}|{value}").json()
    assert found.get("entry", []) == []


def _discharge() -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(DISCHARGE.read_text())
    return bundle


def test_references_between_entries_are_validated_as_what_they_become(
    probed: tuple[TestClient, WriteProbe],
) -> None:
    client, _ = probed
    # Profiled resources (transition-careplan, path-questionnaireresponse) name the Patient
    # entry by its urn:uuid: they pass before the Patient exists, and are written resolved.
    response = client.post("/fhir", json=_discharge(), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    locations = [e["response"]["location"] for e in response.json()["entry"]]
    patient_ref = "/".join(locations[0].split("/")[:2])
    plan = client.get(f"/fhir/{'/'.join(locations[9].split('/')[:2])}").json()
    assert plan["subject"] == {"reference": patient_ref}


def test_a_reference_to_the_wrong_type_is_refused_before_writing(
    probed: tuple[TestClient, WriteProbe],
) -> None:
    client, probe = probed
    bundle = _discharge()
    plan = bundle["entry"][9]["resource"]
    assert plan["resourceType"] == "CarePlan"
    plan["subject"] = {"reference": bundle["entry"][3]["fullUrl"]}  # a Practitioner
    before = probe.opened
    issues = assert_outcome(client.post("/fhir", json=bundle, headers=FHIR_JSON), 422)
    assert any(e.startswith("Bundle.entry[9].resource.subject") for e in expressions(issues))
    assert probe.opened - before == 1  # the refusal's AuditEvent only


def test_an_entry_naming_no_entry_is_reported_by_the_transaction(
    probed: tuple[TestClient, WriteProbe],
) -> None:
    client, _ = probed
    bundle = bundle_of("transaction", entry(goal(f"urn:uuid:{fresh()}"), "POST", "Goal"))
    issues = assert_outcome(client.post("/fhir", json=bundle, headers=FHIR_JSON), 400)
    assert any("names no entry of this Bundle" in i["diagnostics"] for i in issues)
