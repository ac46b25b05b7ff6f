"""Required terminology bindings of base FHIR R4 (§4.1.1 binding strength "required").

Every element the R4 spec binds with strength *required* must hold a code of its value set: a
``code`` element its code, a Coding its system and code, a CodeableConcept at least one such Coding.
Which elements are bound, and to what, is data: ``profiles/r4/required-bindings.json`` (element
path -> ValueSet canonical) and the HL7 R4 ValueSets in ``profiles/r4/valuesets/``, all read
through the registry. Value sets defined by a grammar rather than a list (MIME types, ISO 4217
currencies) are checked against the pattern the table gives for their code system.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from adapter.fhir.errors import Code, Issue, error_issue
from adapter.registry import Registry, default_registry
from adapter.validation.walk import Node, TypeInfo, Walked, child_expression, type_info, walk

__all__ = ["BindingTable", "resource_type_codes", "validate_required_bindings"]

TABLE = "required-bindings"
RESOURCE_TYPES = "http://hl7.org/fhir/ValueSet/resource-types|4.0.1"
_LISTED = 12  # value sets up to this size are spelled out in the diagnostics


@dataclass(frozen=True)
class ValueSetCodes:
    """What a required value set allows: selectable (system, code) pairs or a grammar."""

    url: str
    name: str
    codes: Mapping[str, frozenset[str]]  # code -> systems defining it (selectable codes only)
    abstract: frozenset[str]
    pattern: re.Pattern[str] | None = None
    human: str = ""

    def allows_code(self, code: str) -> bool:
        if self.pattern is not None:
            return bool(self.pattern.fullmatch(code))
        return code in self.codes

    def allows_coding(self, system: Any, code: Any) -> bool:
        if not isinstance(code, str):
            return False
        if self.pattern is not None:
            return bool(self.pattern.fullmatch(code))
        return system in self.codes.get(code, ())

    def explain(self) -> str:
        if self.pattern is not None:
            return f"it must be {self.human} ({self.url})"
        if len(self.codes) <= _LISTED:
            return f"allowed codes of {self.name} ({self.url}): " + ", ".join(self.codes)
        return f"it is not a code of {self.name} ({self.url})"


def _value_set(registry: Registry, canonical: str, grammars: Mapping[str, Any]) -> ValueSetCodes:
    vs = registry.require(canonical)
    url = f"{vs['url']}|{vs.get('version', '')}"
    name = str(vs.get("name", vs["url"]))
    contains = vs.get("expansion", {}).get("contains")
    if contains is None:
        systems = [inc.get("system") for inc in vs.get("compose", {}).get("include", [])]
        grammar = next((grammars[s] for s in systems if s in grammars), None)
        if grammar is None:
            raise ValueError(f"{canonical} has neither an expansion nor a known grammar")
        return ValueSetCodes(
            url, name, {}, frozenset(), re.compile(grammar["pattern"]), grammar["human"]
        )
    codes: dict[str, set[str]] = {}
    abstract: set[str] = set()
    for concept in contains:
        if concept.get("abstract"):
            abstract.add(concept["code"])
            continue
        codes.setdefault(concept["code"], set()).add(concept["system"])
    return ValueSetCodes(
        url, name, {c: frozenset(s) for c, s in codes.items()}, frozenset(abstract)
    )


class BindingTable:
    """The required bindings, resolved to model types and element names once."""

    def __init__(self, registry: Registry) -> None:
        data = registry.data.get(TABLE)
        if data is None:
            raise ValueError(f"the registry has no {TABLE}.json")
        grammars: Mapping[str, Any] = data.get("grammars", {})
        sets: dict[str, ValueSetCodes] = {}
        # definition path of the owning type -> element name -> value set
        self.by_path: dict[str, dict[str, ValueSetCodes]] = {}
        for path, canonical in data["bindings"].items():
            owner, _, element = path.rpartition(".")
            if element not in _owner_info(owner).elements:
                raise ValueError(f"{TABLE}.json binds {path}, which is not an R4 element")
            if canonical not in sets:
                sets[canonical] = _value_set(registry, canonical, grammars)
            self.by_path.setdefault(owner, {})[element] = sets[canonical]
        self._per_type: dict[str, tuple[tuple[str, str, ValueSetCodes], ...]] = {}

    def for_node(self, node: Node) -> tuple[tuple[str, str, ValueSetCodes], ...]:
        """(JSON name, FHIR type, value set) for every bound element of the node's type."""
        found = self._per_type.get(node.info.name)
        if found is None:
            entries = []
            for context in node.info.names:
                for element, vs in self.by_path.get(context, {}).items():
                    elem = node.info.elements.get(element)
                    if elem is not None:
                        entries.append((element, elem.type_name, vs))
            found = self._per_type[node.info.name] = tuple(entries)
        return found


def _owner_info(path: str) -> TypeInfo:
    """The model type whose definition path is ``path`` (the model names backbones by path)."""
    info = type_info("".join(part[:1].upper() + part[1:] for part in path.split(".")))
    if info.path != path:
        raise ValueError(f"{path} is not a definition path of the R4 model")
    return info


@cache
def _default_table() -> BindingTable:
    return BindingTable(default_registry())


def resource_type_codes(registry: Registry | None = None) -> frozenset[str]:
    """The R4 resource type names (the ``resource-types`` value set)."""
    reg = registry or default_registry()
    return frozenset(_value_set(reg, RESOURCE_TYPES, {}).codes)


def validate_required_bindings(
    resource: dict[str, Any],
    *,
    walked: Walked | None = None,
    registry: Registry | None = None,
) -> list[Issue]:
    """A ``code-invalid`` issue for every value outside its required R4 value set."""
    table = _default_table() if registry is None else BindingTable(registry)
    issues: list[Issue] = []
    for node in (walked or walk(resource)).nodes:
        for element, ftype, vs in table.for_node(node):
            value = node.data.get(element)
            if value is None:
                continue
            indexed = isinstance(value, list)
            for i, item in enumerate(value if indexed else [value]):
                expr = child_expression(node.expression, element, i if indexed else None)
                issues.extend(_check(item, ftype, vs, expr))
    return issues


def _check(item: Any, ftype: str, vs: ValueSetCodes, expr: str) -> Iterator[Issue]:
    if ftype == "code":
        if isinstance(item, str) and not vs.allows_code(item):
            yield _issue(expr, f"'{item}'", vs, abstract=item in vs.abstract)
    elif ftype == "Coding":
        if isinstance(item, dict) and not vs.allows_coding(item.get("system"), item.get("code")):
            yield _issue(expr, _show(item), vs, abstract=item.get("code") in vs.abstract)
    elif ftype == "CodeableConcept" and isinstance(item, dict):
        codings = item.get("coding")
        codings = [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []
        if not any(vs.allows_coding(c.get("system"), c.get("code")) for c in codings):
            shown = ", ".join(_show(c) for c in codings) or "none"
            text = f"{expr} has no coding from the required value set (codings: {shown}); "
            yield error_issue(
                "code-invalid", Code.CODE_NOT_IN_VALUESET, text + vs.explain() + ".", expr
            )


def _show(coding: Mapping[str, Any]) -> str:
    return f"{coding.get('system', '(no system)')}#{coding.get('code', '(no code)')}"


def _issue(expr: str, shown: str, vs: ValueSetCodes, *, abstract: bool) -> Issue:
    if abstract:
        text = f"{expr} {shown} is an abstract code of {vs.name} and cannot be used."
    else:
        text = f"{expr} {shown} is not allowed by the required binding; {vs.explain()}."
    return error_issue("code-invalid", Code.CODE_NOT_IN_VALUESET, text, expr)
