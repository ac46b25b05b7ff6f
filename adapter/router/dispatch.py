"""Routing a method and a relative URL to its interaction (FHIR R4 §3.1.0 URL patterns).

The Bundle engine uses this for every entry, so an entry behaves exactly as the same request sent
on its own, and the caller's SMART scopes are checked here for each of them (403). Operations
(``$name``) are looked up in :data:`OPERATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, unquote, urlsplit

from adapter.fhir.errors import method_not_allowed, not_found
from adapter.fhir.models import is_resource_type
from adapter.router import crud, searching
from adapter.router.crud import Context
from adapter.router.request import FhirRequest, Outcome
from adapter.security.scopes import WILDCARD
from adapter.store.repository import Transaction

Handler = Callable[[Context, Transaction, FhirRequest], Outcome]

# First path segments that name no resource type but a system-level address.
_SYSTEM = frozenset({"_history", "metadata", "_search"})


@dataclass(frozen=True)
class Operation:
    handler: Handler
    definition: str  # canonical URL of the OperationDefinition
    affects_state: bool = False


# (resource type or None for every type, "$name") -> operation; filled by adapter.router.operations.
OPERATIONS: dict[tuple[str | None, str], Operation] = {}


@dataclass(frozen=True)
class Route:
    """Where a request goes: its handler, the request it receives, and the interaction it is
    (named as :mod:`adapter.security.scopes` names interactions: ``read``, ``search``,
    ``operation:$everything``, …)."""

    handler: Handler
    request: FhirRequest
    interaction: str
    operation: Operation | None = None


def parse_url(method: str, url: str, base: FhirRequest) -> tuple[Handler, FhirRequest]:
    """The handler for ``method url`` and the request it receives (``base`` supplies headers),
    once the caller's scopes allow the interaction (403 otherwise)."""
    found = route(method, url, base)
    check_scope(found)
    return found.handler, found.request


def check_scope(found: Route) -> None:
    """403 unless the caller's scopes allow the interaction on its resource type.

    A system-level search names its types in ``_type``: :func:`adapter.router.searching.search`
    checks those, with its includes.
    """
    principal = found.request.principal
    if principal is None:
        return
    rtype = found.request.resource_type
    if found.interaction == "search" and rtype is None:
        return
    principal.scopes.require(rtype or WILDCARD, found.interaction)


def route(method: str, url: str, base: FhirRequest) -> Route:
    """The :class:`Route` of ``method url``, scopes not checked.

    A URL naming no R4 resource type is 404 (there is nothing at that address); a known address
    asked with a method it does not take is 405.
    """
    split = urlsplit(url)
    query = tuple(parse_qsl(split.query, keep_blank_values=True))
    path = split.path
    if base.base_url and url.startswith(base.base_url):
        path = urlsplit(url[len(base.base_url) :]).path
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    req = replace(base, method=method, query=query, resource_type=None, id=None, version_id=None)
    if parts and parts[0] not in _SYSTEM and not parts[0].startswith("$"):
        if not is_resource_type(parts[0]):
            raise not_found(f"This server has no resource type '{parts[0]}'.")
    if parts and parts[-1].startswith("$"):
        name = parts[-1]
        rtype = parts[0] if len(parts) >= 2 else None
        rid = parts[1] if len(parts) == 3 else None
        operation = OPERATIONS.get((rtype, name)) or OPERATIONS.get((None, name))
        if operation is None:
            raise not_found(f"This server has no operation {name} on {rtype or 'the system'}.")
        if operation.affects_state and method != "POST":
            raise method_not_allowed(f"{name} changes what is stored: invoke it with POST.")
        req = replace(req, resource_type=rtype, id=rid)
        return Route(operation.handler, req, f"operation:{name}", operation)
    match parts:
        case []:
            if method == "GET":
                return Route(searching.search, req, "search")
        case ["_search"]:
            if method == "POST":
                return Route(searching.search, req, "search")
        case ["_history"]:
            if method == "GET":
                return Route(searching.history, req, "history")
        case ["metadata"]:
            pass  # the CapabilityStatement route answers GET; nothing else is allowed here
        case [rtype]:
            req = replace(req, resource_type=rtype)
            if method == "GET":
                return Route(searching.search, req, "search")
            if method == "POST":
                return Route(crud.create, req, "create")
            if method == "PUT" and query:
                return Route(crud.update, req, "update")
            if method == "DELETE" and query:
                return Route(crud.delete, req, "delete")
        case [rtype, "_search"]:
            if method == "POST":
                return Route(searching.search, replace(req, resource_type=rtype), "search")
        case [rtype, "_history"]:
            if method == "GET":
                return Route(searching.history, replace(req, resource_type=rtype), "history")
        case [rtype, rid]:
            req = replace(req, resource_type=rtype, id=rid)
            handlers: dict[str, tuple[Handler, str]] = {
                "GET": (crud.read, "read"),
                "PUT": (crud.update, "update"),
                "PATCH": (crud.patch, "patch"),
                "DELETE": (crud.delete, "delete"),
            }
            if method in handlers:
                handler, interaction = handlers[method]
                return Route(handler, req, interaction)
        case [rtype, rid, "_history"]:
            if method == "GET":
                req = replace(req, resource_type=rtype, id=rid)
                return Route(searching.history, req, "history-instance")
        case [rtype, rid, "_history", vid]:
            if method == "GET":
                req = replace(req, resource_type=rtype, id=rid, version_id=vid)
                return Route(crud.vread, req, "vread")
        case _:
            raise not_found(f"No FHIR interaction has the URL '{url}'.")
    raise method_not_allowed(f"{method} is not allowed on '{url}'.")
