"""Element tables and the one traversal of FHIR R4 JSON shared by the base validation passes.

FHIR R4 §2.6.2 (JSON representation) and §2.24 (Element): a resource is a JSON object whose
properties are the elements of its type, primitives may carry a ``_name`` companion with ``id`` and
``extension``, ``contained`` and ``Bundle.entry.resource`` hold whole resources of their own type.

The tables are built once per type from :func:`adapter.fhir.models.elements_of` and hold what the
passes ask per property: list or single, primitive or complex, the FHIR type, choice group, and the
*definition path* of backbone elements (``Questionnaire.item``), which is what the R4 spec keys its
bindings and invariants by. :func:`walk` visits every complex node once; the structure, terminology,
invariant and identifier passes read the same :class:`Walked` result.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from adapter.fhir.models import elements_of, is_resource_type, model_class

__all__ = [
    "Elem",
    "Node",
    "TypeInfo",
    "Walked",
    "child_expression",
    "resource_info",
    "type_info",
    "walk",
]

Kind = Literal["primitive", "complex", "resource"]

# R4B added these datatypes to the open type list (Extension.value[x], ElementDefinition.fixed[x]
# ...). They are not FHIR R4, so an R4 server must refuse the elements that use them. The R4
# resources and datatypes forlop accepts are otherwise identical in R4 and R4B (checked against
# the hl7.fhir.r4.core 4.0.1 StructureDefinitions).
R4B_ONLY_TYPES = frozenset({"CodeableReference", "RatioRange"})

# The model names some primitives after their Python representation.
_PRIMITIVE_ALIASES = {"bool": "boolean", "encodedBytes": "base64Binary", "uuidVersion": "uuid"}

_DOMAIN_RESOURCE_EXCEPTIONS = frozenset({"Bundle", "Parameters", "Binary"})


@dataclass(frozen=True, slots=True)
class Elem:
    """One JSON property of a FHIR type, as the R4 spec defines it."""

    name: str
    is_list: bool
    kind: Kind
    type_name: str  # FHIR primitive ("code", "dateTime", ...), model name, or "Resource"
    required: bool
    choice: str | None  # "value" for value[x]
    r4: bool = True  # False for R4B-only choice types


@dataclass(frozen=True)
class TypeInfo:
    """Everything the passes need about one model type, computed once."""

    name: str  # model name: "Goal", "GoalTarget", "Identifier"
    path: str  # definition path: "Goal", "Goal.target", "Identifier"
    elements: Mapping[str, Elem]
    choices: Mapping[str, tuple[str, ...]]  # choice group -> JSON names
    required_choices: frozenset[str]
    is_resource: bool
    names: tuple[str, ...]  # invariant contexts this type answers to (path + base types)

    @property
    def required(self) -> tuple[Elem, ...]:
        return tuple(e for e in self.elements.values() if e.required and e.choice is None)


def _camel(path: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in path.split("."))


def _choice_required(type_name: str) -> frozenset[str]:
    required: set[str] = set()
    for f in model_class(type_name).model_fields.values():
        extra = f.json_schema_extra
        if isinstance(extra, dict) and extra.get("one_of_many_required") is True:
            group = extra.get("one_of_many")
            if isinstance(group, str):
                required.add(group)
    return frozenset(required)


def _elem(type_name: str, name: str, model_required: bool) -> Elem:
    info = elements_of(type_name)[name]
    if info.primitive is not None:
        kind: Kind = "primitive"
        fhir_type = _PRIMITIVE_ALIASES.get(info.primitive, info.primitive)
    elif info.type_name == "Resource":
        kind, fhir_type = "resource", "Resource"
    elif info.type_name in _PRIMITIVE_ALIASES:
        kind, fhir_type = "primitive", _PRIMITIVE_ALIASES[info.type_name]
    else:
        kind, fhir_type = "complex", info.type_name or ""
    return Elem(
        name=name,
        is_list=info.is_list,
        kind=kind,
        type_name=fhir_type,
        # ElementInfo.required covers primitives; complex 1..1 elements are required model fields.
        required=info.required or model_required,
        choice=info.choice_group,
        r4=fhir_type not in R4B_ONLY_TYPES,
    )


# Definition paths of backbone types. The model names a backbone class by its definition path
# (``Questionnaire.item`` -> ``QuestionnaireItem``); contentReference reuses (``item.item``,
# ``compose.exclude``) do not match and keep the first, canonical path.
_BACKBONE_PATHS: dict[str, str] = {}
# Registration fills _BACKBONE_PATHS in steps; a parallel reader must never see it half done.
_REGISTERING = threading.Lock()


def _register_backbones(root: str) -> None:
    stack = [(root, root)]
    while stack:
        model, path = stack.pop()
        for name, elem in _raw_elements(model).items():
            if elem.kind != "complex":
                continue
            child_path = f"{path}.{name}"
            if _camel(child_path) == elem.type_name and elem.type_name not in _BACKBONE_PATHS:
                _BACKBONE_PATHS[elem.type_name] = child_path
                stack.append((elem.type_name, child_path))


@cache
def _raw_elements(type_name: str) -> dict[str, Elem]:
    required = {f.alias for f in model_class(type_name).model_fields.values() if f.is_required()}
    return {name: _elem(type_name, name, name in required) for name in elements_of(type_name)}


def _base_names(type_name: str) -> tuple[str, ...]:
    """Supertypes whose bindings and invariants apply too: Age, Count, Distance and Duration are
    Quantities (the only specialisation among the R4 datatypes)."""
    if type_name != "Quantity" and issubclass(model_class(type_name), model_class("Quantity")):
        return ("Quantity",)
    return ()


def _definition_path(type_name: str) -> str:
    """Register the backbones of the type's root (the shortest model-name prefix) on first use."""
    with _REGISTERING:
        return _definition_path_locked(type_name)


def _definition_path_locked(type_name: str) -> str:
    if type_name not in _BACKBONE_PATHS:
        starts = [i for i, ch in enumerate(type_name) if ch.isupper()][1:] + [len(type_name)]
        for end in starts:
            prefix = type_name[:end]
            try:
                model_class(prefix)
            except (KeyError, ValueError):
                continue
            _register_backbones(prefix)
            if type_name in _BACKBONE_PATHS:
                break
    return _BACKBONE_PATHS.get(type_name, type_name)


@cache
def type_info(type_name: str) -> TypeInfo:
    """The table for a resource type, datatype or backbone model name."""
    resource = is_resource_type(type_name)
    path = _definition_path(type_name)
    elements = _raw_elements(type_name)
    choices: dict[str, list[str]] = {}
    for elem in elements.values():
        if elem.choice is not None:
            choices.setdefault(elem.choice, []).append(elem.name)
    names: tuple[str, ...] = (path, *_base_names(type_name))
    if resource:
        names += ("Resource",)
        if type_name not in _DOMAIN_RESOURCE_EXCEPTIONS:
            names += ("DomainResource",)
    return TypeInfo(
        name=type_name,
        path=path,
        elements=elements,
        choices={k: tuple(v) for k, v in choices.items()},
        required_choices=_choice_required(type_name),
        is_resource=resource,
        names=names,
    )


def resource_info(data: Any) -> TypeInfo | None:
    """The table for a JSON resource, or None when its resourceType is not an R4 resource."""
    rtype = data.get("resourceType") if isinstance(data, dict) else None
    if isinstance(rtype, str) and is_resource_type(rtype):
        return type_info(rtype)
    return None


def child_expression(parent: str, name: str, index: int | None = None) -> str:
    """``Goal.target[0]``-style FHIRPath for a child; the ``_x`` companion reads as ``x``."""
    name = name[1:] if name.startswith("_") else name
    return f"{parent}.{name}" if index is None else f"{parent}.{name}[{index}]"


@dataclass(slots=True)
class Node:
    """One complex instance in a resource: where it is, what it is, and its resources."""

    expression: str  # FHIRPath to this instance, e.g. "Bundle.entry[2].resource.target[0]"
    info: TypeInfo
    data: dict[str, Any]
    resource: dict[str, Any]  # the resource this node belongs to (%resource)
    root: dict[str, Any]  # the root of containment (%rootResource)
    element_path: str = ""  # definition path of the element holding it, e.g. "Range.low"

    @property
    def contexts(self) -> tuple[str, ...]:
        if self.element_path and self.element_path != self.info.path:
            return (*self.info.names, self.element_path)
        return self.info.names


@dataclass
class Walked:
    """Every complex node of a resource, in document order, grouped by model type on demand."""

    resource: dict[str, Any]
    nodes: list[Node] = field(default_factory=list)

    def of_type(self, type_name: str) -> Iterator[Node]:
        return (n for n in self.nodes if n.info.name == type_name)


def walk(resource: dict[str, Any]) -> Walked:
    """Visit every complex node (never raises: malformed parts are skipped, structure.py reports
    them)."""
    walked = Walked(resource)
    info = resource_info(resource)
    if info is None:
        return walked
    rtype = info.name
    stack: list[Node] = [Node(rtype, info, resource, resource, resource)]
    out = walked.nodes
    while stack:
        node = stack.pop()
        out.append(node)
        children: list[Node] = []
        for key, value in node.data.items():
            companion = key.startswith("_")
            elem = node.info.elements.get(key[1:] if companion else key)
            if elem is None or value is None:
                continue
            if companion:
                if elem.kind == "primitive":
                    _companions(node, key, value, elem.is_list, children)
                continue
            if elem.kind == "primitive":
                continue
            items = value if isinstance(value, list) else [value]
            indexed = isinstance(value, list)
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                expr = child_expression(node.expression, key, i if indexed else None)
                if elem.kind == "resource":
                    child_info = resource_info(item)
                    if child_info is None:
                        continue
                    root = node.root if key == "contained" else item
                    children.append(Node(expr, child_info, item, item, root))
                else:
                    child_info = type_info(elem.type_name)
                    children.append(
                        Node(
                            expr,
                            child_info,
                            item,
                            node.resource,
                            node.root,
                            f"{node.info.path}.{key}",
                        )
                    )
        stack.extend(reversed(children))
    return walked


def _companions(node: Node, key: str, value: Any, is_list: bool, children: list[Node]) -> None:
    """Extensions on primitives: ``_birthDate.extension[0]`` reads as ``birthDate.extension[0]``."""
    items = value if is_list and isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        expr = child_expression(node.expression, key, i if is_list else None)
        exts = item.get("extension")
        if not isinstance(exts, list):
            continue
        ext_info = type_info("Extension")
        for j, ext in enumerate(exts):
            if isinstance(ext, dict):
                children.append(
                    Node(f"{expr}.extension[{j}]", ext_info, ext, node.resource, node.root)
                )
