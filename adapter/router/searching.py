"""Search and history as Bundles (FHIR R4 §3.1.1 search, §3.1.0.9 history, §3.1.1.6 paging).

Results page with an opaque keyset cursor carried in the ``next`` link, so paging is stable while
resources are written and works against any forlop process. ``previous`` goes back to the page the
client came from: each link carries the cursors of the pages before it.

The caller's scopes must allow the search of its types and the read of what ``_include`` and
``_revinclude`` may bring (:func:`adapter.security.scopes.check_search`, 403); matches and included
resources of types they do not cover are left out, as :mod:`adapter.router.access` leaves out
those of patients the caller's organisation does not care for.

Result parameters that shape the answer rather than select resources (``_summary``,
``_elements``, ``_format``, ``_pretty``) never reach the search parser; they travel in every link
so that each page is rendered like the first, and ``_summary``/``_elements`` are applied here, so a
``POST _search`` form or a Bundle entry gets them too. ``_summary=count`` asks the store for the
total alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from adapter.fhir.errors import Code, FhirError, Issue, error_issue, invalid, not_found
from adapter.fhir.models import is_resource_type
from adapter.registry import default_registry
from adapter.router.crud import Context
from adapter.router.request import FhirRequest, Outcome
from adapter.router.subsetting import subset
from adapter.search.paging import decode_cursor
from adapter.search.parameters import default_parameters
from adapter.search.parser import parse_search
from adapter.search.query import SearchQuery
from adapter.search.values import (
    format_instant,
    normalize_string,
    split_unescaped,
    to_microseconds,
    unescape,
)
from adapter.security.scopes import EXPLICIT_ONLY_TYPES, check_search
from adapter.store.records import decode_history_cursor
from adapter.store.repository import StoredResource, Transaction

RESOURCE_TYPES = "http://hl7.org/fhir/ValueSet/resource-types|4.0.1"
_PAGING = ("_cursor", "_back")
_RENDERING = ("_format", "_pretty", "_summary", "_elements")
# R4 string and token values never hold C0 controls other than tab, CR and LF (§2.24.0.1 string),
# so such a value cannot match anything; PostgreSQL text cannot even carry U+0000.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# R4 ``instant``: seconds and a time zone are required (§2.24.0.1).
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})")
# Pages of history read at most to fill one answer when versions are left out.
_FILL_PAGES = 10
# Positions in a cursor are compared with 64-bit database integers.
_INT64 = 2**63


def _stamp(moment: datetime) -> str:
    return format_instant(to_microseconds(moment))


def entry(base_url: str, stored: StoredResource, mode: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "fullUrl": f"{base_url}/{stored.resource_type}/{stored.id}",
        "resource": stored.resource,
    }
    if mode:
        out["search"] = {"mode": mode}
    return out


def _link(url: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{url}?{urlencode(list(params))}" if params else url


def _paging_links(
    url: str,
    params: Sequence[tuple[str, str]],
    cursor: str | None,
    back: list[str],
    next_cursor: str | None,
) -> list[dict[str, str]]:
    """self, next and previous links; ``back`` is the trail of cursors that led to this page."""
    links = [{"relation": "self", "url": _link(url, [*params, *_cursor_params(cursor, back)])}]
    if next_cursor:
        trail = [*back, cursor or ""]
        links.append(
            {"relation": "next", "url": _link(url, [*params, *_cursor_params(next_cursor, trail)])}
        )
    if cursor is not None:
        previous = back[-1] or None if back else None
        links.append(
            {
                "relation": "previous",
                "url": _link(url, [*params, *_cursor_params(previous, back[:-1])]),
            }
        )
    return links


def _cursor_params(cursor: str | None, back: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if cursor:
        out.append(("_cursor", cursor))
    if any(back):
        out.append(("_back", ".".join(back)))
    return out


def _back(query: Sequence[tuple[str, str]]) -> list[str]:
    raw = next((v for k, v in query if k == "_back"), "")
    return raw.split(".") if raw else []


def _check_values(query: Sequence[tuple[str, str]]) -> None:
    """400 for a parameter whose name or value holds a control character, a ``_count`` that is
    not written in ASCII digits (``str.isdigit`` also accepts ``²`` and ``٣``), or a ``:text``
    value that is empty once spacing and accents are set aside."""
    for name, value in query:
        found = _CONTROL.search(name + value)
        if found:
            raise invalid(
                f"The parameter '{name}' contains the control character "
                f"U+{ord(found.group()):04X}, which no FHIR value holds.",
                expression=name,
                forlop_code=Code.SEARCH_INVALID,
            )
        if name == "_count":
            _count(value, minimum=0)
        if name.endswith(":text") and any(
            not normalize_string(unescape(term)) for term in split_unescaped(value, ",")
        ):
            raise invalid(
                f"'{name}' has an empty value.", expression=name, forlop_code=Code.SEARCH_INVALID
            )


def _count(value: str, *, minimum: int) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < minimum:
        raise invalid(
            f"_count must be a whole number of {minimum} or more, not {value!r}.",
            expression="_count",
            forlop_code=Code.SEARCH_INVALID,
        )
    return int(value)


def _damaged_cursor() -> FhirError:
    return invalid(
        "The paging cursor is damaged; start again from the first page.",
        expression="_cursor",
        forlop_code=Code.SEARCH_INVALID,
    )


def _check_position(query: SearchQuery) -> None:
    """Refuse a cursor (well-formed, of this search) whose position no database can compare."""
    for value in decode_cursor(query) or ():
        if isinstance(value, int) and not -_INT64 < value < _INT64:
            raise _damaged_cursor()
        if isinstance(value, str) and _CONTROL.search(value):
            raise _damaged_cursor()


@cache
def resource_types() -> tuple[str, ...]:
    """Every resource type this server stores (the R4 resource-types ValueSet, less the types the
    models do not have)."""
    expansion = default_registry().require(RESOURCE_TYPES)["expansion"]["contains"]
    return tuple(c["code"] for c in expansion if is_resource_type(c["code"]))


def search(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """Type-level (``req.resource_type``) or system-level search."""
    _check_values(req.query)
    criteria = [(k, v) for k, v in req.query if k not in _RENDERING and k != "_back"]
    parsed = parse_search(
        req.resource_type,
        criteria,
        default_count=ctx.settings.default_page_size,
        max_count=ctx.settings.max_page_size,
    )
    query = parsed.query
    if dict(req.query).get("_summary") == "count":
        query = replace(query, count=0)
    _check_position(query)
    issues: list[Issue] = []
    if parsed.unknown:
        message = f"Unknown search parameter(s): {', '.join(parsed.unknown)}."
        if req.prefer_handling == "strict":
            raise invalid(
                message,
                code="not-supported",
                forlop_code=Code.NOT_SUPPORTED,
                expression=parsed.unknown,
            )
        issues.append(
            Issue(
                "warning",
                "not-supported",
                message + " They were ignored.",
                parsed.unknown,
                Code.NOT_SUPPORTED,
            )
        )
    principal = req.principal
    if principal is not None:
        check_search(principal.scopes, query, default_parameters())
        allows = principal.scopes.allows
        if not query.types and not all(allows(t, "search") for t in EXPLICIT_ONLY_TYPES):
            # A wildcard does not reach AuditEvents: search the types it does reach, so that
            # pages are not filled with what would be left out.
            query = replace(query, types=tuple(t for t in resource_types() if allows(t, "search")))
    page = tx.search(query)
    matches, included = page.matches, page.included
    if principal is not None:
        # An include may bring in types the caller may not read.
        allows = principal.scopes.allows
        matches = [m for m in matches if allows(m.resource_type, "search")]
        included = [i for i in included if allows(i.resource_type, "read")]
    kept = [(k, v) for k, v in req.query if k not in _PAGING and k not in parsed.unknown]
    # A system search links to ``[base]/``: the HTTP layer serves GET there, while ``[base]``
    # alone takes only the POST of a Bundle.
    url = f"{req.base_url}/{req.resource_type or ''}"
    entries = [entry(req.base_url, m, "match") for m in matches]
    entries += [entry(req.base_url, i, "include") for i in included]
    if page.included_truncated:
        issues.append(
            error_issue(
                "too-costly",
                Code.NOT_SUPPORTED,
                "More resources were to be included than this server returns in one page; "
                "narrow the search or lower _count.",
            )
        )
    if issues:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [i.to_fhir() for i in issues],
                },
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None and len(matches) == len(page.matches):
        bundle["total"] = page.total
    bundle["link"] = _paging_links(url, kept, query.cursor, _back(req.query), page.next_cursor)
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return Outcome(200, subset(bundle, dict(req.query)))


def _since(value: str) -> datetime:
    if not _INSTANT.fullmatch(value):
        raise invalid(
            f"_since must be an instant with seconds and a time zone, such as "
            f"2026-01-12T10:00:00Z, not {value!r}.",
            expression="_since",
            forlop_code=Code.SEARCH_INVALID,
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise invalid(
            f"_since {value!r} is not a real moment in time.",
            expression="_since",
            forlop_code=Code.SEARCH_INVALID,
        ) from None


def _history_cursor(value: str) -> str:
    position = decode_history_cursor(value)  # 400 when damaged
    if position is not None and not all(-_INT64 < v < _INT64 for v in position):
        raise _damaged_cursor()
    return value


def _in_scope(req: FhirRequest, version: StoredResource) -> bool:
    """Whether a system history may show a version of this type (AuditEvents need a scope that
    names them; type and instance histories were checked on their type)."""
    if req.principal is None or req.resource_type is not None:
        return True
    return req.principal.scopes.allows(version.resource_type, "history")


def history(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """Instance, type or system history, newest first, with ``_since``, ``_count`` and paging."""
    _check_values(req.query)
    since: datetime | None = None
    count = ctx.settings.default_page_size
    cursor: str | None = None
    for key, value in req.query:
        if key == "_since":
            since = _since(value)
        elif key == "_count":
            count = min(_count(value, minimum=1), ctx.settings.max_page_size)
        elif key == "_cursor":
            cursor = _history_cursor(value)
    versions: list[StoredResource] = []
    next_cursor = cursor
    for _ in range(_FILL_PAGES):
        page = tx.history(
            req.resource_type, req.id, since=since, count=count - len(versions), cursor=next_cursor
        )
        versions += [v for v in page.entries if _in_scope(req, v)]
        next_cursor = page.next_cursor
        # Versions the caller may not see are left out (here for scopes, in a guarded
        # transaction for organisations): read on so that a page is not mostly empty.
        if len(versions) >= count or next_cursor is None:
            break
    if req.id is not None and not versions and since is None and cursor is None:
        raise not_found(f"{req.resource_type}/{req.id} is not known: it has no history.")
    entries = []
    for stored in versions:
        item: dict[str, Any] = {
            "fullUrl": f"{req.base_url}/{stored.resource_type}/{stored.id}",
        }
        if not stored.deleted:
            item["resource"] = stored.resource
        created = stored.version_id == 1 and not stored.deleted
        item["request"] = {
            "method": "DELETE" if stored.deleted else ("POST" if created else "PUT"),
            "url": stored.resource_type if created else f"{stored.resource_type}/{stored.id}",
        }
        item["response"] = {
            "status": "204" if stored.deleted else ("201" if created else "200"),
            "etag": f'W/"{stored.version_id}"',
            "lastModified": _stamp(stored.last_updated),
        }
        entries.append(item)
    parts = [p for p in (req.resource_type, req.id) if p]
    url = "/".join([req.base_url, *parts, "_history"])
    params = [(k, v) for k, v in req.query if k in ("_since", "_count", *_RENDERING)]
    links = _paging_links(url, params, cursor, _back(req.query), next_cursor)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "link": links}
    if entries:
        bundle["entry"] = entries
    return Outcome(200, subset(bundle, dict(req.query)))
