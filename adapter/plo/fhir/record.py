"""The record of a message itself: a DocumentReference holding the original, a Provenance tying
everything the message wrote to its MsgId, and the marks a change or cancellation leaves on what
earlier versions of the document created.

- **DocumentReference**: ``masterIdentifier`` the MsgId, ``identifier`` the document key (sender,
  receiver, patient, type, IssueDate); ``type`` the message type; ``category`` the content type
  (TypeInnhold); the original bytes as ``content[0]`` (``application/xml``, with size and SHA-1)
  and, when the readers left parts unstructured, their text as ``content[1]``
  (``text/plain; charset=utf-8``). ``docStatus`` final (N), amended (M) or entered-in-error (C);
  an earlier version becomes ``superseded`` after a change and ``entered-in-error`` after a
  cancellation, and ``relatesTo`` says which one this replaces.
- **Provenance**: target = every resource the Bundle writes, ``activity`` from the
  forsendelsesstatus (CREATE, UPDATE, NULLIFY via ``ConceptMap/plo-forsendelsesstatus-activity``),
  the sender as author, the receiver as custodian, the DocumentReference as source and earlier
  versions as revised (M) or removed (C).
- **entered-in-error**: what an earlier version created and this version no longer has (or all of
  it, for a cancellation) gets its type's entered-in-error status; nothing is deleted.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from adapter.plo.fhir.assembly import Known
from adapter.plo.fhir.keys import SID

__all__ = ["attachment_hash", "document_reference", "entered_in_error", "provenance"]

Reference = dict[str, str]
V3_DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
MESSAGE_TYPES = "http://forlop.no/fhir/CodeSystem/plo-message-type"
_DOC_STATUS = {"N": "final", "M": "amended", "C": "entered-in-error"}
# The element holding each type's status, where entered-in-error is one of its codes.
_STATUS_FIELD = {
    "Observation": "status",
    "Goal": "lifecycleStatus",
    "Appointment": "status",
    "CareTeam": "status",
    "CarePlan": "status",
    "Communication": "status",
    "DocumentReference": "status",
}


def attachment_hash(data: bytes) -> str:
    """Attachment.hash (base64 SHA-1, as FHIR R4 defines it): how a re-import of a MsgId is
    recognised as the same bytes."""
    return base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def _attachment(data: bytes, content_type: str, title: str) -> dict[str, Any]:
    return {
        "contentType": content_type,
        "data": base64.b64encode(data).decode("ascii"),
        "size": len(data),
        "hash": attachment_hash(data),
        "title": title,
    }


def document_reference(
    *,
    raw: bytes,
    envelope_version: str | None,
    leftovers: str,
    msg_id: str,
    document: str,
    status: str,
    message_type: tuple[str, str],
    category: dict[str, Any] | None,
    description: str,
    date: str,
    patient: Reference,
    authors: list[Reference],
    custodian: Reference,
    encounter: Reference | None,
    replaces: list[Reference],
    related: list[dict[str, Any]],
) -> dict[str, Any]:
    code, display = message_type
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": SID.MSGID, "value": msg_id},
        "identifier": [{"system": SID.DOCUMENT, "value": document}],
        "status": "current",
        "docStatus": _DOC_STATUS[status],
        "type": {"coding": [{"system": MESSAGE_TYPES, "code": code, "display": display}]},
    }
    if category:
        resource["category"] = [category]
    resource["subject"] = patient
    resource["date"] = date
    resource["author"] = authors
    resource["custodian"] = custodian
    if replaces:
        resource["relatesTo"] = [{"code": "replaces", "target": ref} for ref in replaces]
    resource["description"] = description
    original: dict[str, Any] = {
        "attachment": _attachment(raw, "application/xml", f"{display} {msg_id}")
    }
    if envelope_version:
        original["format"] = {"display": f"MsgHead {envelope_version}"}
    content = [original]
    if leftovers:
        content.append(
            {
                "attachment": _attachment(
                    leftovers.encode("utf-8"),
                    "text/plain; charset=utf-8",
                    "Innhold som ikke er strukturert",
                )
            }
        )
    resource["content"] = content
    context: dict[str, Any] = {}
    if encounter is not None:
        context["encounter"] = [encounter]
    if related:
        context["related"] = related
    if context:
        resource["context"] = context
    return resource


def provenance(
    *,
    targets: list[Reference],
    recorded: str,
    occurred: str,
    activity: str,
    author: Reference,
    custodian: Reference,
    source: Reference,
    earlier: list[Reference],
    status: str,
) -> dict[str, Any]:
    entity = [{"role": "source", "what": source}]
    role = "removal" if status == "C" else "revision"
    entity += [{"role": role, "what": ref} for ref in earlier]
    return {
        "resourceType": "Provenance",
        "target": targets,
        "occurredDateTime": occurred,
        "recorded": recorded,
        "activity": {"coding": [{"system": V3_DATA_OPERATION, "code": activity}]},
        "agent": [
            {"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author"}]}, "who": author},
            {
                "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "custodian"}]},
                "who": custodian,
            },
        ],
        "entity": entity,
    }


def entered_in_error(known: Known) -> dict[str, Any] | None:
    """The resource marked entered-in-error, or None when its type has no such status (then the
    resource is left as it is) or it is marked already."""
    resource = {k: v for k, v in known.resource.items() if k not in ("meta", "text")}
    if known.type == "Condition":
        verification = resource.get("verificationStatus") or {}
        if any(c.get("code") == "entered-in-error" for c in verification.get("coding") or []):
            return None
        resource.pop("clinicalStatus", None)  # con-5: no clinical status when entered in error
        resource["verificationStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "entered-in-error",
                }
            ]
        }
        return resource
    if known.type not in _STATUS_FIELD:
        return None
    field = _STATUS_FIELD[known.type]
    if resource.get(field) == "entered-in-error":
        return None
    resource[field] = "entered-in-error"
    return resource
