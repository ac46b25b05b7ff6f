"""Transaction Bundles of conditional entries (FHIR R4 §3.1.0.11 transaction, §3.1.0.8).

Derived resources are written with conditional update on their stable identifier
(``PUT Type?identifier=system|value``) or update on a stable id, so the same Bundle pushed twice
creates nothing the second time. fullUrls are deterministic ``urn:uuid``s that other entries refer
to; the server rewrites them to the ids it assigns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapter.mapping.identity import conditional_reference, stable_uuid


@dataclass
class TransactionBuilder:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def _add(self, resource: dict[str, Any], full_url: str, url: str) -> str:
        self.entries.append(
            {"fullUrl": full_url, "resource": resource, "request": {"method": "PUT", "url": url}}
        )
        return full_url

    def put_by_identifier(self, resource: dict[str, Any], system: str, value: str) -> str:
        """Conditional update on an identifier; returns the entry's fullUrl."""
        rtype = str(resource["resourceType"])
        full_url = "urn:uuid:" + stable_uuid(rtype, system, value)
        return self._add(resource, full_url, conditional_reference(rtype, system, value))

    def put_by_id(self, resource: dict[str, Any]) -> str:
        """Update (or create) at a client-chosen id; returns the entry's fullUrl."""
        rtype = str(resource["resourceType"])
        rid = str(resource["id"])
        return self._add(resource, "urn:uuid:" + stable_uuid(rtype, "id", rid), f"{rtype}/{rid}")

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}


def full_url_for(resource_type: str, system: str, value: str) -> str:
    """The fullUrl :meth:`TransactionBuilder.put_by_identifier` gives that resource."""
    return "urn:uuid:" + stable_uuid(resource_type, system, value)
