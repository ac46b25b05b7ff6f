"""Content negotiation and rendering (FHIR R4 §3.1.0.1.7 formats, §3.1.0.1.8 _pretty, _summary).

``_format`` wins over ``Accept``; with neither, or with only types forlop does not serve, the answer
is FHIR JSON. A request body must be FHIR JSON or XML (415 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from adapter.fhir.errors import unsupported_media_type
from adapter.fhir.wire import Format, Limits, format_of, read_resource, write_resource


@dataclass(frozen=True)
class Rendering:
    fmt: Format
    pretty: bool


def rendering(request: Request) -> Rendering:
    fmt: Format | None = None
    asked = request.query_params.get("_format")
    if asked:
        fmt = format_of(asked)
    if fmt is None:
        for part in request.headers.get("accept", "").split(","):
            fmt = format_of(part)
            if fmt is not None:
                break
    pretty = request.query_params.get("_pretty", "").lower() == "true"
    return Rendering(fmt or Format.JSON, pretty)


def body_format(request: Request) -> Format:
    content_type = request.headers.get("content-type", "")
    fmt = format_of(content_type)
    if fmt is None:
        raise unsupported_media_type(
            f"Content-Type {content_type or '(none)'} is not supported: send "
            "application/fhir+json or application/fhir+xml."
        )
    return fmt


async def read_body(request: Request, limits: Limits) -> dict[str, Any]:
    """The request's FHIR resource, parsed within the limits."""
    fmt = body_format(request)
    body = await request.body()
    return read_resource(body, fmt, limits)


def fhir_response(
    resource: dict[str, Any] | None,
    render: Rendering,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    if resource is None:
        return Response(status_code=status, headers=headers)
    body = write_resource(resource, render.fmt, pretty=render.pretty)
    return Response(
        body,
        status_code=status,
        headers=headers,
        media_type=f"{render.fmt.media_type}; charset=utf-8",
    )
