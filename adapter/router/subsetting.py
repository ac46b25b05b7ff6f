"""``_summary`` and ``_elements`` (FHIR R4 §3.1.1.5.8-9): smaller answers on request.

A subsetted resource is tagged SUBSETTED (v3 ObservationValue) so that no client mistakes it for
the whole resource. In a search or history Bundle the rules apply to each entry's resource;
``_summary=count`` keeps only the total and the OperationOutcome entries (what was ignored).
Subsetting an already subsetted answer the same way changes nothing, so the search handler and
the HTTP layer may both apply it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapter.fhir.errors import invalid
from adapter.fhir.models import elements_of, model_class

_SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
_ALWAYS = ("resourceType", "id", "meta")
_SUMMARY_VALUES = ("true", "false", "text", "data", "count")


def _summary_elements(resource_type: str) -> set[str]:
    cls = model_class(resource_type)
    names = set()
    for field in cls.model_fields.values():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("summary_element_property"):
            names.add(field.alias or "")
    return names


def _mandatory(resource_type: str) -> set[str]:
    return {name for name, info in elements_of(resource_type).items() if info.required}


def _tag(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if _SUBSETTED not in tags:
        tags.append(_SUBSETTED)
    meta["tag"] = tags
    resource["meta"] = meta
    return resource


def _keep(resource: dict[str, Any], names: set[str]) -> dict[str, Any]:
    kept = {k: v for k, v in resource.items() if k in names or k in _ALWAYS}
    kept.update({k: v for k, v in resource.items() if k.startswith("_") and k[1:] in names})
    return _tag(kept)


def _one(resource: dict[str, Any], summary: str | None, elements: set[str] | None) -> Any:
    rtype = str(resource.get("resourceType"))
    if rtype in ("OperationOutcome",):
        return resource
    if elements is not None:
        return _keep(resource, elements | _mandatory(rtype))
    if summary == "true":
        return _keep(resource, _summary_elements(rtype))
    if summary == "text":
        return _keep(resource, {"text"} | _mandatory(rtype))
    if summary == "data":
        return _tag({k: v for k, v in resource.items() if k != "text"})
    return resource


def _is_outcome(entry: Any) -> bool:
    return isinstance(entry, dict) and (entry.get("search") or {}).get("mode") == "outcome"


def subset(resource: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    summary = params.get("_summary")
    raw_elements = params.get("_elements")
    if summary is not None and summary not in _SUMMARY_VALUES:
        raise invalid(
            f"_summary must be one of {', '.join(_SUMMARY_VALUES)}, not {summary!r}.",
            expression="_summary",
        )
    if summary in (None, "false") and raw_elements is None:
        return resource
    elements = {e.strip() for e in raw_elements.split(",") if e.strip()} if raw_elements else None
    if resource.get("resourceType") == "Bundle" and resource.get("type") in (
        "searchset",
        "history",
    ):
        if summary == "count":
            counted = {k: v for k, v in resource.items() if k != "entry"}
            outcomes = [e for e in resource.get("entry") or [] if _is_outcome(e)]
            return {**counted, "entry": outcomes} if outcomes else counted
        entries = []
        for entry in resource.get("entry") or []:
            item = dict(entry)
            if isinstance(item.get("resource"), dict):
                item["resource"] = _one(item["resource"], summary, elements)
            entries.append(item)
        return {**resource, "entry": entries}
    result: dict[str, Any] = _one(resource, summary, elements)
    return result
