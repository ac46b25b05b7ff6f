"""Batch and transaction Bundles (FHIR R4 §3.1.0.11).

A transaction runs in ONE database transaction: all entries succeed or nothing is stored. Entries
run in the order the spec prescribes (DELETE, POST, PUT/PATCH, GET), ``urn:uuid`` fullUrls and
conditional references (``Type?identifier=...``) are resolved to the ids the server assigns, and
the answer is a transaction-response with status, location and etag per entry, in request order.
A batch runs each entry in its own database transaction and reports each outcome on its own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from adapter.fhir.errors import (
    Code,
    FhirError,
    Issue,
    error_issue,
    has_errors,
    invalid,
    outcome,
    precondition_failed,
    too_large,
)
from adapter.mapping.identity import parse_conditional_reference
from adapter.router import crud
from adapter.router.crud import Context, check_writable, lock_criteria, matches, validation_status
from adapter.router.dispatch import parse_url
from adapter.router.request import FhirRequest, Outcome, last_modified
from adapter.store.records import new_id
from adapter.store.repository import Repository, Transaction, TransientConflict

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
}
_ATTEMPTS = 5


@dataclass
class _Entry:
    index: int
    method: str
    url: str
    full_url: str | None
    resource: Any
    if_match: str | None
    if_none_exist: str | None
    resolved: str | None = None  # "Type/id" the entry writes, once known
    existing: bool = False  # a conditional create that found its resource
    response: dict[str, Any] = field(default_factory=dict)


def _rebase(error: FhirError, index: int, entry: _Entry) -> FhirError:
    """The entry's error, with expressions and message placed inside the Bundle."""
    prefix = f"Bundle.entry[{index}]"
    rtype = entry.resource.get("resourceType") if isinstance(entry.resource, dict) else None
    issues = []
    for issue in error.issues:
        expressions = tuple(
            f"{prefix}.resource{e[len(rtype) :]}" if rtype and e.startswith(str(rtype)) else prefix
            for e in issue.expression
        ) or (prefix,)
        issues.append(
            Issue(
                issue.severity,
                issue.code,
                f"Entry {index} ({entry.method} {entry.url}): {issue.diagnostics}",
                expressions,
                issue.forlop_code,
            )
        )
    return FhirError(error.status, issues)


def _entries(bundle: dict[str, Any], max_entries: int) -> list[_Entry]:
    raw = bundle.get("entry") or []
    if len(raw) > max_entries:
        raise too_large(
            f"The Bundle has {len(raw)} entries; this server accepts at most {max_entries}."
        )
    entries = []
    issues = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        request = item.get("request") if isinstance(item, dict) else None
        where = f"Bundle.entry[{i}]"
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            issues.append(
                error_issue(
                    "required",
                    Code.REQUIRED_MISSING,
                    "Each entry of a batch or transaction needs request.method and request.url.",
                    f"{where}.request",
                )
            )
            continue
        full_url = item.get("fullUrl")
        if isinstance(full_url, str):
            if full_url in seen:
                issues.append(
                    error_issue(
                        "invalid",
                        Code.INVALID_VALUE,
                        f"fullUrl {full_url} is used by entries {seen[full_url]} and {i}.",
                        f"{where}.fullUrl",
                    )
                )
            seen[full_url] = i
        method = str(request["method"]).upper()
        if method in ("POST", "PUT") and not isinstance(item.get("resource"), dict):
            issues.append(
                error_issue(
                    "required",
                    Code.REQUIRED_MISSING,
                    f"A {method} entry needs a resource.",
                    f"{where}.resource",
                )
            )
        entries.append(
            _Entry(
                index=i,
                method=method,
                url=str(request["url"]),
                full_url=full_url if isinstance(full_url, str) else None,
                resource=item.get("resource"),
                if_match=request.get("ifMatch"),
                if_none_exist=request.get("ifNoneExist"),
            )
        )
    if issues:
        raise FhirError(400, issues)
    return entries


def _type_of(url: str) -> str:
    return urlsplit(url).path.strip("/").split("/")[0]


def _assign(ctx: Context, tx: Transaction, entries: list[_Entry]) -> dict[str, str]:
    """fullUrl -> "Type/id" for every entry that writes, resolving conditional creates/updates."""
    ids: dict[str, str] = {}
    for entry in entries:
        rtype = _type_of(entry.url)
        path = urlsplit(entry.url)
        try:
            if entry.method == "POST":
                check_writable(rtype)
                rid = None
                if entry.if_none_exist:
                    lock_criteria(tx, rtype, entry.if_none_exist)
                    found = matches(ctx, tx, rtype, entry.if_none_exist)
                    if len(found) > 1:
                        raise precondition_failed(
                            f"ifNoneExist '{entry.if_none_exist}' matches several {rtype}."
                        )
                    if found:
                        rid, entry.existing = found[0], True
                entry.resolved = f"{rtype}/{rid or new_id()}"
            elif entry.method == "PUT" and path.query:
                check_writable(rtype)
                criteria = path.query
                lock_criteria(tx, rtype, criteria)
                found = matches(ctx, tx, rtype, criteria)
                if len(found) > 1:
                    raise precondition_failed(
                        f"The criteria '{criteria}' match more than one {rtype}; a conditional "
                        "update needs exactly one or none."
                    )
                body_id = entry.resource.get("id")
                entry.resolved = f"{rtype}/{found[0] if found else body_id or new_id()}"
            elif entry.method in ("PUT", "PATCH", "DELETE") and not path.query:
                entry.resolved = path.path.strip("/")
        except FhirError as error:
            raise _rebase(error, entry.index, entry) from None
        if entry.full_url and entry.resolved:
            ids[entry.full_url] = entry.resolved
    return ids


def _walk_references(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for value in node.values():
            yield from _walk_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_references(value)


def _identifiers(resource: Any) -> list[tuple[str, str]]:
    raw = resource.get("identifier") if isinstance(resource, dict) else None
    idents = [raw] if isinstance(raw, dict) else raw or []
    return [(str(i.get("system")), str(i.get("value"))) for i in idents if isinstance(i, dict)]


def _resolve_references(
    ctx: Context, tx: Transaction, entries: list[_Entry], ids: dict[str, str]
) -> None:
    """Rewrite urn:uuid and conditional references to the ids assigned in this transaction."""
    for entry in entries:
        if not isinstance(entry.resource, dict):
            continue
        for ref in _walk_references(entry.resource):
            literal = ref["reference"]
            if literal in ids:
                ref["reference"] = ids[literal]
            elif literal.startswith("urn:uuid:") or literal.startswith("urn:oid:"):
                raise _rebase(
                    invalid(
                        f"The reference {literal} names no entry of this Bundle.",
                        code="not-found",
                        forlop_code=Code.NOT_FOUND,
                        expression=str(entry.resource.get("resourceType")),
                    ),
                    entry.index,
                    entry,
                )
            elif "?" in literal:
                ref["reference"] = _conditional(ctx, tx, entries, literal, entry)


def _conditional(
    ctx: Context, tx: Transaction, entries: list[_Entry], literal: str, entry: _Entry
) -> str:
    """A conditional reference: an entry of this Bundle with that identifier, else one match."""
    parsed = parse_conditional_reference(literal)
    if parsed is not None:
        rtype, system, value = parsed
        for other in entries:
            if (
                other.resolved
                and other.resolved.startswith(rtype + "/")
                and isinstance(other.resource, dict)
                and other.resource.get("resourceType") == rtype
                and (system, value) in _identifiers(other.resource)
            ):
                return other.resolved
    rtype, _, criteria = literal.partition("?")
    try:
        found = matches(ctx, tx, rtype, criteria)
    except FhirError as error:
        raise _rebase(error, entry.index, entry) from None
    if len(found) != 1:
        raise _rebase(
            precondition_failed(
                f"The conditional reference {literal} matches {len(found)} resources; it must "
                "match exactly one."
            ),
            entry.index,
            entry,
        )
    return f"{rtype}/{found[0]}"


def _response(outcome_: Outcome, req: FhirRequest, base_url: str) -> dict[str, Any]:
    status = outcome_.status
    response: dict[str, Any] = {"status": f"{status} {_REASONS.get(status, '')}".strip()}
    stored = outcome_.stored
    if stored is not None:
        if status == 201:
            response["location"] = (
                f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}"
            )
        response["etag"] = f'W/"{stored.version_id}"'
        response["lastModified"] = last_modified(stored)
    if outcome_.issues:
        response["outcome"] = outcome(outcome_.issues)
    out: dict[str, Any] = {}
    if stored is not None:
        out["fullUrl"] = f"{base_url}/{stored.resource_type}/{stored.id}"
    if outcome_.resource is not None and (req.method == "GET" or req.prefer_return):
        out["resource"] = outcome_.resource
    out["response"] = response
    return out


def _run_entry(
    ctx: Context, tx: Transaction, entry: _Entry, base: FhirRequest
) -> tuple[Outcome, FhirRequest]:
    handler, req = parse_url(entry.method, entry.url, base)
    req = replace(
        req,
        body=entry.resource,
        if_match=entry.if_match,
        if_none_exist=None if entry.resolved else entry.if_none_exist,
    )
    if entry.method == "POST" and entry.resolved and handler is crud.create:
        rtype, _, rid = entry.resolved.partition("/")
        if entry.existing:
            stored = tx.read(rtype, rid)
            return Outcome(200, stored.resource, stored), req
        return crud.create(ctx, tx, req, assigned_id=rid), req
    if entry.method == "PUT" and entry.resolved and req.id is None:
        rtype, _, rid = entry.resolved.partition("/")
        body = dict(entry.resource)
        body["id"] = rid
        req = replace(req, id=rid, query=(), body=body)
        return crud.update(ctx, tx, req), req
    return handler(ctx, tx, req), req


def _check_shell(ctx: Context, bundle: dict[str, Any]) -> None:
    """Validate the Bundle itself; entry resources are validated as each entry is written."""
    shell = {k: v for k, v in bundle.items() if k != "entry"}
    shell["entry"] = [
        {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
        for e in bundle.get("entry") or []
    ]
    issues = ctx.validate(shell)
    if has_errors(issues):
        raise FhirError(validation_status(issues), issues)


def process(ctx: Context, repo: Repository, bundle: Any, base: FhirRequest) -> Outcome:
    """POST of a batch or transaction Bundle to the base URL."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise invalid(
            "POST to the base URL takes a Bundle of type batch or transaction.",
            expression="resourceType",
        )
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise invalid(
            f"A Bundle of type {kind!r} cannot be processed; use batch or transaction.",
            expression="Bundle.type",
        )
    _check_shell(ctx, bundle)
    if kind == "transaction":
        for attempt in range(_ATTEMPTS):
            try:
                return _transaction(ctx, repo, copy.deepcopy(bundle), base)
            except TransientConflict:
                if attempt == _ATTEMPTS - 1:
                    raise
    return _batch(ctx, repo, bundle, base)


def _transaction(
    ctx: Context, repo: Repository, bundle: dict[str, Any], base: FhirRequest
) -> Outcome:
    with repo.transaction() as tx:
        return run_transaction(ctx, tx, bundle, base)


def run_transaction(
    ctx: Context, tx: Transaction, bundle: dict[str, Any], base: FhirRequest
) -> Outcome:
    """The entries of a transaction Bundle inside an open database transaction."""
    entries = _entries(bundle, ctx.settings.max_bundle_entries)
    ids = _assign(ctx, tx, sorted(entries, key=lambda e: _ORDER.get(e.method, 9)))
    _resolve_references(ctx, tx, entries, ids)
    pending = frozenset(e.resolved for e in entries if e.resolved and e.method != "DELETE")
    base = replace(base, pending=pending)
    for entry in sorted(entries, key=lambda e: _ORDER.get(e.method, 9)):
        try:
            result, req = _run_entry(ctx, tx, entry, base)
        except TransientConflict:
            raise
        except FhirError as error:
            raise _rebase(error, entry.index, entry) from None
        entry.response = _response(result, req, base.base_url)
    return Outcome(
        200,
        {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [e.response for e in entries],
        },
    )


def _batch(ctx: Context, repo: Repository, bundle: dict[str, Any], base: FhirRequest) -> Outcome:
    entries = _entries(bundle, ctx.settings.max_bundle_entries)
    for entry in entries:
        if isinstance(entry.resource, dict):
            entry.resource = copy.deepcopy(entry.resource)
        try:
            with repo.transaction() as tx:
                _resolve_references(ctx, tx, [entry], {})
                result, req = _run_entry(ctx, tx, entry, base)
                entry.response = _response(result, req, base.base_url)
        except FhirError as error:
            rebased = _rebase(error, entry.index, entry)
            entry.response = {
                "response": {
                    "status": f"{error.status} {_REASONS.get(error.status, '')}".strip(),
                    "outcome": rebased.outcome(),
                }
            }
    return Outcome(
        200,
        {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [e.response for e in entries],
        },
    )
