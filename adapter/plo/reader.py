"""PLO bytes -> an XML element tree, through forlop's one hardened parser.

PLO messages (KITH XML, MsgHead v1.2) are usually UTF-8 but older systems send ISO-8859-1 or
windows-1252, and a few UTF-16. The text is decoded here by its byte-order mark or XML declaration,
re-encoded as UTF-8 with the declaration rewritten to match, and then parsed by
:func:`adapter.fhir.xml_codec.parse_xml_tree`, so the same hardening holds as for FHIR XML: no
DOCTYPE, no entities, no DTD, no network, bounded size and depth. Anything it refuses is a T01
("not XML / not well-formed / unreadable") problem for the receipt.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from adapter.fhir.errors import FhirError
from adapter.fhir.xml_codec import DEFAULT_MAX_BYTES, parse_xml_tree
from adapter.plo.errors import reject

__all__ = ["ENCODINGS", "read_xml"]

# Encodings PLO senders use; anything else is refused rather than guessed.
ENCODINGS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252", "iso8859-15", "utf-16"})
MAX_DEPTH = 64
_DECLARATION = re.compile(rb"\A\s*<\?xml\b[^>]*\?>")
_ENCODING = re.compile(rb"""\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _declared(raw: bytes) -> str | None:
    declaration = _DECLARATION.match(raw)
    if declaration is None:
        return None
    found = _ENCODING.search(declaration.group(0))
    return found.group(1).decode("ascii") if found else None


def _decode(raw: bytes) -> str:
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return _with_codec(raw, name)
    declared = _declared(raw)
    return _with_codec(raw, declared or "utf-8")


def _with_codec(raw: bytes, name: str) -> str:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise reject("T01", f"The XML declaration names an unknown encoding '{name}'.") from None
    if codec not in ENCODINGS:
        raise reject(
            "T01",
            f"The encoding '{name}' is not accepted; send UTF-8 (or ISO-8859-1, windows-1252, "
            "UTF-16).",
        )
    try:
        text = raw.decode("utf-16" if codec == "utf-16" else codec)
    except UnicodeDecodeError as exc:
        raise reject(
            "T01", f"The message is not valid {name} text: {exc.reason} at byte {exc.start}."
        ) from None
    return text.removeprefix("\ufeff")


def _as_utf8(text: str) -> bytes:
    """The text as UTF-8 with an XML declaration that says so."""
    declaration = re.match(r"\A\s*<\?xml\b[^>]*\?>", text)
    body = text[declaration.end() :] if declaration else text
    return b'<?xml version="1.0" encoding="UTF-8"?>' + body.encode("utf-8", "surrogatepass")


def read_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """The root element of a PLO message; raises :class:`PloError` (T01) when unreadable."""
    if len(data) > max_bytes:
        raise reject("T01", f"The message is {len(data)} bytes; at most {max_bytes} are accepted.")
    if not data.strip():
        raise reject("T01", "The message is empty.")
    utf8 = _as_utf8(_decode(data))
    try:
        # The UTF-8 form may be longer than the original (ISO-8859-1 letters take two bytes).
        return parse_xml_tree(utf8, max_depth=MAX_DEPTH, max_bytes=max(max_bytes, len(utf8)))
    except FhirError as error:
        raise reject("T01", str(error)) from None
