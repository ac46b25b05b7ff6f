"""Stable keys for what a PLO message creates: identifier systems, UUIDs and the document key.

Everything forlop writes for a message is found again by an identifier it derives from the message,
so importing it twice, or a change after it, lands on the same resources:

- ``plo-msgid``: the MsgId of one message (DocumentReference.masterIdentifier);
- ``plo-document``: the *document* a message is a version of. DOMAIN.md: a change or cancellation
  has a new MsgId and names the document by sender, receiver, patient, message type and
  ``RefDoc/IssueDate``; the key is a UUID v5 of those five (the patient's number is not readable
  from it);
- ``plo-item``: one resource a document created (a diagnosis, an IPLOS score ...), a UUID v5 of the
  document key and what the item is;
- ``plo-stay`` / ``plo-stay-of``: a hospital stay, and the patient at an institution (to find the
  open stay when a message does not say when the patient was admitted);
- ``plo-related-person``: a next of kin of one patient;
- ``plo-local-id``: an identifier whose type has no national system (a department's local code),
  scoped by the HER-id of the sender that issued it.
"""

from __future__ import annotations

import uuid

from adapter.plo.model import Organisation

__all__ = [
    "SID",
    "document_key",
    "extension_url",
    "party",
    "stable_id",
]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://forlop.no/fhir/sid/plo")
HER = "HER"


def _sid(name: str) -> str:
    return f"http://forlop.no/fhir/sid/{name}"


class SID:
    """forlop's identifier systems for PLO data."""

    MSGID = _sid("plo-msgid")
    DOCUMENT = _sid("plo-document")
    ITEM = _sid("plo-item")
    STAY = _sid("plo-stay")
    STAY_OF = _sid("plo-stay-of")
    RELATED_PERSON = _sid("plo-related-person")
    LOCAL = _sid("plo-local-id")


def extension_url(name: str) -> str:
    """forlop's extension for PLO data that FHIR R4 has no element for."""
    return f"http://forlop.no/fhir/StructureDefinition/plo-{name}"


def stable_id(*parts: str) -> str:
    """A UUID v5 of the parts: the same parts always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def party(organisation: Organisation) -> str:
    """The communication party of an Organisation chain: the most specific HER-id in it (a
    department, or a professional at the end of the chain), else the first identifier of the
    most specific organisation that has one, else its name."""
    chain: list[Organisation] = []
    node: Organisation | None = organisation
    while node is not None:
        chain.append(node)
        node = node.unit
    candidates = []
    for org in chain:
        candidates += [f"{i.type.v}:{i.id}" for i in org.idents if i.type.v == HER]
        if org.professional is not None:
            candidates += [
                f"{i.type.v}:{i.id}" for i in org.professional.person.idents if i.type.v == HER
            ]
    if candidates:
        return candidates[-1]
    for org in reversed(chain):
        if org.idents:
            return f"{org.idents[0].type.v}:{org.idents[0].id}"
    return f"name:{chain[-1].name or ''}"


def document_key(
    sender: Organisation,
    receiver: Organisation,
    patient: tuple[str, str],
    message_type: str,
    document_date: str,
) -> str:
    """The document key: a UUID v5 of sender, receiver, patient, message type and IssueDate."""
    return stable_id(
        "document", party(sender), party(receiver), *patient, message_type, document_date
    )
