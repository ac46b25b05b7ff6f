"""Stable identities and references for mapped resources (idempotent SDC-style extraction).

Every resource forlop derives gets an identifier computed from what it stands for (the patient and
activity key for a Goal, the assessment and activity for a score), so mapping or extracting the same
input twice names the same resources, and a transaction with conditional entries on those
identifiers changes nothing the second time (FHIR R4 §3.1.0.8 conditional update).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

SID = "http://forlop.no/fhir/sid/"
PSFS_ASSESSMENT = SID + "psfs-assessment"
PSFS_ACTIVITY = SID + "psfs-activity"
PSFS_SCORE = SID + "psfs-score"
PATH_RESPONSE = SID + "path-response"
TRANSITION_PLAN = SID + "transition-plan"

# Fixed namespace: changing it would rename every derived resource.
_NAMESPACE = uuid.UUID("6b1f0c3e-8d2a-5f47-9a55-0f0e8c1d2b7a")


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def urn(*parts: str) -> str:
    """A deterministic ``urn:uuid:`` fullUrl for a Bundle entry."""
    return "urn:uuid:" + stable_uuid(*parts)


def identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def conditional_reference(resource_type: str, system: str, value: str) -> str:
    """``Type?identifier=system|value``: resolved by the server inside a transaction."""
    return f"{resource_type}?identifier={system}|{value}"


def parse_conditional_reference(reference: str) -> tuple[str, str, str] | None:
    """(type, system, value) of a reference made by :func:`conditional_reference`, else None."""
    match = re.fullmatch(r"([A-Z][A-Za-z]+)\?identifier=([^|&]*)\|([^&]+)", reference)
    return (match[1], match[2], match[3]) if match else None


_TRANSLIT = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "Æ": "ae", "Ø": "o", "Å": "a"})


def activity_key(text: str) -> str:
    """A key for an activity named only by text: lower-case ASCII words joined by '-'."""
    folded = unicodedata.normalize("NFKD", text.translate(_TRANSLIT).lower())
    ascii_only = folded.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-") or "activity"


def identifier_value(resource: dict[str, Any], system: str) -> str | None:
    """The value of the resource's identifier in ``system`` (a list, or one Identifier as on
    QuestionnaireResponse)."""
    idents = resource.get("identifier")
    for ident in [idents] if isinstance(idents, dict) else idents or []:
        if isinstance(ident, dict) and ident.get("system") == system:
            value = ident.get("value")
            return value if isinstance(value, str) else None
    return None


class Resolver:
    """Finds the resources a reference names among a Bundle's entries.

    Understands ``urn:uuid`` fullUrls, ``Type/id`` (also absolute URLs ending in it) and the
    conditional ``Type?identifier=system|value`` references this package writes.
    """

    def __init__(self, entries: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        self._by_key: dict[str, dict[str, Any]] = {}
        self._all: list[dict[str, Any]] = []
        for full_url, resource in entries:
            self._all.append(resource)
            if full_url:
                self._by_key[full_url] = resource
            rid = resource.get("id")
            if isinstance(rid, str):
                self._by_key[f"{resource.get('resourceType')}/{rid}"] = resource

    @classmethod
    def of_bundle(cls, bundle: dict[str, Any]) -> Resolver:
        return cls(
            (entry.get("fullUrl"), entry["resource"])
            for entry in bundle.get("entry") or []
            if isinstance(entry.get("resource"), dict)
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._all)

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for r in self._all if r.get("resourceType") == resource_type]

    def resolve(self, reference: str) -> dict[str, Any] | None:
        if reference in self._by_key:
            return self._by_key[reference]
        conditional = parse_conditional_reference(reference)
        if conditional:
            rtype, system, value = conditional
            for resource in self.of_type(rtype):
                if identifier_value(resource, system) == value:
                    return resource
            return None
        tail = "/".join(reference.rstrip("/").split("/")[-2:])
        return self._by_key.get(tail)
