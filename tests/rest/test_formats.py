"""FHIR JSON and FHIR XML in and out of the server (FHIR R4 §3.1.0.1.7 content types and
encodings, ``_format``, §3.1.0.1.8 ``_pretty``): XML bodies are stored as the same resource as
their JSON form, answers come in the format asked for by ``_format`` (which wins) or ``Accept``,
errors too, and a body in any other media type is 415.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from adapter.fhir.json_codec import parse_json
from adapter.fhir.xml_codec import parse_xml

FHIR_JSON = {"content-type": "application/fhir+json"}
FHIR_XML = {"content-type": "application/fhir+xml"}
SID = "http://forlop.no/fhir/sid/rest-test"


def fresh() -> str:
    return str(uuid.uuid4())


def patient_xml(value: str, family: str = "Ærlig-Østby") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Patient xmlns="http://hl7.org/fhir">'
        f'<identifier><system value="{SID}"/><value value="{value}"/></identifier>'
        f'<name><family value="{family}"/><given value="Åse"/></name>'
        '<birthDate value="1938-03-15"/>'
        "</Patient>"
    ).encode()


def as_json(response: Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    parsed: dict[str, Any] = parse_json(response.content)
    return parsed


def as_xml(response: Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/fhir+xml; charset=utf-8"
    assert response.content.startswith(b"<?xml")
    return parse_xml(response.content)


def test_an_xml_body_is_stored_as_its_json_form(client: TestClient) -> None:
    value = fresh()
    created = client.post("/fhir/Patient", content=patient_xml(value), headers=FHIR_XML)
    assert created.status_code == 201, created.text
    resource = as_json(created)
    assert resource["name"] == [{"family": "Ærlig-Østby", "given": ["Åse"]}]
    assert resource["identifier"] == [{"system": SID, "value": value}]
    read = as_json(client.get(f"/fhir/Patient/{resource['id']}"))
    assert read == resource


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"_format": "xml"}, {}),
        ({"_format": "application/fhir+xml"}, {}),
        ({}, {"accept": "application/fhir+xml"}),
        ({}, {"accept": "application/xml"}),
        ({"_format": "xml"}, {"accept": "application/fhir+json"}),
    ],
    ids=["format-xml", "format-media-type", "accept", "accept-plain-xml", "format-wins"],
)
def test_xml_out_on_request(
    client: TestClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    value = fresh()
    created = client.post("/fhir/Patient", content=patient_xml(value), headers=FHIR_XML)
    rid = as_json(created)["id"]
    read = client.get(f"/fhir/Patient/{rid}", params=params, headers=headers)
    assert read.status_code == 200
    assert as_xml(read) == as_json(client.get(f"/fhir/Patient/{rid}"))
    assert read.headers["etag"] == 'W/"1"'


def test_json_wins_when_asked_for(client: TestClient) -> None:
    created = client.post("/fhir/Patient", content=patient_xml(fresh()), headers=FHIR_XML)
    rid = as_json(created)["id"]
    for params, headers in (
        ({"_format": "json"}, {"accept": "application/fhir+xml"}),
        ({}, {"accept": "text/html"}),
        ({}, {}),
    ):
        assert (
            as_json(client.get(f"/fhir/Patient/{rid}", params=params, headers=headers))["id"] == rid
        )


def test_xml_in_and_out_on_every_write(client: TestClient) -> None:
    value = fresh()
    created = client.post(
        "/fhir/Patient", params={"_format": "xml"}, content=patient_xml(value), headers=FHIR_XML
    )
    assert created.status_code == 201
    resource = as_xml(created)
    rid = resource["id"]
    update = patient_xml(value, family="Nyquist").replace(
        b'<Patient xmlns="http://hl7.org/fhir">',
        f'<Patient xmlns="http://hl7.org/fhir"><id value="{rid}"/>'.encode(),
    )
    updated = client.put(
        f"/fhir/Patient/{rid}",
        content=update,
        headers={**FHIR_XML, "accept": "application/fhir+xml"},
    )
    assert updated.status_code == 200, updated.text
    assert as_xml(updated)["name"][0]["family"] == "Nyquist"
    assert as_xml(updated)["meta"]["versionId"] == "2"
    found = client.get("/fhir/Patient", params={"identifier": f"{SID}|{value}", "_format": "xml"})
    bundle = as_xml(found)
    assert bundle["resourceType"] == "Bundle"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [rid]
    history = as_xml(client.get(f"/fhir/Patient/{rid}/_history", params={"_format": "xml"}))
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']


def test_a_transaction_in_xml(client: TestClient) -> None:
    value = fresh()
    urn = f"urn:uuid:{fresh()}"
    bundle = (
        '<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/>'
        f'<entry><fullUrl value="{urn}"/><resource>'
        + patient_xml(value).decode().split("?>", 1)[1]
        + '</resource><request><method value="POST"/><url value="Patient"/></request></entry>'
        "<entry><resource><Goal>"
        f'<identifier><system value="{SID}"/><value value="{value}"/></identifier>'
        '<lifecycleStatus value="active"/>'
        '<description><text value="Gå til postkassen"/></description>'
        f'<subject><reference value="{urn}"/></subject>'
        '</Goal></resource><request><method value="POST"/><url value="Goal"/></request></entry>'
        "</Bundle>"
    )
    response = client.post(
        "/fhir", params={"_format": "xml"}, content=bundle.encode(), headers=FHIR_XML
    )
    assert response.status_code == 200, response.text
    answer = as_xml(response)
    assert answer["type"] == "transaction-response"
    patient_location, goal_location = (e["response"]["location"] for e in answer["entry"])
    goal = as_json(client.get(f"/fhir/{goal_location.rsplit('/_history', 1)[0]}"))
    assert goal["subject"]["reference"] == patient_location.rsplit("/_history", 1)[0]
    assert goal["description"]["text"] == "Gå til postkassen"


def test_pretty_printing(client: TestClient) -> None:
    created = client.post("/fhir/Patient", content=patient_xml(fresh()), headers=FHIR_XML)
    rid = as_json(created)["id"]
    url = f"/fhir/Patient/{rid}"
    compact = client.get(url)
    pretty = client.get(url, params={"_pretty": "true"})
    assert b"\n" not in compact.content.strip()
    assert b'\n  "resourceType"' in pretty.content or b'\n  "' in pretty.content
    assert as_json(pretty) == as_json(compact)
    compact_xml = client.get(url, params={"_format": "xml", "_pretty": "false"})
    pretty_xml = client.get(url, params={"_format": "xml", "_pretty": "true"})
    assert b"\n  <id " in pretty_xml.content
    assert b"\n  <id " not in compact_xml.content
    assert as_xml(pretty_xml) == as_xml(compact_xml) == as_json(compact)


def test_decimals_keep_their_precision_in_both_formats(client: TestClient) -> None:
    value = fresh()
    observation = (
        b'{"resourceType": "Observation", "identifier": [{"system": "' + SID.encode() + b'", '
        b'"value": "' + value.encode() + b'"}], "status": "final", "code": {"text": "Vekt"}, '
        b'"valueQuantity": {"value": 61.50, "unit": "kg"}}'
    )
    created = client.post("/fhir/Observation", content=observation, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    assert b'"value":61.50' in created.content
    rid = as_json(created)["id"]
    xml = client.get(f"/fhir/Observation/{rid}", params={"_format": "xml"})
    assert b'<value value="61.50"/>' in xml.content
    assert as_xml(xml)["valueQuantity"]["value"] == Decimal("61.50")
    back = xml.content.replace(b'value="61.50"', b'value="62.250"')
    updated = client.put(f"/fhir/Observation/{rid}", content=back, headers=FHIR_XML)
    assert updated.status_code == 200, updated.text
    assert b'"value":62.250' in client.get(f"/fhir/Observation/{rid}").content


def test_errors_come_in_the_format_asked_for(client: TestClient) -> None:
    missing = client.get(f"/fhir/Patient/{fresh()}", params={"_format": "xml"})
    assert missing.status_code == 404
    outcome = as_xml(missing)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"
    bad = client.post(
        "/fhir/Patient",
        content=b'<Patient xmlns="http://hl7.org/fhir"><colour value="blue"/></Patient>',
        headers={**FHIR_XML, "accept": "application/fhir+xml"},
    )
    assert bad.status_code == 400
    assert as_xml(bad)["issue"][0]["expression"] == ["Patient.colour"]
    route = client.get("/fhir/Patient/a/b/c/d", headers={"accept": "application/fhir+xml"})
    assert route.status_code == 404
    assert as_xml(route)["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/json", b'{"resourceType": "Patient", "active": true}'),
        ("application/fhir+json; charset=utf-8", b'{"resourceType": "Patient", "active": true}'),
        (
            "application/xml",
            b'<Patient xmlns="http://hl7.org/fhir"><active value="true"/></Patient>',
        ),
        ("text/xml", b'<Patient xmlns="http://hl7.org/fhir"><active value="true"/></Patient>'),
    ],
)
def test_accepted_media_types(client: TestClient, content_type: str, content: bytes) -> None:
    created = client.post("/fhir/Patient", content=content, headers={"content-type": content_type})
    assert created.status_code == 201, created.text
    assert as_json(created)["active"] is True


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/octet-stream", "application/fhir+turtle", "multipart/form-data"],
)
def test_other_media_types_are_415(client: TestClient, content_type: str) -> None:
    value = fresh()
    response = client.post(
        "/fhir/Patient", content=patient_xml(value), headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert as_json(response)["issue"][0]["code"] == "not-supported"
    rid = as_json(client.post("/fhir/Patient", content=patient_xml(fresh()), headers=FHIR_XML))[
        "id"
    ]
    put = client.put(
        f"/fhir/Patient/{rid}", content=patient_xml(value), headers={"content-type": content_type}
    )
    assert put.status_code == 415
    found = client.get("/fhir/Patient", params={"identifier": f"{SID}|{value}"})
    assert as_json(found).get("entry", []) == []


def test_json_and_xml_answers_are_the_same_resource(client: TestClient) -> None:
    """The same stored resource in both encodings, for every kind of answer."""
    created = client.post("/fhir/Patient", content=patient_xml(fresh()), headers=FHIR_XML)
    rid = as_json(created)["id"]
    for url in (
        f"/fhir/Patient/{rid}",
        f"/fhir/Patient/{rid}/_history/1",
        f"/fhir/Patient?_id={rid}",
        "/fhir/metadata",
        f"/fhir/Patient/{rid}/$everything",
    ):
        json_answer = as_json(client.get(url))
        xml_answer = as_xml(client.get(url + ("&" if "?" in url else "?") + "_format=xml"))
        # links may carry _format on to the next page; the content must be the same
        xml_answer.pop("link", None)
        json_answer.pop("link", None)
        assert xml_answer == json_answer, url
