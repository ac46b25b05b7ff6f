"""AuditEvents (IHE BALP patterns): built for every kind of interaction and valid R4."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

from adapter.fhir.errors import Code, FhirError, has_errors
from adapter.security.audit import (
    INTERACTIONS,
    AuditSource,
    build_audit_event,
    check_audit_interaction,
    outcome_code,
    restful_interaction,
)
from adapter.security.scopes import ScopeSet
from adapter.security.settings import HPR_NUMBER_CLAIM, PID_CLAIM
from adapter.security.tokens import Principal
from adapter.validation.validator import validate

from .conftest import KOMMUNE_A

SOURCE = AuditSource("forlop@fhir.test.example", "https://fhir.test.example/fhir")
WHEN = datetime(2026, 3, 15, 10, 30, 5, 123456, tzinfo=UTC)
SYNTHETIC_FNR = "15833812340"


def principal(**user: str) -> Principal:
    return Principal(
        client_id="dips-arena",
        organisation=KOMMUNE_A,
        scopes=ScopeSet.parse("system/CarePlan.rs"),
        subject="sub-123",
        token_id="jti-42",
        user=MappingProxyType(dict(user)),
    )


def agents_by_type(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["type"]["coding"][0]["code"]: a for a in event["agent"]}


def assert_valid(event: dict[str, Any]) -> None:
    issues = validate(event)
    assert not has_errors(issues), [i.diagnostics for i in issues]


@pytest.mark.parametrize("interaction", sorted(INTERACTIONS))
@pytest.mark.parametrize("status", [200, 201, 403, 404, 500, 503])
def test_every_interaction_and_outcome_gives_a_valid_audit_event(
    interaction: str, status: int
) -> None:
    event = build_audit_event(
        interaction=interaction,
        status=status,
        recorded=WHEN,
        source=SOURCE,
        principal=principal(),
        client_address="10.1.2.3",
        resources=["CarePlan/cp1/_history/2"],
        patients=["Patient/anna"],
        query="patient=Patient/anna" if interaction.startswith("search") else None,
        description=None if status < 400 else "refused",
    )
    assert_valid(event)
    assert event["subtype"][0] == {
        "system": "http://hl7.org/fhir/restful-interaction",
        "code": interaction,
        "display": interaction,
    }
    assert event["action"] == INTERACTIONS[interaction]
    assert event["outcome"] == outcome_code(status)


@pytest.mark.parametrize(
    ("interaction", "action"),
    [
        ("create", "C"),
        ("read", "R"),
        ("vread", "R"),
        ("update", "U"),
        ("patch", "U"),
        ("delete", "D"),
        ("search-type", "E"),
        ("operation", "E"),
    ],
)
def test_actions(interaction: str, action: str) -> None:
    assert INTERACTIONS[interaction] == action


@pytest.mark.parametrize(
    ("status", "code"),
    [(200, "0"), (304, "0"), (400, "4"), (401, "4"), (404, "4"), (500, "8"), (503, "12")],
)
def test_outcomes(status: int, code: str) -> None:
    assert outcome_code(status) == code


def test_a_search_records_who_what_when_and_from_where() -> None:
    query = "patient=Patient/anna&_include=CarePlan:goal"
    event = build_audit_event(
        interaction="search-type",
        status=200,
        recorded=WHEN,
        source=SOURCE,
        principal=principal(**{HPR_NUMBER_CLAIM: "9144900", PID_CLAIM: SYNTHETIC_FNR}),
        client_address="10.1.2.3",
        resources=["CarePlan/cp1/_history/2", "Goal/g1/_history/1"],
        patients=["Patient/anna", "Patient/anna"],
        query=query,
    )
    assert_valid(event)
    assert event["type"]["code"] == "rest"
    assert event["recorded"] == "2026-03-15T10:30:05.123Z"
    agents = agents_by_type(event)
    user = agents["UserOauthAgent"]
    assert user["requestor"] is True
    assert user["who"]["identifier"] == {
        "system": "urn:oid:2.16.578.1.12.4.1.4.4",
        "value": "9144900",
    }
    assert user["policy"] == ["jti-42"]
    assert user["altId"] == "sub-123"
    client = agents["110153"]
    assert client["who"]["identifier"]["value"] == "dips-arena"
    assert client["network"] == {"address": "10.1.2.3", "type": "2"}
    assert client["requestor"] is False
    organisation = agents["PROV"]
    assert organisation["who"]["identifier"] == {
        "system": "urn:oid:2.16.578.1.12.4.1.4.101",
        "value": KOMMUNE_A,
    }
    server = agents["110152"]
    assert server["network"] == {"address": SOURCE.base_url, "type": "5"}
    assert event["source"]["observer"]["display"] == SOURCE.observer
    patients = [e for e in event["entity"] if e.get("role", {}).get("code") == "1"]
    assert [p["what"] for p in patients] == [{"reference": "Patient/anna"}]
    resources = [
        e["what"]["reference"] for e in event["entity"] if e.get("role", {}).get("code") == "4"
    ]
    assert resources == ["CarePlan/cp1/_history/2", "Goal/g1/_history/1"]
    (query_entity,) = [e for e in event["entity"] if "query" in e]
    assert base64.b64decode(query_entity["query"]).decode() == query
    assert query_entity["role"]["code"] == "24"


def test_a_user_known_by_person_number_only() -> None:
    event = build_audit_event(
        interaction="read",
        status=200,
        recorded=WHEN,
        source=SOURCE,
        principal=principal(**{PID_CLAIM: SYNTHETIC_FNR}),
    )
    assert_valid(event)
    user = agents_by_type(event)["UserOauthAgent"]
    assert user["who"]["identifier"] == {
        "system": "urn:oid:2.16.578.1.12.4.1.4.1",
        "value": SYNTHETIC_FNR,
    }


def test_a_system_client_is_its_own_requestor() -> None:
    event = build_audit_event(
        interaction="create", status=201, recorded=WHEN, source=SOURCE, principal=principal()
    )
    user = agents_by_type(event)["UserOauthAgent"]
    assert user["who"]["identifier"]["value"] == "dips-arena"
    assert "entity" not in event


def test_a_refused_request_without_a_token() -> None:
    event = build_audit_event(
        interaction="read",
        status=401,
        recorded=WHEN,
        source=SOURCE,
        principal=None,
        client_address="192.0.2.7",
        description="The access token has expired.",
    )
    assert_valid(event)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "The access token has expired."
    (caller, server) = event["agent"]
    assert caller["requestor"] is True
    assert caller["network"]["address"] == "192.0.2.7"
    assert server["requestor"] is False


def test_an_operation_names_itself_and_its_definition() -> None:
    event = build_audit_event(
        interaction="operation",
        status=200,
        recorded=WHEN,
        source=SOURCE,
        principal=principal(),
        resources=["QuestionnaireResponse/qr1"],
        operation="$extract",
        operation_definition="http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract",
    )
    assert_valid(event)
    (named,) = [e for e in event["entity"] if "name" in e]
    assert named["name"] == "$extract"
    assert named["description"].endswith("QuestionnaireResponse-extract")


def test_a_patient_named_by_identifier_becomes_an_identifier_reference() -> None:
    key = f"Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1|{SYNTHETIC_FNR}"
    event = build_audit_event(
        interaction="read", status=200, recorded=WHEN, source=SOURCE, principal=None, patients=[key]
    )
    assert_valid(event)
    assert event["entity"][0]["what"] == {
        "type": "Patient",
        "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": SYNTHETIC_FNR},
    }


def test_recorded_times_are_utc_instants() -> None:
    oslo = timezone(timedelta(hours=1))
    event = build_audit_event(
        interaction="read",
        status=200,
        recorded=datetime(2026, 3, 15, 11, 30, tzinfo=oslo),
        source=SOURCE,
        principal=None,
    )
    assert event["recorded"] == "2026-03-15T10:30:00.000Z"


def test_unknown_interactions_are_refused() -> None:
    with pytest.raises(ValueError):
        build_audit_event(
            interaction="search", status=200, recorded=WHEN, source=SOURCE, principal=None
        )


@pytest.mark.parametrize(
    ("interaction", "resource_type", "code"),
    [
        ("search", "CarePlan", "search-type"),
        ("search", None, "search-system"),
        ("history", "CarePlan", "history-type"),
        ("history", None, "history-system"),
        ("history-instance", "CarePlan", "history-instance"),
        ("operation:$everything", "Patient", "operation"),
        ("read", "CarePlan", "read"),
        ("transaction", None, "transaction"),
    ],
)
def test_restful_interaction_codes(interaction: str, resource_type: str | None, code: str) -> None:
    assert restful_interaction(interaction, resource_type) == code


def test_restful_interaction_refuses_unknown_names() -> None:
    with pytest.raises(ValueError):
        restful_interaction("frobnicate", "CarePlan")


@pytest.mark.parametrize("interaction", ["create", "update", "patch", "delete"])
def test_audit_events_are_append_only(interaction: str) -> None:
    with pytest.raises(FhirError) as caught:
        check_audit_interaction(interaction)
    assert caught.value.status == 405
    assert caught.value.issues[0].forlop_code is Code.METHOD_NOT_ALLOWED


@pytest.mark.parametrize("interaction", ["read", "vread", "search", "history"])
def test_other_interactions_on_audit_events_pass(interaction: str) -> None:
    check_audit_interaction(interaction)
