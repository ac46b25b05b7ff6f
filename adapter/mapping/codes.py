"""Canonical URLs and codings of forlop's own terminology (profiles/CodeSystem-*.json).

These name things; what the codes mean and how they display lives in the CodeSystems themselves.
"""

from __future__ import annotations

from typing import Any

BASE = "http://forlop.no/fhir/"
PSFS_CS = BASE + "CodeSystem/psfs"
PSFS_DIRECTION_CS = BASE + "CodeSystem/psfs-direction"
CARE_TRANSITION_CS = BASE + "CodeSystem/care-transition"
PSFS_QUESTIONNAIRE = BASE + "Questionnaire/psfs"
ACTIVITY_KEY_EXTENSION = BASE + "StructureDefinition/psfs-activity-key"
PATH_QUESTIONNAIRE_PREFIX = BASE + "Questionnaire/path-"


def profile(name: str) -> str:
    return BASE + "StructureDefinition/" + name


GOAL_ACHIEVEMENT_CS = "http://terminology.hl7.org/CodeSystem/goal-achievement"
OBSERVATION_CATEGORY_CS = "http://terminology.hl7.org/CodeSystem/observation-category"
PROVENANCE_PARTICIPANT_CS = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
UCUM = "http://unitsofmeasure.org"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


def has_coding(value: Any, system: str, code: str) -> bool:
    """True when a CodeableConcept holds the coding system#code."""
    return isinstance(value, dict) and any(
        c.get("system") == system and c.get("code") == code for c in value.get("coding") or []
    )
