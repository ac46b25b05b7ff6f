"""The HTTP side of a TestScript operation (FHIR R4 TestScript.setup.action.operation): the method
and URL it names, sending the request, and reading the FHIR body that comes back.

The URL is ``url`` (absolute, or relative to the base URL), else ``[base]/[resource][params]``,
else follows from the operation type and the target (``[type]/[id]``, ``/_history/[vid]`` for a
vread, ``/$code`` for an operation, ``metadata`` for capabilities, the base for a Bundle).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from time import perf_counter
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

from adapter.conformance.model import DOLLAR_OPERATIONS, INTERACTIONS, Operation
from adapter.conformance.results import Exchange, HttpRequest, HttpResponse
from adapter.fhir.errors import FhirError
from adapter.fhir.wire import format_of, read_resource, sniff

Identity = tuple[str, str, str | None]  # resource type, id, version id

_LOCATION = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?/?$"
)
_NOT_A_TARGET = frozenset({"Bundle", "OperationOutcome", "Parameters"})


class OperationError(Exception):
    """An operation whose request cannot be built."""


def method_of(op: Operation) -> str:
    if op.method:
        return op.method.upper()
    if op.type is not None and op.type in INTERACTIONS:
        return INTERACTIONS[op.type].upper()
    if op.type in DOLLAR_OPERATIONS:
        return "POST" if op.source_id else "GET"
    return "GET"


def encoded(params: str) -> str:
    """``params`` with its query percent-encoded (TestScript operation.encodeRequestUrl)."""
    path, mark, query = params.partition("?")
    if not mark:
        return params
    pairs = parse_qsl(query, keep_blank_values=True)
    return f"{path}?{urlencode(pairs, quote_via=quote, safe=',:/$')}"


def url_of(
    op: Operation,
    base: str,
    substitute: Callable[[str], str],
    target: Identity | None,
    resource: dict[str, Any] | None,
) -> str:
    """The URL ``op`` names; ``resource`` is the body it sends, ``target`` what targetId names."""
    if op.url is not None:
        url = substitute(op.url)
        return url if urlsplit(url).scheme else f"{base}/{url.lstrip('/')}"
    rtype = op.resource or (target[0] if target else None)
    if rtype is None and resource is not None and op.type not in ("batch", "transaction"):
        rtype = str(resource.get("resourceType"))
    if op.params is not None:
        params = substitute(op.params)
        if op.encode_request_url:
            params = encoded(params)
        if not params.startswith(("/", "?")):
            params = "/" + params
        return f"{base}/{rtype}{params}" if rtype else f"{base}{params}"
    return _url_of_type(op.type, base, rtype, target, resource)


def _url_of_type(
    code: str | None,
    base: str,
    rtype: str | None,
    target: Identity | None,
    resource: dict[str, Any] | None,
) -> str:
    if code == "capabilities":
        return f"{base}/metadata"
    if code in ("batch", "transaction"):
        return base
    instance = f"{base}/{target[0]}/{target[1]}" if target else None
    if code in ("read", "vread", "delete"):
        if target is None or instance is None:
            raise OperationError(f"A {code} needs a targetId (or params with the id).")
        if code != "vread":
            return instance
        if not target[2]:
            raise OperationError("The target names no version to read.")
        return f"{instance}/_history/{target[2]}"
    if code in ("update", "updateCreate", "patch"):
        if instance:
            return instance
        rid = resource.get("id") if resource else None
        if not rtype or not isinstance(rid, str):
            raise OperationError(f"An {code} needs a targetId or a body with an id.")
        return f"{base}/{rtype}/{rid}"
    if code == "history":
        if instance:
            return f"{instance}/_history"
        return f"{base}/{rtype}/_history" if rtype else f"{base}/_history"
    if code in DOLLAR_OPERATIONS:
        prefix = instance or (f"{base}/{rtype}" if rtype else base)
        return f"{prefix}/${code}"
    return f"{base}/{rtype}" if rtype else base


def identity(resource: dict[str, Any] | None, headers: dict[str, str]) -> Identity | None:
    """The server resource a body or a Location header names."""
    if resource is not None and resource.get("resourceType") not in _NOT_A_TARGET:
        rid = resource.get("id")
        if isinstance(rid, str):
            meta = resource.get("meta")
            vid = meta.get("versionId") if isinstance(meta, dict) else None
            return str(resource["resourceType"]), rid, str(vid) if vid else None
    location = headers.get("location") or headers.get("content-location")
    if location:
        match = _LOCATION.search(urlsplit(location).path)
        if match:
            return match["type"], match["id"], match["vid"]
    return None


def parse_body(body: bytes, content_type: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The FHIR resource in a body (format from the Content-Type, else sniffed), or why not.

    A body under a wrong Content-Type is still read, so that only the contentType assert fails.
    """
    if not body.strip():
        return None, None
    try:
        fmt = format_of(content_type or "") or sniff(body)
        return read_resource(body, fmt), None
    except FhirError as error:
        return None, str(error)


def send(client: httpx.Client, request: HttpRequest, headers: dict[str, str]) -> Exchange:
    """Send ``request`` with ``headers`` (unmasked); no answer at all is an exchange with error."""
    clock = perf_counter()
    try:
        answer = client.request(request.method, request.url, headers=headers, content=request.body)
    except httpx.HTTPError as exc:
        return Exchange(request, None, f"{type(exc).__name__}: {exc}")
    elapsed_ms = (perf_counter() - clock) * 1000
    response_headers = {k.lower(): v for k, v in answer.headers.items()}
    resource, problem = parse_body(answer.content, response_headers.get("content-type"))
    response = HttpResponse(
        status=answer.status_code,
        reason=answer.reason_phrase,
        headers=response_headers,
        body=answer.content,
        resource=resource,
        parse_error=problem,
        elapsed_ms=elapsed_ms,
    )
    return Exchange(request, response)
