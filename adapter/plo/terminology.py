"""The PLO mapping's data, read from the registry (``mappings/plo-*.json``,
``profiles/ConceptMap-plo-*.json``): message types, code translations, KITH displays, settings.

Integrators change the mapping by editing those files: a new identifier type, another relationship
code, a different time zone. Nothing here holds a code table of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapter.registry import Registry, default_registry

__all__ = ["FHIR_BASE", "MessageType", "Terminology", "kith_system"]

FHIR_BASE = "http://forlop.no/fhir/"
KITH_OID = "urn:oid:2.16.578.1.12.4.1.1."
MESSAGE_TYPES = FHIR_BASE + "CodeSystem/plo-message-type"
APPREC_ERRORS = FHIR_BASE + "CodeSystem/plo-kith-8221"


def kith_system(oid: str) -> str:
    """The FHIR system of a KITH code system named by its OID (the ``S`` attribute)."""
    return oid if oid.startswith("urn:") else "urn:oid:" + oid


@dataclass(frozen=True)
class MessageType:
    """One MsgInfo type from ``mappings/plo-message-type.json``."""

    code: str
    display: str
    family: str  # report | logistics | dialog
    contents: tuple[str, ...]  # accepted content roots, "{namespace}LocalName"
    stay: str  # open | attach | none
    usage: str | None = None
    institution: str | None = None  # sender | receiver
    implied_status: str | None = None
    content_type: dict[str, Any] | None = None  # a Coding: TypeInnhold of exported messages


def _message_type(concept: dict[str, Any]) -> MessageType:
    values: dict[str, list[str]] = {}
    content_type = None
    for prop in concept.get("property") or []:
        if "valueCoding" in prop:
            content_type = dict(prop["valueCoding"])
            continue
        value = prop.get("valueString", prop.get("valueCode"))
        values.setdefault(str(prop["code"]), []).append(str(value))

    def one(name: str) -> str | None:
        found = values.get(name)
        return found[0] if found else None

    return MessageType(
        code=str(concept["code"]),
        display=str(concept.get("display", concept["code"])),
        family=one("family") or "report",
        contents=tuple(values.get("content", [])),
        stay=one("stay") or "none",
        usage=one("usage"),
        institution=one("institution"),
        implied_status=one("implied-status"),
        content_type=content_type,
    )


class Terminology:
    """Lookups over the registry's PLO resources, indexed once per instance."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        types = self.registry.require(MESSAGE_TYPES)
        self.message_types = {str(c["code"]): _message_type(c) for c in types.get("concept") or []}
        self.settings: dict[str, Any] = self.registry.data["plo-settings"]
        self._displays: dict[tuple[str, str], str] = {}
        for code_system in self.registry.of_type("CodeSystem"):
            system = code_system.get("supplements") or code_system.get("url")
            for concept in code_system.get("concept") or []:
                if isinstance(concept.get("display"), str):
                    self._displays[(str(system), str(concept["code"]))] = concept["display"]

    def translate(self, concept_map: str, source: str | None, code: str) -> str | None:
        """The target code for ``code`` in ConceptMap ``plo-<concept_map>``.

        A group without a source matches codes that came without a system; with ``source`` None
        every group is tried (a TypeId sent without its ``S`` attribute).
        """
        resource = self.registry.require(FHIR_BASE + "ConceptMap/" + concept_map)
        for group in resource.get("group") or []:
            if source is not None and group.get("source") not in (source, None):
                continue
            for element in group.get("element") or []:
                if element.get("code") == code:
                    for target in element.get("target") or []:
                        if target.get("equivalence") not in ("unmatched", "disjoint"):
                            return str(target["code"])
        return None

    def reverse(self, concept_map: str, target: str) -> tuple[str | None, str, str | None] | None:
        """(source system, source code, source display) of the one element mapping to
        ``target``; None when none or several do (the way back is then unknown)."""
        resource = self.registry.require(FHIR_BASE + "ConceptMap/" + concept_map)
        found = [
            (group.get("source"), str(element["code"]), element.get("display"))
            for group in resource.get("group") or []
            for element in group.get("element") or []
            if any(t.get("code") == target for t in element.get("target") or [])
        ]
        return found[0] if len(found) == 1 else None

    def target_system(self, concept_map: str) -> str:
        resource = self.registry.require(FHIR_BASE + "ConceptMap/" + concept_map)
        return str(resource["group"][0]["target"])

    def display(self, system: str, code: str) -> str | None:
        return self._displays.get((system, code))

    def error_description(self, code: str) -> str:
        """The DN of an AppRec error code (KITH 8221), from ``mappings/plo-kith-8221.json``."""
        return self._displays.get((KITH_OID + "8221", code), code)
