"""fixed[x] and pattern[x] comparison (FHIR R4 §2.29 ElementDefinition.fixed[x] and .pattern[x]).

``fixed[x]``: the instance value is exactly the given value; elements missing from the fixed value
must be missing from the instance as well. ``pattern[x]``: every element present in the pattern is
present in the instance with the same value, recursively; for a repeating element each item of the
pattern's array must match at least one item of the instance's array, and the instance may carry
more items and more elements than the pattern.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def declared(definition: dict[str, Any], kind: str) -> tuple[str, Any] | None:
    """(``fixedUri``, value) or (``patternCodeableConcept``, value) of an ElementDefinition.

    ``kind`` is "fixed" or "pattern"; the type part of the name follows a capital letter.
    """
    for key, value in definition.items():
        if key.startswith(kind) and key[len(kind) : len(kind) + 1].isupper():
            return key, value
    return None


def _same_primitive(value: Any, expected: Any) -> bool:
    # bool is an int in Python; in FHIR true is never 1.
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    numeric = (int, float, Decimal)
    if isinstance(value, numeric) and isinstance(expected, numeric):
        return Decimal(str(value)) == Decimal(str(expected))
    return type(value) is type(expected) and bool(value == expected)


def matches_fixed(value: Any, fixed: Any) -> bool:
    """True when ``value`` is exactly ``fixed`` (same elements, same order in arrays)."""
    if isinstance(fixed, dict):
        return (
            isinstance(value, dict)
            and value.keys() == fixed.keys()
            and all(matches_fixed(value[k], v) for k, v in fixed.items())
        )
    if isinstance(fixed, list):
        return (
            isinstance(value, list)
            and len(value) == len(fixed)
            and all(matches_fixed(v, f) for v, f in zip(value, fixed, strict=True))
        )
    return _same_primitive(value, fixed)


def matches_pattern(value: Any, pattern: Any) -> bool:
    """True when ``value`` contains everything ``pattern`` states."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches_pattern(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(i, p) for i in items) for p in pattern)
    return _same_primitive(value, pattern)


def _system_label(system: str) -> str:
    # "http://forlop.no/fhir/CodeSystem/psfs" reads as "psfs"; OIDs and URNs stay whole.
    if system.startswith(("http://", "https://")):
        return system.rstrip("/").rsplit("/", 1)[-1]
    return system


def describe_coding(coding: dict[str, Any]) -> str:
    """``psfs#activity-score`` for a Coding; ``any code from <system>`` without a code."""
    system = coding.get("system")
    code = coding.get("code")
    if isinstance(code, str):
        return f"{_system_label(system)}#{code}" if isinstance(system, str) else code
    if isinstance(system, str):
        return f"a code from {system}"
    return _compact(coding)


def describe(value: Any) -> str:
    """A short human rendering of a fixed/pattern value or of what an instance holds."""
    if isinstance(value, dict):
        codings = value.get("coding")
        if isinstance(codings, list) and codings:
            return " and ".join(describe_coding(c) for c in codings if isinstance(c, dict))
        if "code" in value or "system" in value:
            return describe_coding(value)
        return _compact(value)
    if isinstance(value, str):
        return f"'{value}'"
    return _compact(value)


def _compact(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
