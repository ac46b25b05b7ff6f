"""HTTP routes of the FHIR base (FHIR R4 §3.1.0 RESTful API URL patterns).

Each route only turns HTTP into a :class:`FhirRequest` and back; what a request does is decided by
:func:`adapter.router.dispatch.route`, the same function the Bundle engine uses for entries.
Routes are declared one by one so that the OpenAPI document at ``/docs`` lists every interaction.

:func:`run` is the one place requests are authenticated: the bearer token (RFC 6750) becomes the
:class:`~adapter.security.tokens.Principal` of the request (under ``--insecure-dev``, the
unrestricted stand-in), and every request, answered or refused, leaves one AuditEvent. Only the
CapabilityStatement (``/metadata``), ``/healthz``, ``/readyz`` and the OpenAPI documents are served
without a token.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from adapter.fhir.errors import invalid, too_large, unsupported_media_type
from adapter.fhir.json_codec import parse_json_patch
from adapter.fhir.wire import Limits, read_resource
from adapter.rest.negotiation import body_format, fhir_response, rendering
from adapter.rest.state import AppState
from adapter.router import bundles, capability
from adapter.router.access import transact
from adapter.router.auditing import AuditTrail
from adapter.router.dispatch import check_scope, route
from adapter.router.request import FhirRequest, Outcome, parse_prefer
from adapter.router.subsetting import subset

_FORM = "application/x-www-form-urlencoded"


async def body_bytes(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"The body is {declared} bytes; this server accepts at most {limit}.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"The body exceeds {limit} bytes, the limit of this server.")
        chunks.append(chunk)
    return b"".join(chunks)


def _execute(state: AppState, method: str, url: str, base: FhirRequest) -> Outcome:
    """Run the interaction; its AuditEvent is recorded before the answer leaves."""
    trail = base.trail
    if method == "POST" and url.split("?")[0].strip("/") == "":
        if trail is not None:
            trail.describe_bundle(base.body)
        outcome = bundles.process(state.context, state.repository, base.body, base)
    else:
        found = route(method, url, base)
        if trail is not None:
            trail.describe(found)
        check_scope(found)
        req = found.request
        outcome = transact(
            state.repository,
            req,
            lambda tx: found.handler(state.context, tx, req),
            read_only=method == "GET",
        )
    if trail is not None and not trail.done:
        trail.record_alone(state.audit_log, outcome.status, outcome)
    return outcome


def _authenticated(
    state: AppState, authorization: str | None, method: str, url: str, base: FhirRequest
) -> Outcome:
    """Authenticate the caller, then run the interaction, in one worker-thread hop: a read
    crosses from the event loop to a worker thread once (each crossing costs the GIL handover
    of every request in flight, more than a pull's own search)."""
    principal = state.authenticate(authorization)
    if base.trail is not None:
        base.trail.principal = principal
    return _execute(state, method, url, replace(base, principal=principal))


async def run(request: Request, relative: str) -> Response:
    state: AppState = request.app.state.forlop
    settings = state.context.settings
    render = rendering(request)
    query = [(k, v) for k, v in request.query_params.multi_items()]
    body: Any = None
    method = request.method
    base_url = f"{request.url.scheme}://{request.url.netloc}{settings.base_path}"
    trail = state.trail(method, request.client.host if request.client else None, base_url)
    base = FhirRequest(method, base_url=base_url, trail=trail)
    url = relative
    authorization = request.headers.get("authorization")
    has_body = method in ("POST", "PUT", "PATCH")
    try:
        principal = None
        if has_body:
            # The caller is known before a body is read (an unknown one gets 401 at once).
            principal = await anyio.to_thread.run_sync(state.authenticate, authorization)
            trail.principal = principal
            raw = await body_bytes(request, settings.max_body_bytes)
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            limits = Limits(settings.max_body_bytes, settings.max_json_depth)
            if relative == "_search" or relative.endswith("/_search"):
                if raw and content_type != _FORM:
                    raise unsupported_media_type(f"POST _search takes {_FORM} parameters.")
                query += parse_qsl(raw.decode(errors="replace"), keep_blank_values=True)
            elif method == "PATCH":
                if content_type != "application/json-patch+json":
                    raise unsupported_media_type(
                        "PATCH takes application/json-patch+json (RFC 6902 JSON Patch)."
                    )
                body = parse_json_patch(raw, max_depth=limits.max_depth, max_bytes=limits.max_bytes)
            elif raw or not relative.split("/")[-1].startswith("$"):
                if not raw:
                    raise invalid("The request needs a FHIR resource as its body.", code="required")
                body = read_resource(raw, body_format(request), limits)
        prefer_return, handling = parse_prefer(request.headers.get("prefer"))
        base = FhirRequest(
            method,
            body=body,
            if_match=request.headers.get("if-match"),
            if_none_exist=request.headers.get("if-none-exist"),
            prefer_return=prefer_return,
            prefer_handling=handling,  # type: ignore[arg-type]
            base_url=base_url,
            principal=principal,
            trail=trail,
        )
        if query:
            trail.query = urlencode(query)
            url = f"{relative}?{trail.query}"
        if has_body:
            outcome = await anyio.to_thread.run_sync(_execute, state, method, url, base)
        else:
            outcome = await anyio.to_thread.run_sync(
                _authenticated, state, authorization, method, url, base
            )
        resource = subset(outcome.resource, request.query_params) if outcome.resource else None
    except Exception as error:
        await anyio.to_thread.run_sync(refused, state, trail, method, url, base, error)
        raise
    return fhir_response(resource, render, outcome.status, outcome.headers(base_url))


def refused(
    state: AppState, trail: AuditTrail, method: str, url: str, base: FhirRequest, error: Exception
) -> None:
    trail.describe_url(method, url, base)
    trail.record_failure(state.audit_log, error)


def build_router(base_path: str) -> APIRouter:
    router = APIRouter(prefix=base_path, tags=["FHIR"])

    @router.get("/metadata", summary="CapabilityStatement")
    async def metadata(request: Request) -> Response:
        state: AppState = request.app.state.forlop
        base_url = f"{request.url.scheme}://{request.url.netloc}{base_path}"
        statement = capability.capability_statement(
            base_url, state.parameters, state.version, secured=state.verifier is not None
        )
        return fhir_response(statement, rendering(request))

    @router.post("", summary="Batch or transaction Bundle", include_in_schema=False)
    @router.post("/", summary="Batch or transaction Bundle")
    async def transaction(request: Request) -> Response:
        return await run(request, "")

    @router.get("", summary="System search", include_in_schema=False)
    @router.get("/", summary="System search")
    async def system_search(request: Request) -> Response:
        return await run(request, "")

    @router.post("/_search", summary="System search with form parameters")
    async def system_search_post(request: Request) -> Response:
        return await run(request, "_search")

    @router.get("/_history", summary="System history")
    async def system_history(request: Request) -> Response:
        return await run(request, "_history")

    @router.post("/{resource_type}/$validate", summary="$validate a resource")
    async def validate_type(request: Request, resource_type: str) -> Response:
        return await run(request, f"{resource_type}/$validate")

    @router.post("/{resource_type}/{resource_id}/$validate", summary="$validate a stored resource")
    async def validate_instance(request: Request, resource_type: str, resource_id: str) -> Response:
        return await run(request, f"{resource_type}/{resource_id}/$validate")

    @router.post("/QuestionnaireResponse/$extract", summary="SDC $extract of a response")
    async def extract_type(request: Request) -> Response:
        return await run(request, "QuestionnaireResponse/$extract")

    @router.post(
        "/QuestionnaireResponse/{resource_id}/$extract", summary="SDC $extract of a stored response"
    )
    async def extract_instance(request: Request, resource_id: str) -> Response:
        return await run(request, f"QuestionnaireResponse/{resource_id}/$extract")

    @router.get("/Patient/{resource_id}/$everything", summary="Patient $everything")
    async def everything(request: Request, resource_id: str) -> Response:
        return await run(request, f"Patient/{resource_id}/$everything")

    @router.get("/{resource_type}", summary="Search")
    async def search(request: Request, resource_type: str) -> Response:
        return await run(request, resource_type)

    @router.post("/{resource_type}", summary="Create (If-None-Exist for conditional create)")
    async def create(request: Request, resource_type: str) -> Response:
        return await run(request, resource_type)

    @router.put("/{resource_type}", summary="Conditional update")
    async def conditional_update(request: Request, resource_type: str) -> Response:
        return await run(request, resource_type)

    @router.delete("/{resource_type}", summary="Conditional delete")
    async def conditional_delete(request: Request, resource_type: str) -> Response:
        return await run(request, resource_type)

    @router.post("/{resource_type}/_search", summary="Search with form parameters")
    async def search_post(request: Request, resource_type: str) -> Response:
        return await run(request, f"{resource_type}/_search")

    @router.get("/{resource_type}/_history", summary="Type history")
    async def type_history(request: Request, resource_type: str) -> Response:
        return await run(request, f"{resource_type}/_history")

    @router.get("/{resource_type}/{resource_id}", summary="Read")
    async def read(request: Request, resource_type: str, resource_id: str) -> Response:
        return await run(request, f"{resource_type}/{resource_id}")

    @router.put("/{resource_type}/{resource_id}", summary="Update (or create with this id)")
    async def update(request: Request, resource_type: str, resource_id: str) -> Response:
        return await run(request, f"{resource_type}/{resource_id}")

    @router.patch("/{resource_type}/{resource_id}", summary="JSON Patch")
    async def patch(request: Request, resource_type: str, resource_id: str) -> Response:
        return await run(request, f"{resource_type}/{resource_id}")

    @router.delete("/{resource_type}/{resource_id}", summary="Delete")
    async def delete(request: Request, resource_type: str, resource_id: str) -> Response:
        return await run(request, f"{resource_type}/{resource_id}")

    @router.get("/{resource_type}/{resource_id}/_history", summary="Instance history")
    async def instance_history(request: Request, resource_type: str, resource_id: str) -> Response:
        return await run(request, f"{resource_type}/{resource_id}/_history")

    @router.get("/{resource_type}/{resource_id}/_history/{version_id}", summary="Version read")
    async def vread(
        request: Request, resource_type: str, resource_id: str, version_id: str
    ) -> Response:
        return await run(request, f"{resource_type}/{resource_id}/_history/{version_id}")

    # Any other operation URL: the dispatcher answers 404 for an unknown $operation and 405 for a
    # method the address does not take.
    @router.post("/{resource_type}/{name}", include_in_schema=False)
    async def type_operation(request: Request, resource_type: str, name: str) -> Response:
        return await run(request, f"{resource_type}/{name}")

    @router.get("/{resource_type}/{resource_id}/{name}", include_in_schema=False)
    @router.post("/{resource_type}/{resource_id}/{name}", include_in_schema=False)
    async def instance_operation(
        request: Request, resource_type: str, resource_id: str, name: str
    ) -> Response:
        return await run(request, f"{resource_type}/{resource_id}/{name}")

    return router
