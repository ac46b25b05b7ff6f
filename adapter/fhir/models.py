"""The one door to ``fhir.resources.R4B``: model classes and per-element metadata.

forlop speaks FHIR R4 (4.0.1) on the wire and models resources with the R4B (4.3.0) classes,
which are wire-compatible with R4 for every resource type forlop uses. Nothing else in the code
imports ``fhir.resources``; codecs and validators ask this module what an element is (list or
single, primitive or complex, which FHIR type) instead of re-deriving it.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache
from types import NoneType, UnionType
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel

__all__ = [
    "ElementInfo",
    "FHIRAbstractModel",
    "elements_of",
    "is_resource_type",
    "model_class",
    "primitive_json_kind",
]

# FHIR primitive type name -> the JSON kind it must have on the wire (FHIR R4 §2.6.2.4).
_JSON_KIND = {
    "boolean": "boolean",
    "integer": "integer",
    "integer64": "string",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}

RESOURCE = "Resource"


@dataclass(frozen=True)
class ElementInfo:
    """What one JSON property of a FHIR type is."""

    name: str  # the JSON name, e.g. "valueInteger"
    is_list: bool
    primitive: str | None  # FHIR primitive type ("integer", "code", "xhtml", ...) or None
    type_name: str | None  # complex/backbone model name, or "Resource" for contained resources
    required: bool
    choice_group: str | None  # "value" for value[x], else None
    reference_targets: tuple[str, ...] = ()
    enum_values: tuple[str, ...] = ()


def primitive_json_kind(primitive: str) -> str:
    """'boolean', 'integer', 'number' or 'string': the JSON type of a FHIR primitive."""
    return _JSON_KIND.get(primitive, "string")


# R4 resource types that do not exist in R4B's model set (none that forlop uses); R4B-only types
# are refused so that an R4 server never accepts what R4 does not define.
_R4B_ONLY = frozenset(
    {
        "AdministrableProductDefinition",
        "ClinicalUseDefinition",
        "Citation",
        "Evidence",
        "EvidenceReport",
        "EvidenceVariable",
        "Ingredient",
        "ManufacturedItemDefinition",
        "MedicinalProductDefinition",
        "NutritionProduct",
        "PackagedProductDefinition",
        "RegulatedAuthorization",
        "SubscriptionStatus",
        "SubscriptionTopic",
    }
)


@cache
def is_resource_type(name: str) -> bool:
    """True for a concrete R4 resource type name such as 'Goal' (not 'Resource', not 'Coding')."""
    if not name[:1].isupper() or name in _R4B_ONLY or name in ("Resource", "DomainResource"):
        return False
    try:
        cls = get_fhir_model_class(name)
    except ValueError:
        return False
    base = get_fhir_model_class("Resource")
    return issubclass(cls, base) and cls.get_resource_type() == name


@cache
def model_class(type_name: str) -> type[FHIRAbstractModel]:
    """The R4B model class for a resource, datatype or backbone element name."""
    cls: type[FHIRAbstractModel] = get_fhir_model_class(type_name)
    return cls


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(is_list, inner) for Optional[List[X]] / X | None / Annotated[...]."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, UnionType):
        args = [a for a in typing.get_args(annotation) if a is not NoneType]
        if len(args) == 1:
            return _unwrap(args[0])
        # Union[str, List[str]] only occurs on fhir_comments, which is not a FHIR element.
        return False, args[0]
    if origin in (list, typing.List):  # noqa: UP006
        _, inner = _unwrap(typing.get_args(annotation)[0])
        return True, inner
    return False, annotation


@cache
def elements_of(type_name: str) -> dict[str, ElementInfo]:
    """JSON name -> ElementInfo for every element of a FHIR type (not the ``_x`` companions)."""
    cls = model_class(type_name)
    out: dict[str, ElementInfo] = {}
    for field in cls.model_fields.values():
        extra = field.json_schema_extra
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        name = field.alias or ""
        is_list, inner = _unwrap(field.annotation)
        primitive: str | None = None
        type_ref: str | None = None
        if typing.get_origin(inner) is typing.Annotated:
            meta = typing.get_args(inner)[1]
            primitive = type(meta).__name__
            primitive = primitive[0].lower() + primitive[1:]
        else:
            raw = getattr(inner, "__name__", "")
            type_ref = raw[:-4] if raw.endswith("Type") else raw
            if type_ref == RESOURCE:
                type_ref = RESOURCE
        choice = extra.get("one_of_many")
        targets = extra.get("enum_reference_types") or ()
        enums = extra.get("enum_values") or ()
        out[name] = ElementInfo(
            name=name,
            is_list=is_list,
            primitive=primitive,
            type_name=type_ref,
            # Primitives flag 1..1 in metadata; required complex elements are non-Optional fields.
            required=bool(extra.get("element_required")) or field.is_required(),
            choice_group=choice if isinstance(choice, str) else None,
            reference_targets=tuple(str(t) for t in targets),  # type: ignore[union-attr]
            enum_values=tuple(str(v) for v in enums if v != "+"),  # type: ignore[union-attr]
        )
    return out
