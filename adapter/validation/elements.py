"""Element instances inside a resource, as a profile validator walks them (FHIR R4 §2.6 JSON).

An :class:`Instance` is one occurrence of an element: its JSON value, the concrete FHIRPath that
points at it (``Goal.target[0].measure``) and its type path in the R4 FHIRPath model. The type path
matters for invariants on nested elements: fhirpathpy given a bare JSON object cannot resolve choice
elements (``value.ofType(integer)`` on an ``Observation.component`` finds nothing), so an invariant
would pass vacuously. :func:`fhirpath_node` hands fhirpathpy the type the way it tracks one itself
when navigating from the resource root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirpathpy.engine.nodes import ResourceNode

from adapter.validation.fhirpath import R4_MODEL


@dataclass(frozen=True)
class Instance:
    """One occurrence of an element in a resource."""

    value: Any  # JSON value; None for a primitive that has only extensions
    expression: str  # concrete FHIRPath, e.g. Goal.target[0].measure
    type_path: str  # FHIRPath model type: "CodeableConcept", "integer", "Goal.target", ...
    name: str  # JSON property name, e.g. "valueInteger"
    primitive_extension: Any = None  # the "_name" companion of a primitive


def root(resource: dict[str, Any], type_name: str | None = None) -> Instance:
    """The resource itself as the instance a profile's root element describes."""
    name = type_name or str(resource.get("resourceType", ""))
    return Instance(resource, name, name, name)


def _child_type_path(parent: str, key: str) -> str:
    # Mirrors fhirpathpy's own navigation (engine.evaluators.create_reduce_member_invocation).
    if key == "extension":
        return "Extension"
    path = f"{parent}.{key}"
    path = R4_MODEL["pathsDefinedElsewhere"].get(path, path)
    resolved: str = R4_MODEL["path2Type"].get(path, path)
    return resolved


def choice_keys(container: dict[str, Any], name: str) -> list[str]:
    """JSON names present for a choice element ``value[x]``: valueInteger, valueQuantity, ..."""
    base = name.removesuffix("[x]")
    found: list[str] = []
    for key in container:
        bare = key.removeprefix("_")
        if bare.startswith(base) and bare[len(base) : len(base) + 1].isupper():
            if bare not in found:
                found.append(bare)
    return found


def children(parent: Instance, name: str) -> list[Instance]:
    """Occurrences of element ``name`` (``target``, ``value[x]``, ``valueInteger``) in parent."""
    container = parent.value
    if not isinstance(container, dict):
        # A primitive keeps its id and extensions in the "_name" companion object.
        extras = parent.primitive_extension
        if name not in ("id", "extension") or not isinstance(extras, dict):
            return []
        container = extras
    keys = choice_keys(container, name) if name.endswith("[x]") else [name]
    found: list[Instance] = []
    for key in keys:
        found.extend(_occurrences(parent, container, key))
    return found


def _occurrences(parent: Instance, container: dict[str, Any], key: str) -> list[Instance]:
    raw = container.get(key)
    companion = container.get("_" + key)
    if raw is None and companion is None:
        return []
    type_path = _child_type_path(parent.type_path, key)
    expression = f"{parent.expression}.{key}"
    if isinstance(raw, list) or isinstance(companion, list):
        values = raw if isinstance(raw, list) else []
        extras = companion if isinstance(companion, list) else []
        return [
            Instance(
                values[i] if i < len(values) else None,
                f"{expression}[{i}]",
                type_path,
                key,
                extras[i] if i < len(extras) else None,
            )
            for i in range(max(len(values), len(extras)))
        ]
    return [Instance(raw, expression, type_path, key, companion)]


def fhirpath_node(instance: Instance) -> Any:
    """The instance as a fhirpathpy context node that knows its FHIR type."""
    return ResourceNode.create_node(  # type: ignore[no-untyped-call]  # fhirpathpy is untyped
        instance.value, instance.type_path, _data=instance.primitive_extension
    )
