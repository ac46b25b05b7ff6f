"""Instance and type interactions: create, read, vread, update, patch, delete, and their
conditional forms (FHIR R4 §3.1.0.2-§3.1.0.7, §3.1.0.8 conditional update/create/delete).

Every write goes through :func:`prepare`: the body must be of the type (and id) it is written as,
valid against base R4 and the profiles it claims, and its literal references must name resources
that exist. Conformance resources (profiles/) are served read-only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

import jsonpatch

from adapter.config import Settings
from adapter.fhir.errors import (
    Code,
    FhirError,
    Issue,
    error_issue,
    has_errors,
    invalid,
    method_not_allowed,
    not_found,
    precondition_failed,
)
from adapter.fhir.errors import outcome as render_outcome
from adapter.registry import Registry
from adapter.router.request import FhirRequest, Outcome, parse_if_match
from adapter.search.parameters import default_parameters
from adapter.search.parser import parse_search
from adapter.search.query import SearchQuery
from adapter.search.values import cut, parse_reference
from adapter.security.audit import check_audit_interaction
from adapter.store.indexing import default_indexer
from adapter.store.records import check_body, check_id, check_type
from adapter.store.repository import StoredResource, Transaction

# Managed as files in profiles/ and mappings/; the API serves them read-only.
READ_ONLY_TYPES = frozenset(
    {
        "StructureDefinition",
        "Questionnaire",
        "CodeSystem",
        "ValueSet",
        "ConceptMap",
        "SearchParameter",
    }
)
_STRUCTURAL = ("FORLOP-STRUCT-", "FORLOP-WIRE-")
# Query parameters that shape the answer, not what a conditional interaction selects.
_RENDERING = frozenset({"_format", "_pretty", "_summary", "_elements"})
_MATCH_PAGE = 100


@dataclass(frozen=True)
class Context:
    registry: Registry
    settings: Settings
    validate: Callable[[dict[str, Any]], list[Issue]]


def validation_status(issues: list[Issue]) -> int:
    """400 when the content is not well-formed FHIR, 422 when it breaks a rule or a profile."""
    structural = any(
        i.is_error and i.forlop_code is not None and i.forlop_code.value.startswith(_STRUCTURAL)
        for i in issues
    )
    return 400 if structural else 422


def check_writable(resource_type: str, interaction: str) -> None:
    """405 for a write of a conformance resource, or of an AuditEvent (written by this server
    alone, never changed)."""
    if resource_type == "AuditEvent":
        check_audit_interaction(interaction)
    if resource_type in READ_ONLY_TYPES:
        raise method_not_allowed(
            f"{resource_type} resources are this server's conformance resources, managed in its "
            "profiles/ folder and served read-only."
        )


def _references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(reference literal, FHIRPath) for every Reference.reference in the resource."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value, f"{path}.reference"
            elif key != "contained":
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{path}[{i}]")


def check_references(
    tx: Transaction,
    resource: dict[str, Any],
    base_url: str,
    pending: frozenset[str] = frozenset(),
) -> None:
    """Every relative literal reference names a resource that exists (no references to nothing).

    References to other servers (absolute URLs not under this base) cannot be checked and are
    kept as given; ``urn:`` and conditional references must have been resolved by a Bundle.
    """
    rtype = str(resource["resourceType"])
    issues = []
    for literal, where in _references(resource, rtype):
        local = literal.removeprefix(base_url + "/") if base_url else literal
        if local.startswith("urn:uuid:") or local.startswith("urn:oid:"):
            issues.append(
                error_issue(
                    "not-found",
                    Code.NOT_FOUND,
                    f"The reference {literal!r} names nothing: a urn reference must be the "
                    "fullUrl of an entry in the same Bundle.",
                    where,
                )
            )
            continue
        if "?" in local:
            issues.append(
                error_issue(
                    "not-supported",
                    Code.NOT_SUPPORTED,
                    f"The conditional reference {literal!r} can only be resolved inside a "
                    "transaction Bundle.",
                    where,
                )
            )
            continue
        parsed = parse_reference(local)
        if parsed is None or parsed.target_type is None or parsed.target_id is None:
            continue
        if f"{parsed.target_type}/{parsed.target_id}" in pending:
            continue
        try:
            tx.read(parsed.target_type, parsed.target_id)
        except FhirError:
            issues.append(
                error_issue(
                    "not-found",
                    Code.NOT_FOUND,
                    f"The reference {literal!r} names a resource that does not exist here.",
                    where,
                )
            )
    if issues:
        raise FhirError(400, issues)


def prepare(
    ctx: Context,
    tx: Transaction,
    resource: Any,
    resource_type: str | None,
    resource_id: str | None,
    req: FhirRequest,
) -> list[Issue]:
    """Check a body about to be written; returns its warnings, raises on any error."""
    if not isinstance(resource, dict):
        raise invalid("The request needs a FHIR resource as its body.", code="structure")
    body_type = check_body(resource, resource_type, resource_id)
    check_writable(body_type, "update" if resource_id else "create")
    issues = list(req.validated) if req.validated is not None else ctx.validate(resource)
    if has_errors(issues):
        raise FhirError(validation_status(issues), issues)
    check_references(tx, resource, req.base_url, req.pending)
    return [i for i in issues if not i.is_error]


def _represent(req: FhirRequest, outcome: Outcome, default: str = "representation") -> Outcome:
    """Apply ``Prefer: return=`` to a write's outcome."""
    wanted = req.prefer_return or default
    if wanted == "minimal":
        outcome.resource = None
    elif wanted == "OperationOutcome":
        outcome.resource = render_outcome(outcome.issues)
    return outcome


def matches(ctx: Context, tx: Transaction, resource_type: str, criteria: str) -> list[str]:
    """Ids of the resources a conditional interaction's criteria select (at most 2 looked at)."""
    params = parse_qsl(criteria, keep_blank_values=True)
    if not params:
        raise invalid("Conditional criteria must not be empty.", code="invalid")
    parsed = parse_search(resource_type, params, default_count=2, max_count=2)
    if parsed.unknown:
        raise invalid(
            f"Unknown search parameter(s) in conditional criteria: {', '.join(parsed.unknown)}.",
            code="not-supported",
        )
    query = parsed.query
    search = SearchQuery(types=query.types, clauses=query.clauses, count=2, total=None)
    found: list[str] = []
    while True:
        page = tx.search(search)
        found += [m.id for m in page.matches]
        # A guarded transaction leaves out what the caller may not see, so a page may hold
        # fewer than it was asked for while more follow.
        if len(found) >= 2 or page.next_cursor is None:
            return found
        search = replace(search, count=_MATCH_PAGE, cursor=page.next_cursor)


# Characters that FHIR search escapes in a token value: such criteria are matched one by one.
_SEARCH_SPECIAL = frozenset(",|$\\")


def identifier_pair(criteria: str) -> tuple[str, str] | None:
    """(system, value) of criteria that are exactly ``identifier=system|value``, else None."""
    params = parse_qsl(criteria, keep_blank_values=True)
    if len(params) != 1 or params[0][0] != "identifier":
        return None
    system, bar, value = params[0][1].partition("|")
    if not (bar and system and value) or _SEARCH_SPECIAL & set(system + value):
        return None
    return system, value


def match_identifiers(
    tx: Transaction, wanted: Mapping[str, Collection[tuple[str, str]]]
) -> dict[tuple[str, tuple[str, str]], list[str]]:
    """The ids each ``Type?identifier=system|value`` criteria selects (``wanted``: the pairs by
    type), keyed by (type, pair), found with one search across the types (a transaction's
    conditional entries, matched together). A criteria left out of the answer must be matched
    on its own (:func:`matches`): its type has no identifier parameter, or one page did not
    hold every match."""
    searchable = {
        rtype: pairs
        for rtype, pairs in wanted.items()
        if pairs and default_parameters().get(rtype, "identifier") is not None
    }
    if not searchable:
        return {}
    limit = 2 * sum(len(pairs) for pairs in searchable.values()) + 1
    values = sorted({pair for pairs in searchable.values() for pair in pairs})
    parsed = parse_search(
        None,
        [
            ("_type", ",".join(sorted(searchable))),
            ("identifier", ",".join(f"{system}|{value}" for system, value in values)),
        ],
        default_count=limit,
        max_count=limit,
    )
    query = parsed.query
    page = tx.search(SearchQuery(types=query.types, clauses=query.clauses, count=limit, total=None))
    if page.next_cursor is not None or len(page.matches) >= limit:
        return {}
    # A match is attributed by the index rows the search itself compared.
    cut_pairs = {
        (rtype, cut(system), cut(value)): (system, value)
        for rtype, pairs in searchable.items()
        for system, value in pairs
    }
    found: dict[tuple[str, tuple[str, str]], list[str]] = {
        (rtype, pair): [] for rtype, pairs in searchable.items() for pair in pairs
    }
    for stored in page.matches:
        rtype = stored.resource_type
        for token in default_indexer().index(stored.resource).tokens:
            pair = cut_pairs.get((rtype, token.system or "", token.code or ""))
            if token.param != "identifier" or pair is None:
                continue
            ids = found[(rtype, pair)]
            if stored.id not in ids:
                ids.append(stored.id)
    return found


def _criteria(req: FhirRequest) -> str:
    """The search criteria of a conditional update or delete, without rendering parameters."""
    return urlencode([(k, v) for k, v in req.query if k not in _RENDERING])


def canonical_criteria(criteria: str) -> str:
    """Search criteria in one spelling, however the client encoded and ordered them."""
    return urlencode(sorted(parse_qsl(criteria, keep_blank_values=True)))


def lock_criteria(tx: Transaction, resource_type: str, criteria: str) -> None:
    """Serialise conditional writes on the same criteria."""
    tx.lock([f"{resource_type}?{canonical_criteria(criteria)}"])


# --- interactions ------------------------------------------------------------------------------


def create(
    ctx: Context, tx: Transaction, req: FhirRequest, *, assigned_id: str | None = None
) -> Outcome:
    assert req.resource_type is not None
    check_type(req.resource_type)
    check_writable(req.resource_type, "create")
    if req.if_none_exist:
        lock_criteria(tx, req.resource_type, req.if_none_exist)
        found = matches(ctx, tx, req.resource_type, req.if_none_exist)
        if len(found) > 1:
            raise precondition_failed(
                f"If-None-Exist '{req.if_none_exist}' matches more than one {req.resource_type}."
            )
        if found:
            stored = tx.read(req.resource_type, found[0])
            return _represent(req, Outcome(200, stored.resource, stored))
    resource = dict(req.body) if isinstance(req.body, dict) else req.body
    if isinstance(resource, dict):
        # The server assigns the id of a created resource (R4 §3.1.0.4.1): a client id is ignored.
        resource.pop("id", None)
    warnings = prepare(ctx, tx, resource, req.resource_type, None, req)
    stored = tx.create(resource, id=assigned_id)
    return _represent(req, Outcome(201, stored.resource, stored, warnings))


def _readable(resource_type: str, resource_id: str) -> None:
    check_type(resource_type)
    check_id(resource_id)


def read(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    assert req.resource_type is not None and req.id is not None
    _readable(req.resource_type, req.id)
    stored = tx.read(req.resource_type, req.id)
    return Outcome(200, stored.resource, stored)


def vread(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    assert req.resource_type is not None and req.id is not None and req.version_id is not None
    _readable(req.resource_type, req.id)
    if not req.version_id.isdigit():
        raise not_found(f"{req.resource_type}/{req.id} has no version '{req.version_id}'.")
    stored = tx.vread(req.resource_type, req.id, int(req.version_id))
    return Outcome(200, stored.resource, stored)


def update(
    ctx: Context, tx: Transaction, req: FhirRequest, *, assigned_id: str | None = None
) -> Outcome:
    """PUT Type/id, or conditional update PUT Type?criteria (R4 §3.1.0.8.1)."""
    assert req.resource_type is not None
    check_type(req.resource_type)
    check_writable(req.resource_type, "update")
    target = req.id
    if target is None:
        criteria = _criteria(req)
        lock_criteria(tx, req.resource_type, criteria)
        found = matches(ctx, tx, req.resource_type, criteria)
        if len(found) > 1:
            raise precondition_failed(
                f"The criteria '{unquote_plus(criteria)}' match more than one {req.resource_type}; "
                "a conditional update needs exactly one or none."
            )
        body_id = req.body.get("id") if isinstance(req.body, dict) else None
        if found and body_id is not None and body_id != found[0]:
            raise invalid(
                f"The body has id '{body_id}' but the criteria select {req.resource_type}/"
                f"{found[0]}.",
                expression=f"{req.resource_type}.id",
            )
        target = found[0] if found else (body_id or assigned_id)
        if target is None:
            # No match and no id: a conditional update creates (R4 §3.1.0.8.1).
            plain = replace(req, method="POST", query=(), if_match=None, if_none_exist=None)
            return create(ctx, tx, plain)
    else:
        check_id(target)
    if not isinstance(req.body, dict):
        raise invalid("The request needs a FHIR resource as its body.", code="structure")
    if req.id is not None and req.body.get("id") is None:
        raise invalid(
            f"An update of {req.resource_type}/{target} needs the body's id to be '{target}'.",
            expression=f"{req.resource_type}.id",
        )
    resource = dict(req.body)
    if req.id is None:
        resource["id"] = target
    warnings = prepare(ctx, tx, resource, req.resource_type, target, req)
    result = tx.update(req.resource_type, target, resource, if_match=parse_if_match(req.if_match))
    status = 201 if result.created else 200
    return _represent(req, Outcome(status, result.stored.resource, result.stored, warnings))


def patch(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """JSON Patch (RFC 6902) on the current version, then the same checks as an update."""
    assert req.resource_type is not None and req.id is not None
    _readable(req.resource_type, req.id)
    check_writable(req.resource_type, "patch")
    if not isinstance(req.body, list):
        raise invalid("A JSON Patch body is a JSON array of operations.", code="structure")
    current = tx.read(req.resource_type, req.id)
    try:
        patched = jsonpatch.apply_patch(copy.deepcopy(current.resource), req.body)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise invalid(
            f"The JSON Patch cannot be applied: {exc}.", code="processing", status=422
        ) from None
    if not isinstance(patched, dict):
        raise invalid("The JSON Patch did not leave a resource.", status=422)
    warnings = prepare(ctx, tx, patched, req.resource_type, req.id, req)
    expected = parse_if_match(req.if_match) or current.version_id
    result = tx.update(req.resource_type, req.id, patched, if_match=expected)
    return _represent(req, Outcome(200, result.stored.resource, result.stored, warnings))


def delete(ctx: Context, tx: Transaction, req: FhirRequest) -> Outcome:
    """DELETE Type/id, or conditional delete DELETE Type?criteria (single match)."""
    assert req.resource_type is not None
    check_type(req.resource_type)
    check_writable(req.resource_type, "delete")
    targets: list[str]
    if req.id is None:
        criteria = _criteria(req)
        lock_criteria(tx, req.resource_type, criteria)
        targets = matches(ctx, tx, req.resource_type, criteria)
        if len(targets) > 1:
            raise precondition_failed(
                f"The criteria '{unquote_plus(criteria)}' match more than one {req.resource_type}."
            )
    else:
        check_id(req.id)
        targets = [req.id]
    stored: StoredResource | None = None
    for target in targets:
        stored = tx.delete(req.resource_type, target, if_match=parse_if_match(req.if_match))
    return Outcome(204, None, stored)
