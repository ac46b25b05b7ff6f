"""Assembling one message's transaction Bundle (FHIR R4 §3.1.0.11) from conditional entries.

Every entry is a PUT, so the Bundle is idempotent: a conditional update ``Type?identifier=s|v``
for resource types the server searches by identifier, an update by a stable id (a UUID v5 of the
same identifier) for the others (Appointment, Communication, Provenance). References between
entries use ``urn:uuid`` full URLs that are themselves stable, so the Bundle for a message is
the same every time.

What the store already holds comes in as :class:`Prior`. Shared resources (Patient, Organization,
Practitioner, RelatedPerson) are merged with the stored version rather than overwritten: the
message's values replace the elements it gives, identifiers and telecoms are united, and the
update names the version it merged with (``ifMatch``), so a concurrent import makes it fail and
retry instead of losing data.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from adapter.plo.fhir.keys import stable_id

__all__ = ["SHARED_TYPES", "SEARCHABLE", "Assembly", "Known", "Prior", "conditional_url", "merge"]

# Resources several documents refer to; a document's change or cancellation never touches them.
SHARED_TYPES = frozenset({"Patient", "Organization", "Practitioner", "RelatedPerson"})
# Types the server searches by identifier (R4 search parameters in profiles/r4/search-parameters).
SEARCHABLE = frozenset(
    {"Patient", "Organization", "Practitioner", "RelatedPerson", "Encounter", "Condition",
     "Observation", "Goal", "CareTeam", "CarePlan", "DocumentReference"}
)  # fmt: skip
_UNITED = ("identifier", "telecom")
_META = ("id", "meta", "text")


@dataclass(frozen=True)
class Known:
    """A resource as stored: type, id, current version and content."""

    type: str
    id: str
    version: int
    resource: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.type}/{self.id}"


@dataclass(frozen=True)
class Prior:
    """What the store holds that this message's Bundle depends on."""

    shared: Mapping[str, Known] = field(default_factory=dict)  # conditional URL -> resource
    documents: tuple[Known, ...] = ()  # DocumentReferences of the same document, oldest first
    owned: tuple[Known, ...] = ()  # what earlier versions of the document wrote (not shared)
    stay: Known | None = None  # the Encounter of the hospital stay
    answered: tuple[Known, ...] = ()  # Communications of the message a Dialogmelding answers


def conditional_url(resource_type: str, system: str, value: str) -> str:
    return f"{resource_type}?identifier={quote(system + '|' + value, safe='')}"


def _union(old: list[Any], new: list[Any]) -> list[Any]:
    """Items of both lists, each once; for identifiers and telecoms the same system and value
    count as the same item (the newer one, with its type or use, wins)."""

    def key(item: Any) -> Any:
        if isinstance(item, dict) and "value" in item:
            return (item.get("system"), item.get("value"))
        return repr(item)

    merged = {key(item): item for item in old}
    merged.update({key(item): item for item in new})
    return list(merged.values())


def merge(stored: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` over ``stored``: elements ``new`` gives replace, the rest stay; lists of
    identifiers and telecoms are united."""
    out = {k: copy.deepcopy(v) for k, v in stored.items() if k not in _META}
    for key, value in new.items():
        if key in _UNITED and isinstance(out.get(key), list):
            out[key] = _union(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class _Entry:
    resource: dict[str, Any]
    url: str
    full_url: str
    if_match: str | None = None


class Assembly:
    """The entries of one Bundle, keyed by their request URL (one entry per resource)."""

    def __init__(self, prior: Prior) -> None:
        self.prior = prior
        self._entries: dict[str, _Entry] = {}
        self.shared_urls: list[str] = []  # conditional URLs of shared resources, for lookups

    def put(
        self,
        resource: dict[str, Any],
        system: str,
        value: str,
        *,
        known: Known | None = None,
        drop: tuple[str, ...] = (),
    ) -> dict[str, str]:
        """Add (or merge into) the entry for the resource with identifier ``system|value``;
        returns a Reference to it. Types the server cannot search by identifier get an update
        by a stable id instead. ``drop`` names elements to remove from the merged result."""
        rtype = str(resource["resourceType"])
        if rtype in SEARCHABLE:
            url = conditional_url(rtype, system, value)
        else:
            url = f"{rtype}/{stable_id(rtype, system, value)}"
            resource = {"resourceType": rtype, "id": url.partition("/")[2], **resource}
        if rtype in SHARED_TYPES:
            if url not in self.shared_urls:
                self.shared_urls.append(url)
            known = known or self.prior.shared.get(url)
        existing = self._entries.get(url)
        if existing is not None:
            existing.resource = merge(existing.resource, resource)
            return {"reference": existing.full_url}
        if_match = None
        if known is not None:
            if rtype in SHARED_TYPES:
                resource = merge(known.resource, resource)
            if_match = f'W/"{known.version}"'
        resource = {k: v for k, v in resource.items() if k not in drop}
        entry = _Entry(resource, url, f"urn:uuid:{stable_id('entry', url)}", if_match)
        self._entries[url] = entry
        return {"reference": entry.full_url}

    def put_stored(self, known: Known, resource: dict[str, Any]) -> dict[str, str]:
        """An update of a stored resource by its id (to mark it entered-in-error or superseded)."""
        url = known.ref
        body = {**resource, "id": known.id}
        entry = _Entry(body, url, f"urn:uuid:{stable_id('entry', url)}", f'W/"{known.version}"')
        self._entries[url] = entry
        return {"reference": entry.full_url}

    def resources(self) -> list[dict[str, Any]]:
        return [entry.resource for entry in self._entries.values()]

    def references(self) -> list[dict[str, str]]:
        return [{"reference": entry.full_url} for entry in self._entries.values()]

    def bundle(self) -> dict[str, Any]:
        entries = []
        for entry in self._entries.values():
            request: dict[str, Any] = {"method": "PUT", "url": entry.url}
            if entry.if_match:
                request["ifMatch"] = entry.if_match
            entries.append(
                {"fullUrl": entry.full_url, "resource": entry.resource, "request": request}
            )
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
