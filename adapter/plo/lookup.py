"""Reading what the store holds for the PLO import and export (FHIR R4 search by identifier and
reference, through the same search pipeline as the REST API)."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from adapter.fhir.errors import FhirError
from adapter.plo.fhir.assembly import Known
from adapter.plo.fhir.keys import SID, stable_id
from adapter.search.parser import parse_search
from adapter.search.query import SearchQuery
from adapter.store.repository import StoredResource, Transaction

__all__ = ["SEARCH_LIMIT", "by_identifier", "known", "read", "search", "written_by"]

SEARCH_LIMIT = 100


def known(stored: StoredResource) -> Known:
    return Known(stored.resource_type, stored.id, stored.version_id, stored.resource)


def search(tx: Transaction, resource_type: str, criteria: str) -> list[Known]:
    """The current resources matching ``criteria`` (a URL query string), at most
    :data:`SEARCH_LIMIT`."""
    params = parse_qsl(criteria, keep_blank_values=True)
    parsed = parse_search(resource_type, params, default_count=SEARCH_LIMIT, max_count=SEARCH_LIMIT)
    query = parsed.query
    page = tx.search(
        SearchQuery(types=query.types, clauses=query.clauses, count=SEARCH_LIMIT, total=None)
    )
    return [known(match) for match in page.matches]


def by_identifier(tx: Transaction, resource_type: str, system: str, value: str) -> list[Known]:
    return search(tx, resource_type, "identifier=" + quote(f"{system}|{value}", safe=""))


def read(tx: Transaction, reference: str) -> Known | None:
    """The current version of ``Type/id``; None when it is unknown or deleted."""
    rtype, _, rid = reference.partition("/")
    try:
        return known(tx.read(rtype, rid))
    except FhirError:
        return None


def written_by(tx: Transaction, msg_id: str) -> list[Known]:
    """What the message with ``msg_id`` wrote, from its Provenance's targets."""
    provenance = read(tx, f"Provenance/{stable_id('Provenance', SID.MSGID, msg_id)}")
    found = []
    for target in (provenance.resource.get("target") if provenance else None) or []:
        resource = read(tx, str(target.get("reference", "")))
        if resource is not None:
            found.append(resource)
    return found
