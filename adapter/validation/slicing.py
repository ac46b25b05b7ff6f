"""Assigning element instances to slices (FHIR R4 §5.1.0.6 Slicing, ElementDefinition.slicing).

Each occurrence of a sliced element belongs to the first slice whose discriminators it meets:
``value`` and ``pattern`` compare the element at the discriminator path with the slice's
``fixed[x]`` (exactly) or ``pattern[x]`` (contains); ``exists`` checks presence against the slice's
cardinality for that path. For extensions sliced on ``url`` the slice's extension profile supplies
the URL when the slice does not fix it. Discriminators this module cannot evaluate (``type``,
``profile``, paths with functions, ordered slicing) raise :class:`SlicingError` rather than letting
instances fall into no slice unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from adapter.validation.differential import ElementNode
from adapter.validation.elements import Instance, children
from adapter.validation.patterns import declared, describe, matches_fixed, matches_pattern

_PATH_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9]*(\[x\])?")


class SlicingError(ValueError):
    """Slicing that this validator cannot evaluate."""


@dataclass(frozen=True)
class SliceRule:
    path: str
    kind: str  # "fixed", "pattern" or "exists"
    value: Any

    def describe(self) -> str:
        if self.kind == "exists":
            return f"{self.path} {'present' if self.value else 'absent'}"
        return f"{self.path} = {describe(self.value)}"


@dataclass
class Assignment:
    """Which instances fell into which slice, per parent."""

    members: dict[str, list[Instance]] = field(default_factory=dict)
    unmatched: list[Instance] = field(default_factory=list)


def _values_at(instance: Instance, path: str) -> list[Instance]:
    if path == "$this":
        return [instance]
    current = [instance]
    for segment in path.split("."):
        current = [child for item in current for child in children(item, segment)]
    return current


def _rule(element: ElementNode, slice_node: ElementNode, kind: str, path: str) -> SliceRule:
    if path != "$this" and not all(_PATH_SEGMENT.fullmatch(s) for s in path.split(".")):
        raise SlicingError(f"{element.element_id}: discriminator path '{path}' is not supported")
    target = slice_node if path == "$this" else slice_node.find(path)
    definition = target.definition if target is not None else {}
    if kind == "exists":
        if definition.get("max") == "0":
            return SliceRule(path, "exists", False)
        if int(definition.get("min", 0)) >= 1:
            return SliceRule(path, "exists", True)
    elif kind in ("value", "pattern"):
        fixed = declared(definition, "fixed")
        if fixed is not None and kind == "value":
            return SliceRule(path, "fixed", fixed[1])
        pattern = declared(definition, "pattern") or fixed
        if pattern is not None:
            return SliceRule(path, "pattern", pattern[1])
        profiles = [p for t in slice_node.definition.get("type", []) for p in t.get("profile", [])]
        if path == "url" and profiles:
            # An extension slice names its extension by profile rather than by a fixed url.
            return SliceRule(path, "fixed", profiles[0].partition("|")[0])
    else:
        raise SlicingError(f"{element.element_id}: discriminator type '{kind}' is not supported")
    raise SlicingError(f"{slice_node.element_id} gives no {kind} for discriminator path '{path}'")


def _matches(instance: Instance, rule: SliceRule) -> bool:
    found = _values_at(instance, rule.path)
    if rule.kind == "exists":
        return bool(found) is rule.value
    compare = matches_fixed if rule.kind == "fixed" else matches_pattern
    return any(compare(item.value, rule.value) for item in found)


def slice_rules(element: ElementNode) -> dict[str, list[SliceRule]]:
    """Per slice name, the discriminator rules an instance must meet to belong to it."""
    slicing = element.definition.get("slicing")
    if not isinstance(slicing, dict):
        raise SlicingError(f"{element.element_id} has slices but no slicing definition")
    if slicing.get("ordered") or slicing.get("rules") == "openAtEnd":
        raise SlicingError(f"{element.element_id}: ordered slicing is not supported")
    discriminators = slicing.get("discriminator", [])
    if not discriminators:
        raise SlicingError(f"{element.element_id}: slicing without discriminator is not supported")
    return {
        name: [_rule(element, node, d.get("type", ""), d.get("path", "")) for d in discriminators]
        for name, node in element.slices.items()
    }


def describe_slices(rules: dict[str, list[SliceRule]]) -> str:
    """``fnr (system = 'urn:oid:...'), dnr (...)`` for diagnostics."""
    return ", ".join(
        f"{name} ({' and '.join(r.describe() for r in slice_rules)})"
        for name, slice_rules in rules.items()
    )


def assign(rules: dict[str, list[SliceRule]], instances: list[Instance]) -> Assignment:
    """Put each instance in the first slice whose rules it meets, or among the unmatched."""
    result = Assignment(members={name: [] for name in rules})
    for instance in instances:
        for name, slice_rules in rules.items():
            if all(_matches(instance, rule) for rule in slice_rules):
                result.members[name].append(instance)
                break
        else:
            result.unmatched.append(instance)
    return result
