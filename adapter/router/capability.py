"""The CapabilityStatement (FHIR R4 §2.39), generated from what this server really implements.

Resource types, interactions, search parameters and operations are read from the same tables the
dispatcher and the search parser use, so the statement cannot promise what the code does not do.
"""

from __future__ import annotations

from typing import Any

from adapter.router.crud import READ_ONLY_TYPES
from adapter.router.dispatch import OPERATIONS
from adapter.search.parameters import SearchParameters

# The resource types of a care transition; any other R4 type is stored as well (base-validated).
SERVED_TYPES = (
    "Patient", "Encounter", "EpisodeOfCare", "Goal", "CarePlan", "CareTeam", "Observation",
    "QuestionnaireResponse", "Organization", "Practitioner", "PractitionerRole",
    "RelatedPerson", "Provenance",
)  # fmt: skip
# Written by this server alone, read and searched by clients with a scope naming them.
SERVER_WRITTEN_TYPES = ("AuditEvent",)
_WRITE = ("create", "update", "patch", "delete", "history-instance", "history-type")
_READ = ("read", "vread", "search-type")


_SECURITY = {
    "service": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR",
                }
            ]
        }
    ],
    "description": (
        "OAuth 2.0 bearer access tokens (JWT, RS256/ES256) from the configured issuer, as "
        "HelseID issues them. SMART v2 (and v1) scopes such as system/CarePlan.rs decide what a "
        "client may do; its organisation number decides whose patients it sees: those in whose "
        "care the organisation takes part. AuditEvent is read only with a scope naming it. Every "
        "interaction is recorded as an AuditEvent."
    ),
}


def capability_statement(
    base_url: str, parameters: SearchParameters, version: str, *, secured: bool = False
) -> dict[str, Any]:
    """The statement; ``secured`` when requests need bearer tokens (``rest.security``)."""
    resources = []
    for rtype in (*SERVED_TYPES, *sorted({*READ_ONLY_TYPES, *SERVER_WRITTEN_TYPES})):
        writable = rtype not in READ_ONLY_TYPES and rtype not in SERVER_WRITTEN_TYPES
        interactions = [*_READ, *(_WRITE if writable else ())]
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": writable,
            "conditionalCreate": writable,
            "conditionalUpdate": writable,
            "conditionalDelete": "single" if writable else "not-supported",
            "searchParam": [
                {"name": p.code, "definition": p.url, "type": p.type}
                for p in sorted(parameters.for_type(rtype).values(), key=lambda p: p.code)
            ],
        }
        operations = [
            {"name": name.lstrip("$"), "definition": op.definition}
            for (t, name), op in sorted(OPERATIONS.items(), key=lambda i: (i[0][0] or "", i[0][1]))
            if t in (rtype, None)
        ]
        if operations:
            entry["operation"] = operations
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "forlop",
        "kind": "instance",
        "software": {"name": "forlop", "version": version},
        "implementation": {
            "description": "forlop: PSFS goals and PaTH checklists for care transitions",
            "url": base_url,
        },
        "fhirVersion": "4.0.1",
        "format": ["json", "xml"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "FHIR R4 (4.0.1) on the wire; resources are modelled with the R4B (4.3.0) "
                    "classes, wire-compatible with R4 for every type served here. Writes are "
                    "validated against base R4 and against any forlop profile named in "
                    "meta.profile. Conformance resources are read-only."
                ),
                **({"security": _SECURITY} if secured else {}),
                "resource": resources,
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "search-system"},
                    {"code": "history-system"},
                ],
            }
        ],
    }
