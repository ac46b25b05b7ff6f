"""POST /plo: a PLO message in, its AppRec out; bad messages store nothing."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from lxml import etree

PLO = Path(__file__).resolve().parents[2] / "fixtures" / "plo"
APPREC = "{http://www.kith.no/xmlstds/apprec/2012-02-15}"
XML = {"content-type": "application/xml"}


def _status(receipt: bytes) -> str:
    root = etree.fromstring(receipt)
    status = root.find(f"{APPREC}Status")
    assert status is not None
    return str(status.get("V"))


def test_a_message_is_imported_and_answered_with_a_positive_apprec(client: TestClient) -> None:
    body = (PLO / "messages" / "log-innlagt.xml").read_bytes()
    first = client.post("/plo", content=body, headers=XML)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/xml")
    assert _status(first.content) == "1"
    again = client.post("/plo", content=body, headers=XML)
    assert again.status_code == 200
    assert _status(again.content) == "1"


def test_a_bad_message_gets_a_negative_apprec_and_a_4xx(client: TestClient) -> None:
    body = (PLO / "bad" / "ukjent-meldingstype.xml").read_bytes()
    response = client.post("/plo", content=body, headers=XML)
    assert 400 <= response.status_code < 500
    assert _status(response.content) == "2"


def test_plo_takes_xml_only(client: TestClient) -> None:
    response = client.post("/plo", content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"
