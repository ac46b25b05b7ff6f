"""Batch and transaction Bundles (FHIR R4 §3.1.0.11).

A transaction runs in ONE database transaction: all entries succeed or nothing is stored. Entries
run in the order the spec prescribes (DELETE, POST, PUT/PATCH, GET), ``urn:uuid`` fullUrls and
conditional references (``Type?identifier=...``) are resolved to the ids the server assigns, and
the answer is a transaction-response with status, location and etag per entry, in request order.
Deletes run before any conditional entry is matched, and a transaction that writes the same
resource twice (or two conditional creates/updates with the same criteria) fails with 409. A
PATCH entry carries its JSON Patch as a Binary. A batch runs each entry in its own database
transaction and reports each outcome on its own.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
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
from adapter.fhir.json_codec import parse_json_patch
from adapter.mapping.identity import parse_conditional_reference
from adapter.router import crud
from adapter.router.access import transact
from adapter.router.crud import (
    Context,
    canonical_criteria,
    check_writable,
    identifier_pair,
    match_identifiers,
    matches,
    validation_status,
)
from adapter.router.dispatch import parse_url
from adapter.router.request import FhirRequest, Outcome, last_modified
from adapter.search.values import FHIR_ID
from adapter.security.errors import AuthError
from adapter.store.records import new_id
from adapter.store.repository import Repository, Transaction, TransientConflict

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
}
_JSON_PATCH = "application/json-patch+json"


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
    validated: tuple[Issue, ...] | None = None  # issues found before the write transaction
    response: dict[str, Any] = field(default_factory=dict)


def _rebase(error: FhirError, index: int, entry: _Entry) -> FhirError:
    """The entry's error, with expressions and message placed inside the Bundle (a refused
    token or scope keeps its challenge)."""
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
    if isinstance(error, AuthError):
        return AuthError(error.status, issues, error.bearer_error, error.scope)
    return FhirError(error.status, issues)


def _relative(url: str, base_url: str) -> str:
    """An entry's request URL relative to the base (clients may send it absolute)."""
    if base_url and url.startswith(base_url + "/"):
        return url[len(base_url) + 1 :]
    return url


def _patch_body(resource: Any, ctx: Context) -> Any:
    """A PATCH entry carries its JSON Patch as a Binary (R4 §3.1.0.11.2); None when it does not."""
    if not (
        isinstance(resource, dict)
        and resource.get("resourceType") == "Binary"
        and resource.get("contentType") == _JSON_PATCH
        and isinstance(resource.get("data"), str)
    ):
        return None
    limits = ctx.settings
    try:
        raw = base64.b64decode(resource["data"], validate=True)
        return parse_json_patch(
            raw, max_depth=limits.max_json_depth, max_bytes=limits.max_body_bytes
        )
    except (binascii.Error, FhirError):
        return None


def _entries(ctx: Context, bundle: dict[str, Any], base_url: str) -> list[_Entry]:
    """The entries of a batch or transaction, or 400 naming every malformed one (413 when
    there are more than the server takes)."""
    raw = bundle.get("entry", [])
    if not isinstance(raw, list):
        raise invalid("Bundle.entry must be a list of entries.", expression="Bundle.entry")
    max_entries = ctx.settings.max_bundle_entries
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
        if (
            not isinstance(item, dict)
            or not isinstance(request, dict)
            or not isinstance(request.get("method"), str)
            or not isinstance(request.get("url"), str)
            or not request["url"]
        ):
            issues.append(
                error_issue(
                    "required",
                    Code.REQUIRED_MISSING,
                    "Each entry of a batch or transaction needs request.method and request.url.",
                    f"{where}.request",
                )
            )
            continue
        method = request["method"].upper()
        if method not in _ORDER:
            issues.append(
                error_issue(
                    "code-invalid",
                    Code.INVALID_VALUE,
                    f"request.method {request['method']!r} is not an HTTP verb of FHIR "
                    f"({', '.join(_ORDER)}).",
                    f"{where}.request.method",
                )
            )
            continue
        for header in ("ifMatch", "ifNoneExist"):
            if header in request and not isinstance(request[header], str):
                issues.append(
                    error_issue(
                        "structure",
                        Code.WRONG_JSON_TYPE,
                        f"request.{header} must be a string.",
                        f"{where}.request.{header}",
                    )
                )
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
        resource = item.get("resource")
        if method in ("POST", "PUT") and not isinstance(resource, dict):
            issues.append(
                error_issue(
                    "required",
                    Code.REQUIRED_MISSING,
                    f"A {method} entry needs a resource.",
                    f"{where}.resource",
                )
            )
        if method == "PATCH":
            resource = _patch_body(resource, ctx)
            if resource is None:
                issues.append(
                    error_issue(
                        "required",
                        Code.REQUIRED_MISSING,
                        f"A PATCH entry carries its JSON Patch (a JSON array of operations) as "
                        f"a Binary resource with contentType {_JSON_PATCH} and the patch, "
                        "base64-encoded, in data.",
                        f"{where}.resource",
                    )
                )
        entries.append(
            _Entry(
                index=i,
                method=method,
                url=_relative(request["url"], base_url),
                full_url=full_url if isinstance(full_url, str) else None,
                resource=resource,
                if_match=request.get("ifMatch"),
                if_none_exist=request.get("ifNoneExist"),
            )
        )
    if issues:
        raise FhirError(400, issues)
    return entries


def _type_of(url: str) -> str:
    return urlsplit(url).path.strip("/").split("/")[0]


def _criteria(entry: _Entry) -> str | None:
    """The search criteria of a conditional create or update entry."""
    if entry.method == "POST":
        return entry.if_none_exist or None
    if entry.method == "PUT":
        return urlsplit(entry.url).query or None
    return None


def _match_together(tx: Transaction, entries: list[_Entry]) -> dict[tuple[str, str], list[str]]:
    """(type, criteria) -> matching ids for the entries conditional on one identifier, all found
    with one search (a discharge names a dozen resources by identifier)."""
    by_type: dict[str, dict[tuple[str, str], str]] = {}
    for entry in entries:
        criteria = _criteria(entry)
        pair = identifier_pair(criteria) if criteria is not None else None
        if criteria is not None and pair is not None:
            by_type.setdefault(_type_of(entry.url), {})[pair] = criteria
    found = match_identifiers(tx, {rtype: list(wanted) for rtype, wanted in by_type.items()})
    return {(rtype, by_type[rtype][pair]): ids for (rtype, pair), ids in found.items()}


def _assign(ctx: Context, tx: Transaction, entries: list[_Entry]) -> dict[str, str]:
    """fullUrl -> "Type/id" for every entry that writes, resolving conditional creates/updates.

    Every criteria is locked first, all at once (one round trip, and in one order whatever the
    order of the entries), then each is matched."""
    tx.lock(
        f"{_type_of(e.url)}?{canonical_criteria(criteria)}"
        for e in entries
        if (criteria := _criteria(e)) is not None
    )
    known = _match_together(tx, entries)
    ids: dict[str, str] = {}
    for entry in entries:
        rtype = _type_of(entry.url)
        path = urlsplit(entry.url)
        try:
            if entry.method == "POST":
                check_writable(rtype, "create")
                rid = None
                if entry.if_none_exist:
                    found = known.get((rtype, entry.if_none_exist))
                    if found is None:
                        found = matches(ctx, tx, rtype, entry.if_none_exist)
                    if len(found) > 1:
                        raise precondition_failed(
                            f"ifNoneExist '{entry.if_none_exist}' matches several {rtype}."
                        )
                    if found:
                        rid, entry.existing = found[0], True
                entry.resolved = f"{rtype}/{rid or new_id()}"
            elif entry.method == "PUT" and path.query:
                check_writable(rtype, "update")
                criteria = path.query
                found = known.get((rtype, criteria))
                if found is None:
                    found = matches(ctx, tx, rtype, criteria)
                if len(found) > 1:
                    raise precondition_failed(
                        f"The criteria '{criteria}' match more than one {rtype}; a conditional "
                        "update needs exactly one or none."
                    )
                body_id = entry.resource.get("id")
                if found and body_id is not None and body_id != found[0]:
                    raise invalid(
                        f"The body has id '{body_id}' but the criteria select {rtype}/{found[0]}.",
                        expression=f"{rtype}.id",
                    )
                entry.resolved = f"{rtype}/{found[0] if found else body_id or new_id()}"
            elif entry.method in ("PUT", "PATCH") and not path.query:
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
        if not stored.deleted:
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
        validated=entry.validated,
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
    # Size and entry shape first: 413 and 400 say more, and cost less, than validating the rest.
    entries = _entries(ctx, bundle, base.base_url)
    _check_shell(ctx, bundle)
    if kind == "transaction":
        validated = _validate_entries(ctx, entries)
        # A fresh copy for each attempt: resolving references rewrites the entries.
        return transact(
            repo,
            base,
            lambda tx: run_transaction(ctx, tx, copy.deepcopy(bundle), base, validated),
        )
    return _batch(ctx, repo, bundle, base)


def _placeholder(literal: str) -> str:
    """A valid id standing in for the one the transaction will assign."""
    uuid = literal.removeprefix("urn:uuid:")
    if uuid != literal and FHIR_ID.fullmatch(uuid):
        return uuid
    return hashlib.sha1(literal.encode(), usedforsecurity=False).hexdigest()


def _validate_entries(ctx: Context, entries: list[_Entry]) -> dict[int, tuple[Issue, ...]]:
    """Validate the resources of a transaction's POST and PUT entries before any lock is taken,
    so the write transaction (on SQLite, the one writer) holds the database only to write, and
    several server processes validate in parallel.

    References to other entries and conditional references are validated as the ``Type/id``
    they will become, with a stand-in id. An entry that refers to nothing the Bundle holds is
    left to the transaction, which says so. Raises the first entry's errors; returns each
    validated entry's warnings by position.
    """
    ids: dict[str, str] = {}
    for entry in entries:
        if entry.method in ("POST", "PUT") and entry.full_url:
            path = urlsplit(entry.url)
            known = path.path.strip("/") if entry.method == "PUT" and not path.query else ""
            stand_in = f"{_type_of(entry.url)}/{_placeholder(entry.full_url)}"
            ids[entry.full_url] = known if "/" in known else stand_in
    found: dict[int, tuple[Issue, ...]] = {}
    for entry in entries:
        if entry.method not in ("POST", "PUT") or not isinstance(entry.resource, dict):
            continue
        try:
            resource = _as_written(entry.resource, ids)
        except _Dangling:
            continue
        rid = ids.get(entry.full_url or "", "").partition("/")[2]
        if entry.method == "POST":
            resource.pop("id", None)  # the server assigns it (crud.create)
        elif resource.get("id") is None:
            resource["id"] = rid or _placeholder(entry.url)
        issues = ctx.validate(resource)
        if has_errors(issues):
            raise _rebase(FhirError(validation_status(issues), issues), entry.index, entry)
        found[entry.index] = tuple(issues)
    return found


class _Dangling(Exception):
    """A reference names no entry of the Bundle (the transaction reports it)."""


def _as_written(node: Any, ids: dict[str, str]) -> Any:
    """A copy of the resource with references as the transaction will write them."""
    if isinstance(node, list):
        return [_as_written(item, ids) for item in node]
    if not isinstance(node, dict):
        return node
    copied: dict[str, Any] = {}
    for key, value in node.items():
        if key != "reference" or not isinstance(value, str):
            copied[key] = _as_written(value, ids)
        elif value in ids:
            copied[key] = ids[value]
        elif value.startswith(("urn:uuid:", "urn:oid:")):
            raise _Dangling(value)
        elif "?" in value:
            copied[key] = f"{value.partition('?')[0]}/{_placeholder(value)}"
        else:
            copied[key] = value
    return copied


def run_transaction(
    ctx: Context,
    tx: Transaction,
    bundle: dict[str, Any],
    base: FhirRequest,
    validated: dict[int, tuple[Issue, ...]] | None = None,
) -> Outcome:
    """The entries of a transaction Bundle inside an open database transaction; ``validated``:
    the issues of entries validated before it (:func:`_validate_entries`)."""
    entries = _entries(ctx, bundle, base.base_url)
    for entry in entries:
        entry.validated = (validated or {}).get(entry.index)
    # Every entry's address and scope first: nothing is matched or written for a transaction
    # that names an interaction it cannot have.
    for entry in entries:
        try:
            parse_url(entry.method, entry.url, base)
        except FhirError as error:
            raise _rebase(error, entry.index, entry) from None
    ordered = sorted(entries, key=lambda e: _ORDER.get(e.method, 9))
    # Deletes run before anything is matched: a conditional create or update in the same
    # transaction must not find what the transaction deletes (R4 §3.1.0.11.2 processing order).
    for entry in ordered:
        if entry.method == "DELETE":
            _execute(ctx, tx, entry, base)
    ids = _assign(ctx, tx, [e for e in ordered if e.method != "DELETE"])
    _check_overlap(entries)
    _resolve_references(ctx, tx, entries, ids)
    pending = frozenset(e.resolved for e in entries if e.resolved and e.method != "DELETE")
    base = replace(base, pending=pending)
    # The resources the updates will write, read in one go rather than one by one.
    tx.prefetch(
        (rtype, rid)
        for e in entries
        if e.resolved and e.method in ("PUT", "PATCH")
        for rtype, _, rid in [e.resolved.partition("/")]
    )
    for entry in ordered:
        if entry.method != "DELETE":
            _execute(ctx, tx, entry, base)
    return Outcome(
        200,
        {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [e.response for e in entries],
        },
    )


def _execute(ctx: Context, tx: Transaction, entry: _Entry, base: FhirRequest) -> None:
    """Run one entry of a transaction and keep its response; its failure fails them all."""
    try:
        result, req = _run_entry(ctx, tx, entry, base)
    except TransientConflict:
        raise
    except FhirError as error:
        raise _rebase(error, entry.index, entry) from None
    if entry.method == "DELETE":
        if req.id is not None:
            entry.resolved = f"{req.resource_type}/{req.id}"
        elif result.stored is not None:
            entry.resolved = f"{result.stored.resource_type}/{result.stored.id}"
    entry.response = _response(result, req, base.base_url)


def _identities(entry: _Entry) -> list[str]:
    """What an entry writes: the resource, and for a conditional create or update also its
    criteria (two with the same criteria would otherwise both create the resource)."""
    if entry.method not in ("DELETE", "POST", "PUT", "PATCH"):
        return []
    keys = [entry.resolved] if entry.resolved else []
    path, _, query = entry.url.partition("?")
    criteria = {"POST": entry.if_none_exist, "PUT": query}.get(entry.method)
    if criteria:
        keys.append(f"{_type_of(path)}?{canonical_criteria(criteria)}")
    return keys


def _check_overlap(entries: list[_Entry]) -> None:
    """A transaction writes each resource at most once (R4 §3.1.0.11.2: overlapping identities
    fail the transaction): 409, the entries contradict each other."""
    seen: dict[str, int] = {}
    issues = []
    for entry in entries:
        for key in _identities(entry):
            if key in seen:
                issues.append(
                    error_issue(
                        "conflict",
                        Code.CONFLICT,
                        f"Entries {seen[key]} and {entry.index} both write {key}; a transaction "
                        "writes each resource once.",
                        f"Bundle.entry[{entry.index}].request",
                    )
                )
            else:
                seen[key] = entry.index
    if issues:
        raise FhirError(409, issues)


def _batch_entry(
    ctx: Context, repo: Repository, entry: _Entry, base: FhirRequest
) -> dict[str, Any]:
    """One batch entry in its own database transaction, retried when it loses a race; the
    batch's one AuditEvent is recorded once every entry has run."""
    answer: dict[str, Any] = {}

    def work(tx: Transaction) -> Outcome:
        _resolve_references(ctx, tx, [entry], {})
        result, req = _run_entry(ctx, tx, entry, base)
        answer.update(_response(result, req, base.base_url))
        return result

    transact(repo, base, work, audited=False)
    return answer


def _batch(ctx: Context, repo: Repository, bundle: dict[str, Any], base: FhirRequest) -> Outcome:
    entries = _entries(ctx, bundle, base.base_url)
    for entry in entries:
        if isinstance(entry.resource, dict):
            entry.resource = copy.deepcopy(entry.resource)
        try:
            entry.response = _batch_entry(ctx, repo, entry, base)
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
