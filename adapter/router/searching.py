"""Search and history as Bundles (FHIR R4 §3.1.1 search, §3.1.0.9 history, §3.1.1.6 paging).

Results page with an opaque keyset cursor carried in the ``next`` link, so paging is stable while
resources are written and works against any forlop process. ``previous`` goes back to the page the
client came from: each link carries the cursors of the pages before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from adapter.fhir.errors import Code, Issue, error_issue, invalid
from adapter.router.crud import Context
from adapter.router.request import FhirRequest, Outcome
from adapter.search.parser import parse_search
from adapter.search.values import format_instant
from adapter.store.repository import StoredResource, Transaction

_PAGING = ("_cursor", "_back")


def _stamp(moment: datetime) -> str:
    return format_instant(int(moment.timestamp() * 1_000_000))


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
    if back:
        out.append(("_back", ".".join(back)))
    return out


def search(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """Type-level (``req.resource_type``) or system-level search."""
    params = [(k, v) for k, v in req.query if k not in ("_format", "_pretty", "_back")]
    parsed = parse_search(
        req.resource_type,
        params,
        default_count=ctx.settings.default_page_size,
        max_count=ctx.settings.max_page_size,
    )
    issues: list[Issue] = []
    if parsed.unknown:
        message = f"Unknown search parameter(s): {', '.join(parsed.unknown)}."
        if req.prefer_handling == "strict":
            raise invalid(message, code="not-supported", forlop_code=Code.NOT_SUPPORTED)
        issues.append(
            Issue(
                "warning", "not-supported", message + " They were ignored.", (), Code.NOT_SUPPORTED
            )
        )
    page = tx.search(parsed.query)
    back_raw = next((v for k, v in req.query if k == "_back"), "")
    back = back_raw.split(".") if back_raw else []
    base_params = [
        (k, v) for k, v in params if k not in _PAGING and k.partition(":")[0] not in parsed.unknown
    ]
    url = f"{req.base_url}/{req.resource_type}" if req.resource_type else req.base_url
    entries = [entry(req.base_url, m, "match") for m in page.matches]
    entries += [entry(req.base_url, i, "include") for i in page.included]
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
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = _paging_links(url, base_params, parsed.query.cursor, back, page.next_cursor)
    bundle["entry"] = entries
    return Outcome(200, bundle)


def history(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """Instance, type or system history, newest first, with ``_since``, ``_count`` and paging."""
    since: datetime | None = None
    count = ctx.settings.default_page_size
    cursor: str | None = None
    for key, value in req.query:
        if key == "_since":
            try:
                since = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise invalid(
                    f"_since must be an instant such as 2026-01-12T10:00:00Z, not {value!r}.",
                    expression="_since",
                ) from None
            if since.tzinfo is None:
                raise invalid("_since needs a time zone.", expression="_since")
        elif key == "_count":
            if not value.isdigit() or int(value) < 1:
                raise invalid(
                    f"_count must be a positive number, not {value!r}.", expression="_count"
                )
            count = min(int(value), ctx.settings.max_page_size)
        elif key == "_cursor":
            cursor = value
    page = tx.history(req.resource_type, req.id, since=since, count=count, cursor=cursor)
    entries = []
    for stored in page.entries:
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
    params = [(k, v) for k, v in req.query if k in ("_since", "_count")]
    back_raw = next((v for k, v in req.query if k == "_back"), "")
    links = _paging_links(
        url, params, cursor, back_raw.split(".") if back_raw else [], page.next_cursor
    )
    return Outcome(
        200, {"resourceType": "Bundle", "type": "history", "link": links, "entry": entries}
    )
