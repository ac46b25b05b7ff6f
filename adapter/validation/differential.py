"""A StructureDefinition's differential as a tree of element definitions (FHIR R4 §2.29, §5.1.0.6).

Element ids name the place of each ElementDefinition: ``Goal.target.measure`` is the ``measure``
child of ``Goal.target``; ``Patient.identifier:fnr.system`` is the ``system`` child of the ``fnr``
slice of ``Patient.identifier``. A type slice on a choice element written the R4 way,
``Observation.value[x]:valueInteger``, is the same element as ``Observation.valueInteger``.
Elements the differential does not mention but whose children it constrains are kept as empty
nodes so that the walk can reach the children.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DifferentialError(ValueError):
    """A differential this validator cannot read (missing ids, foreign root, re-slicing)."""


@dataclass
class ElementNode:
    """One element of the profile with its children and, when sliced, its slices."""

    element_id: str
    name: str  # JSON-level name: "target", "value[x]", "valueInteger"
    definition: dict[str, Any] = field(default_factory=dict)
    children: dict[str, ElementNode] = field(default_factory=dict)
    slices: dict[str, ElementNode] = field(default_factory=dict)

    def child(self, name: str) -> ElementNode:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = ElementNode(f"{self.element_id}.{name}", name)
        return node

    def slice(self, slice_name: str) -> ElementNode:
        node = self.slices.get(slice_name)
        if node is None:
            node = self.slices[slice_name] = ElementNode(
                f"{self.element_id}:{slice_name}", self.name
            )
        return node

    def find(self, relative_path: str) -> ElementNode | None:
        """The descendant at a dotted path of child names (no slices), if the profile has it."""
        node: ElementNode | None = self
        for name in relative_path.split("."):
            node = node.children.get(name) if node is not None else None
        return node


def _is_type_slice(name: str, slice_name: str) -> bool:
    base = name.removesuffix("[x]")
    return (
        name.endswith("[x]")
        and slice_name.startswith(base)
        and slice_name[len(base) : len(base) + 1].isupper()
    )


def build_tree(profile: dict[str, Any]) -> ElementNode:
    """The differential of ``profile`` as a tree rooted at its ``type``."""
    root_name = str(profile.get("type", ""))
    root = ElementNode(root_name, root_name)
    differential = profile.get("differential")
    elements = differential.get("element", []) if isinstance(differential, dict) else []
    for element in elements:
        element_id = element.get("id")
        if not isinstance(element_id, str):
            raise DifferentialError(f"an element with path {element.get('path')} has no id")
        head, *segments = element_id.split(".")
        if head != root_name:
            raise DifferentialError(f"element {element_id} is not inside {root_name}")
        node = root
        for segment in segments:
            name, _, slice_name = segment.partition(":")
            if "/" in slice_name:
                raise DifferentialError(f"element {element_id} re-slices, which is not supported")
            if slice_name and _is_type_slice(name, slice_name):
                node = node.child(slice_name)
            elif slice_name:
                node = node.child(name).slice(slice_name)
            else:
                node = node.child(name)
        node.definition = element
    return root
