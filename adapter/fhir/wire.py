"""Choosing the wire format: FHIR JSON or FHIR XML (FHIR R4 §3.1.0.1.7 content types).

``read_resource`` takes a body and, when known, its media type; without one it looks at the first
significant byte. ``write_resource`` renders in the format asked for. Both enforce the limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from adapter.fhir.errors import Code, invalid
from adapter.fhir.json_codec import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, dump_json, parse_json
from adapter.fhir.xml_codec import dump_xml, parse_xml


class Format(StrEnum):
    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return f"application/fhir+{self.value}"


_MEDIA_TYPES = {
    "application/fhir+json": Format.JSON,
    "application/json": Format.JSON,
    "application/json+fhir": Format.JSON,
    "json": Format.JSON,
    "application/fhir+xml": Format.XML,
    "application/xml": Format.XML,
    "application/xml+fhir": Format.XML,
    "text/xml": Format.XML,
    "xml": Format.XML,
}


def format_of(media_type: str) -> Format | None:
    """The format a media type or ``_format`` value names (parameters such as charset ignored)."""
    return _MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


def sniff(body: bytes) -> Format:
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"<":
        return Format.XML
    if start in (b"{", b"["):
        return Format.JSON
    raise invalid(
        "The body is neither FHIR JSON nor FHIR XML.",
        forlop_code=Code.UNKNOWN_FORMAT,
        code="structure",
    )


def read_resource(
    body: bytes, fmt: Format | None = None, limits: Limits = Limits()
) -> dict[str, Any]:
    """Parse a FHIR resource in ``fmt`` (sniffed when None); FhirError on anything malformed."""
    fmt = fmt or sniff(body)
    if fmt is Format.XML:
        return parse_xml(body, max_depth=limits.max_depth, max_bytes=limits.max_bytes)
    return parse_json(body, max_depth=limits.max_depth, max_bytes=limits.max_bytes)


def write_resource(resource: dict[str, Any], fmt: Format, *, pretty: bool = False) -> bytes:
    if fmt is Format.XML:
        return dump_xml(resource, pretty=pretty)
    return dump_json(resource, pretty=pretty)
