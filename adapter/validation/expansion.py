"""ValueSet expansion over the registry (FHIR R4 §4.9.5 ValueSet.compose, §4.9.6 expansion).

Profiles bind coded elements to ValueSets by canonical URL. A ValueSet is expanded to the set of
``(system, code)`` pairs it allows from what the registry holds: ``compose.include`` of listed
concepts, of whole CodeSystems (all concepts, nested ones too, of a CodeSystem whose content is
complete) and of other ValueSets, minus ``compose.exclude``; or a stored ``expansion.contains``.
Whatever cannot be expanded from local content raises :class:`UnresolvableValueSet` so a binding
is never silently treated as satisfied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapter.registry import Registry

Concept = tuple[str, str]


class UnresolvableValueSet(Exception):
    """A ValueSet (or what it includes) that cannot be expanded from the registry."""


def expand(canonical: str, registry: Registry) -> frozenset[Concept]:
    """Every (system, code) the ValueSet ``canonical`` (``url`` or ``url|version``) contains."""
    return _expand(canonical, registry, ())


def _expand(canonical: str, registry: Registry, seen: tuple[str, ...]) -> frozenset[Concept]:
    if canonical in seen:
        raise UnresolvableValueSet(f"ValueSet {canonical} includes itself")
    valueset = registry.get(canonical)
    if valueset is None or valueset.get("resourceType") != "ValueSet":
        raise UnresolvableValueSet(f"ValueSet {canonical} is not known to this server")
    compose = valueset.get("compose")
    if isinstance(compose, dict):
        seen = (*seen, canonical)
        included: set[Concept] = set()
        for part in compose.get("include", []):
            included |= _part(part, registry, seen, canonical)
        for part in compose.get("exclude", []):
            included -= _part(part, registry, seen, canonical)
        return frozenset(included)
    expansion = valueset.get("expansion")
    if isinstance(expansion, dict):
        return frozenset(_contains(expansion.get("contains", [])))
    raise UnresolvableValueSet(f"ValueSet {canonical} has neither compose nor expansion")


def _part(
    part: dict[str, Any], registry: Registry, seen: tuple[str, ...], canonical: str
) -> set[Concept]:
    if part.get("filter"):
        raise UnresolvableValueSet(
            f"ValueSet {canonical} uses compose filters, which this server cannot expand"
        )
    result: set[Concept] | None = None
    system = part.get("system")
    if isinstance(system, str):
        listed = part.get("concept")
        if isinstance(listed, list):
            result = {(system, c["code"]) for c in listed if isinstance(c.get("code"), str)}
        else:
            result = _whole_code_system(system, part.get("version"), registry, canonical)
    for ref in part.get("valueSet", []):
        members = set(_expand(ref, registry, seen))
        result = members if result is None else result & members
    return result or set()


def _whole_code_system(
    system: str, version: Any, registry: Registry, canonical: str
) -> set[Concept]:
    code_system = registry.get(f"{system}|{version}" if isinstance(version, str) else system)
    if code_system is None or code_system.get("resourceType") != "CodeSystem":
        raise UnresolvableValueSet(
            f"ValueSet {canonical} includes CodeSystem {system}, which is not known to this server"
        )
    if code_system.get("content") != "complete":
        raise UnresolvableValueSet(
            f"ValueSet {canonical} includes CodeSystem {system}, which does not list all its codes"
        )
    return {(system, code) for code in _codes(code_system.get("concept", []))}


def _codes(concepts: list[dict[str, Any]]) -> Iterator[str]:
    for concept in concepts:
        code = concept.get("code")
        if isinstance(code, str):
            yield code
        yield from _codes(concept.get("concept", []))


def _contains(entries: list[dict[str, Any]]) -> Iterator[Concept]:
    for entry in entries:
        system, code = entry.get("system"), entry.get("code")
        if isinstance(system, str) and isinstance(code, str) and not entry.get("abstract"):
            yield system, code
        yield from _contains(entry.get("contains", []))
