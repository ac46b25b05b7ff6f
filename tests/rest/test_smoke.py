"""The server answers over HTTP on each backend: metadata, a write, a read back."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

FHIR_JSON = {"content-type": "application/fhir+json"}


def test_metadata_names_fhir_r4(client: TestClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["fhirVersion"] == "4.0.1"


def test_create_then_read(client: TestClient) -> None:
    goal = {
        "resourceType": "Goal",
        "identifier": [{"system": "urn:test", "value": str(uuid.uuid4())}],
        "lifecycleStatus": "active",
        "description": {"text": "Gå i trapper"},
        "subject": {"display": "Testperson"},
    }
    created = client.post("/fhir/Goal", json=goal, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert created.headers["etag"] == 'W/"1"'
    read = client.get(location.split("/_history")[0])
    assert read.status_code == 200
    assert read.json()["description"]["text"] == "Gå i trapper"
