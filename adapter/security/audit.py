"""AuditEvent records of every interaction (FHIR R4 AuditEvent, following IHE Basic Audit Log
Patterns (BALP) for RESTful interactions and OAuth-authorised requests).

Each record says:

- **what kind**: ``type`` ``audit-event-type#rest`` and ``subtype`` the
  ``restful-interaction`` code (read, create, search-type, operation, …); ``action`` C/R/U/D/E;
- **when**: ``recorded``; **outcome**: 0 success, 4 minor failure (the request was refused or
  wrong: 4xx), 8 serious failure (the server failed: 5xx), 12 major failure (the service was
  unavailable: 503), with ``outcomeDesc``;
- **who**: the requestor (BALP ``UserOauthAgent``: the person of a user token, by HPR number or
  person number, else the client; ``policy`` holds the token id ``jti``), the client application
  (DICOM "Source Role ID", with its network address), the caller's organisation (by organisation
  number) and this server (DICOM "Destination Role ID"; BALP names the client the source of a
  RESTful request and the server its destination, whichever way the data flows);
- **what**: an entity per resource (``Type/id/_history/v``), per patient concerned (role Patient,
  which is what the AuditEvent ``patient`` search parameter finds), the query (``query`` holds the
  base64 of the query string, as BALP asks) and, for an operation, its name;
- **observer**: ``source`` is this server.

AuditEvents are append-only and written by this server alone: :func:`check_audit_interaction`
refuses create, update, patch and delete of them with 405.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapter.fhir.errors import method_not_allowed
from adapter.security.policy import ORGNR_SYSTEM
from adapter.security.tokens import Principal

AUDIT_EVENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION_SYSTEM = "http://hl7.org/fhir/restful-interaction"
DCM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
BALP_USER_AGENT_SYSTEM = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes"
ROLE_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
ENTITY_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/security-source-type"
CLIENT_ID_SYSTEM = "http://forlop.no/fhir/sid/oauth-client-id"
SERVER_ID_SYSTEM = "http://forlop.no/fhir/sid/server"
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"

# restful-interaction code -> AuditEvent.action
INTERACTIONS: dict[str, str] = {
    "read": "R",
    "vread": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "history-instance": "R",
    "history-type": "E",
    "history-system": "E",
    "create": "C",
    "search-type": "E",
    "search-system": "E",
    "capabilities": "E",
    "transaction": "E",
    "batch": "E",
    "operation": "E",
}

# AuditEvents are written by this server only, and never changed: these interactions on them
# answer 405.
AUDIT_REFUSED_INTERACTIONS = frozenset({"create", "update", "patch", "delete"})


@dataclass(frozen=True)
class AuditSource:
    """This server as the observer of the events it records."""

    observer: str  # a stable name of this server (instance), e.g. "forlop@fhir.example.no"
    base_url: str  # the FHIR base URL clients use


def restful_interaction(interaction: str, resource_type: str | None) -> str:
    """The restful-interaction code of an interaction named as :mod:`adapter.security.scopes`
    names it (``search`` on a type is ``search-type``, ``operation:$x`` is ``operation``, …)."""
    if interaction.startswith("operation:"):
        return "operation"
    level = "type" if resource_type else "system"
    if interaction in ("search", "history"):
        return f"{interaction}-{level}"
    if interaction not in INTERACTIONS:
        raise ValueError(f"'{interaction}' is not a FHIR interaction.")
    return interaction


def outcome_code(status: int) -> str:
    """AuditEvent.outcome for an HTTP status."""
    if status < 400:
        return "0"
    if status < 500:
        return "4"
    return "12" if status == 503 else "8"


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    return coding


def _instant(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _requestor(
    principal: Principal | None, client_address: str | None, organisation_reference: str | None
) -> list[dict[str, Any]]:
    """The requestor, the client application and the organisation agents."""
    network = {"network": {"address": client_address, "type": "2"}} if client_address else {}
    if principal is None:
        return [
            {
                "type": {"coding": [_coding(DCM_SYSTEM, "110153", "Source Role ID")]},
                "who": {"display": "unauthenticated caller"},
                "requestor": True,
                **network,
            }
        ]
    client_who = {
        "identifier": {"system": CLIENT_ID_SYSTEM, "value": principal.client_id},
        "display": principal.client_id,
    }
    user: dict[str, Any] = {
        "type": {"coding": [_coding(BALP_USER_AGENT_SYSTEM, "UserOauthAgent", "User OAuth Agent")]},
        "requestor": True,
    }
    if principal.hpr_number:
        user["who"] = {"identifier": {"system": HPR_SYSTEM, "value": principal.hpr_number}}
    elif principal.pid:
        user["who"] = {"identifier": {"system": FNR_SYSTEM, "value": principal.pid}}
    else:
        user["who"] = client_who
    if principal.subject:
        user["altId"] = principal.subject
    if principal.token_id:
        user["policy"] = [principal.token_id]
    agents = [
        user,
        {
            "type": {"coding": [_coding(DCM_SYSTEM, "110153", "Source Role ID")]},
            "who": client_who,
            "requestor": False,
            **network,
        },
    ]
    if principal.organisation:
        agents.append(
            {
                "type": {"coding": [_coding(ROLE_CLASS_SYSTEM, "PROV", "healthcare provider")]},
                "who": {
                    **({"reference": organisation_reference} if organisation_reference else {}),
                    "identifier": {"system": ORGNR_SYSTEM, "value": principal.organisation},
                    "type": "Organization",
                },
                "requestor": False,
            }
        )
    return agents


def _patient_reference(key: str) -> dict[str, Any]:
    """A Reference for a patient key of :func:`adapter.security.policy.patients_of`."""
    prefix = "Patient?identifier="
    if key.startswith(prefix):
        system, _, value = key.removeprefix(prefix).partition("|")
        return {"type": "Patient", "identifier": {"system": system, "value": value}}
    return {"reference": key}


def _entities(
    resources: Sequence[str],
    patients: Iterable[str],
    query: str | None,
    operation: str | None,
    operation_definition: str | None,
) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = [
        {
            "what": _patient_reference(patient),
            "type": _coding(ENTITY_TYPE_SYSTEM, "1", "Person"),
            "role": _coding(OBJECT_ROLE_SYSTEM, "1", "Patient"),
        }
        for patient in sorted(set(patients))
    ]
    entities += [
        {
            "what": {"reference": reference},
            "type": _coding(ENTITY_TYPE_SYSTEM, "2", "System Object"),
            "role": _coding(OBJECT_ROLE_SYSTEM, "4", "Domain Resource"),
        }
        for reference in resources
    ]
    if query:
        entities.append(
            {
                "type": _coding(ENTITY_TYPE_SYSTEM, "2", "System Object"),
                "role": _coding(OBJECT_ROLE_SYSTEM, "24", "Query"),
                "query": base64.b64encode(query.encode("utf-8")).decode("ascii"),
            }
        )
    if operation:
        entity: dict[str, Any] = {
            "type": _coding(ENTITY_TYPE_SYSTEM, "2", "System Object"),
            "name": operation,
        }
        if operation_definition:
            entity["description"] = operation_definition
        entities.append(entity)
    return entities


def build_audit_event(
    *,
    interaction: str,
    status: int,
    recorded: datetime,
    source: AuditSource,
    principal: Principal | None,
    client_address: str | None = None,
    resources: Sequence[str] = (),
    patients: Iterable[str] = (),
    query: str | None = None,
    operation: str | None = None,
    operation_definition: str | None = None,
    description: str | None = None,
    organisation_reference: str | None = None,
) -> dict[str, Any]:
    """An R4 AuditEvent (JSON form, without id) for one interaction and its answer.

    ``interaction`` is a ``restful-interaction`` code (see :data:`INTERACTIONS`); ``principal``
    None records a request refused before a token was accepted. ``resources`` are the references
    (``Type/id`` or ``Type/id/_history/v``) read or written, ``patients`` the patient keys they
    belong to (``Patient/id`` or ``Patient?identifier=system|value``), ``query`` the raw query
    string without ``?``, ``description`` the reason of a failure, ``organisation_reference``
    the ``Organization/id`` of the caller's organisation when this server holds it (so that the
    ``agent`` search parameter finds the event by it).
    """
    try:
        action = INTERACTIONS[interaction]
    except KeyError:
        raise ValueError(f"'{interaction}' is not a restful-interaction code.") from None
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _coding(AUDIT_EVENT_TYPE_SYSTEM, "rest", "Restful Operation"),
        "subtype": [_coding(RESTFUL_INTERACTION_SYSTEM, interaction, interaction)],
        "action": action,
        "recorded": _instant(recorded),
        "outcome": outcome_code(status),
    }
    if description:
        event["outcomeDesc"] = description
    server = {
        "type": {"coding": [_coding(DCM_SYSTEM, "110152", "Destination Role ID")]},
        "who": {
            "identifier": {"system": SERVER_ID_SYSTEM, "value": source.observer},
            "display": source.observer,
        },
        "requestor": False,
        "network": {"address": source.base_url, "type": "5"},
    }
    event["agent"] = [*_requestor(principal, client_address, organisation_reference), server]
    event["source"] = {
        "observer": {
            "identifier": {"system": SERVER_ID_SYSTEM, "value": source.observer},
            "display": source.observer,
        },
        "type": [_coding(SOURCE_TYPE_SYSTEM, "4", "Application Server")],
    }
    entities = _entities(resources, patients, query, operation, operation_definition)
    if entities:
        event["entity"] = entities
    return event


def check_audit_interaction(interaction: str) -> None:
    """405 for a create, update, patch or delete of an AuditEvent: the audit trail is written
    by this server alone and is append-only."""
    if interaction in AUDIT_REFUSED_INTERACTIONS:
        raise method_not_allowed(
            f"AuditEvents are written by this server alone and never changed: it does not allow "
            f"{interaction} on them."
        )
