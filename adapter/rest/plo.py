"""``POST /plo``: today's PLO XML messages, beside the FHIR base, answered with an AppRec.

The message is imported in one transaction (adapter/plo); the answer's body is the AppRec v1.1
receipt for its MsgId: 200 for a positive one, 4xx with the negative one. ``/fhir`` stays pure FHIR.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from adapter.fhir.errors import unsupported_media_type
from adapter.plo import import_message
from adapter.rest.routes import body_bytes, refused
from adapter.rest.state import AppState
from adapter.router.request import FhirRequest

_XML = ("application/xml", "text/xml")


def build_plo_router() -> APIRouter:
    router = APIRouter(tags=["PLO"])

    @router.post("/plo", summary="Import a PLO message (KITH XML); the answer is its AppRec")
    async def plo(request: Request) -> Response:
        state: AppState = request.app.state.forlop
        settings = state.context.settings
        base_url = f"{request.url.scheme}://{request.url.netloc}{settings.base_path}"
        host = request.client.host if request.client else None
        trail = state.trail("POST", host, base_url)
        base = FhirRequest("POST", base_url=base_url, trail=trail)
        try:
            principal = await anyio.to_thread.run_sync(
                state.authenticate, request.headers.get("authorization")
            )
            trail.principal = principal
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in _XML:
                raise unsupported_media_type(
                    f"POST /plo takes a PLO message as application/xml, not {content_type or '-'}."
                )
            raw = await body_bytes(request, settings.max_body_bytes)
            base = FhirRequest("POST", base_url=base_url, principal=principal, trail=trail)

            def work() -> tuple[bytes, int]:
                receipt, status, _ = import_message(
                    raw,
                    state.repository,
                    state.context,
                    xsd_dir=settings.plo_xsd_dir or None,
                    request=base,
                )
                return receipt, status

            receipt, status = await anyio.to_thread.run_sync(work)
        except Exception as error:
            await anyio.to_thread.run_sync(refused, state, trail, "POST", "/plo", base, error)
            raise
        return Response(receipt, status_code=status, media_type="application/xml; charset=utf-8")

    return router
