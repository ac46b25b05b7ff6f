"""FHIR XML on the wire (FHIR R4 §2.6.3 XML representation), read through one hardened parser.

The XML form maps onto the JSON form (§2.6.2) element by element:
- everything lives in the namespace ``http://hl7.org/fhir``; the root element names the resource;
- a primitive is an element whose ``value`` attribute carries the value and whose ``id`` attribute
  and ``extension`` children become the JSON ``_name`` companion (aligned with ``null``s in lists);
- ``Element.id`` and ``Extension.url`` are attributes, while ``Resource.id`` is an element;
- a resource inside a resource (``contained``, ``Bundle.entry.resource``,
  ``Parameters.parameter.resource``) is wrapped in an element named by its type;
- ``Narrative.div`` is an XHTML element (namespace ``http://www.w3.org/1999/xhtml``) and a string
  holding that element in JSON.
What an element is (list or single, primitive or complex) comes from :mod:`adapter.fhir.models`
only; fhir.resources' own XML support is not used.

Hostile input is refused before it can cost anything: the body size is bounded, the text must be
UTF-8, any DOCTYPE is refused (FHIR XML never needs one, and every entity attack needs one), the one
parser factory never resolves entities, loads DTDs or touches the network, and nesting depth is
checked while the document is fed in, so a deep document fails before it is built.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any, cast

from lxml import etree

from adapter.fhir.errors import Code, FhirError, error_issue, invalid, too_large
from adapter.fhir.models import (
    ElementInfo,
    elements_of,
    is_resource_type,
    model_class,
    primitive_json_kind,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "FHIR_NS",
    "XHTML_NS",
    "dump_xml",
    "hardened_parser",
    "parse_xml",
    "parse_xml_tree",
]

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
DEFAULT_MAX_DEPTH = 64
# lxml-stubs type nsmap keys as str, but None is how lxml names the default namespace.
_FHIR_NSMAP = cast("dict[str, str]", {None: FHIR_NS})
_XHTML_NSMAP = cast("dict[str, str]", {None: XHTML_NS})
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

# libxml2 refuses documents nested deeper than 256 elements unless huge_tree is set. The body is
# fed in chunks small enough ("<a>", the shortest start tag, is 3 bytes) that between two checks of
# our own the depth cannot pass from max_depth to 256, so our clearer error always fires first.
_LIBXML2_MAX_DEPTH = 256
_MAX_ALLOWED_DEPTH = 200
_MAX_CHUNK = 64 * 1024

_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']")
_INTEGER = re.compile(r"[-+]?(0|[1-9][0-9]{0,18})")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_EXTENSION = "Extension"
_RESOURCE = "Resource"


def hardened_parser() -> etree.XMLPullParser:
    """The one way forlop reads XML: no entities, no DTD, no network, comments dropped.

    A new parser per document, because lxml parsers keep state and are not shared across threads.
    """
    return etree.XMLPullParser(
        events=("start", "end"),
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


# --- bytes -> element tree ---------------------------------------------------------------------


def parse_xml_tree(
    data: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> etree._Element:
    """Parse a UTF-8 XML document through :func:`hardened_parser`; return its root element.

    Raises :class:`FhirError`: 413 over ``max_bytes``; 400 for a DOCTYPE (``XML_FORBIDDEN``),
    nesting deeper than ``max_depth`` (``XML_TOO_DEEP``) or text that is not well-formed UTF-8
    XML (``XML_SYNTAX``).
    """
    if not 1 <= max_depth <= _MAX_ALLOWED_DEPTH:
        raise ValueError(f"max_depth must be between 1 and {_MAX_ALLOWED_DEPTH}")
    # A lone surrogate in a str passes here and then fails the UTF-8 check below.
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise too_large(f"The body is {len(raw)} bytes; this server accepts at most {max_bytes}.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _syntax(f"The body is not UTF-8 text: {exc.reason} at byte {exc.start}.") from None
    if not text.strip():
        raise _syntax("The body is empty; a FHIR XML resource was expected.")
    declared = _XML_DECLARATION.match(text)
    if declared and declared.group(1).lower() not in ("utf-8", "utf8"):
        raise _syntax(f"FHIR XML must be UTF-8; the declaration names '{declared.group(1)}'.")
    # The parser is forced to UTF-8 and the text is valid UTF-8, so this scan sees exactly what the
    # parser would see. It may also refuse "<!DOCTYPE" inside a comment: FHIR never needs that.
    if "<!DOCTYPE" in text:
        raise _forbidden()
    root = _feed(raw, max_depth)
    if root.getroottree().docinfo.internalDTD is not None:
        raise _forbidden()
    return root


def _feed(raw: bytes, max_depth: int) -> etree._Element:
    parser = hardened_parser()
    etree.clear_error_log()  # so that _syntax_message never reports an earlier document's error
    chunk = min(_MAX_CHUNK, 3 * (_LIBXML2_MAX_DEPTH - 1 - max_depth))
    depth = 0
    try:
        for start in range(0, len(raw), chunk):
            parser.feed(raw[start : start + chunk])
            for event, _ in parser.read_events():
                depth += 1 if event == "start" else -1
                if depth > max_depth:
                    raise _too_deep(max_depth)
        return parser.close()
    except etree.XMLSyntaxError as exc:
        raise _syntax(f"The body is not well-formed XML: {_syntax_message(exc)}.") from None


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    # The pull parser sometimes reports only "no element found" at line 0; the cause (an undefined
    # entity, say) is then the last entry of this thread's libxml2 error log.
    last = getattr(exc.error_log, "last_error", None)
    if exc.lineno or last is None:
        return str(exc.msg)
    return f"{last.message}, line {last.line}, column {last.column}"


def _too_deep(max_depth: int) -> FhirError:
    diagnostics = f"The XML nests deeper than {max_depth} levels, the limit of this server."
    return FhirError(400, [error_issue("too-costly", Code.XML_TOO_DEEP, diagnostics)])


def _syntax(diagnostics: str) -> FhirError:
    return invalid(diagnostics, forlop_code=Code.XML_SYNTAX, code="structure")


def _forbidden() -> FhirError:
    return invalid(
        "The XML contains a DOCTYPE declaration; FHIR XML never needs one and this server "
        "refuses all DTDs and entity declarations.",
        forlop_code=Code.XML_FORBIDDEN,
        code="security",
    )


def _structure(diagnostics: str, expression: str, node: etree._Element | None = None) -> FhirError:
    line = getattr(node, "sourceline", None)
    where = f" (line {line})" if line else ""
    return invalid(
        diagnostics + where, expression=expression, forlop_code=Code.XML_STRUCTURE, code="structure"
    )


def _value_error(diagnostics: str, expression: str, node: etree._Element) -> FhirError:
    line = f" (line {node.sourceline})" if node.sourceline else ""
    return invalid(
        diagnostics + line, expression=expression, forlop_code=Code.INVALID_VALUE, code="value"
    )


# --- element tree -> FHIR JSON -----------------------------------------------------------------


def parse_xml(
    data: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """Parse one FHIR XML resource into its FHIR JSON form (decimals as exact ``Decimal``).

    Raises :class:`FhirError` as :func:`parse_xml_tree` does, and 400 ``XML_STRUCTURE`` with the
    FHIRPath of the offending element for well-formed XML that is not FHIR.
    """
    root = parse_xml_tree(data, max_depth=max_depth, max_bytes=max_bytes)
    return _read_resource(root, None)


def _attributes(node: etree._Element) -> dict[str, str]:
    # lxml returns str on Python 3; the stubs also allow bytes.
    return {str(key): str(value) for key, value in node.attrib.items()}


def _split(node: etree._Element) -> tuple[str | None, str]:
    qname = etree.QName(node)
    return qname.namespace, qname.localname


def _read_resource(node: etree._Element, path: str | None) -> dict[str, Any]:
    namespace, name = _split(node)
    here = path or name
    if namespace != FHIR_NS:
        raise _structure(
            f"The element '{name}' is in namespace '{namespace or ''}', not '{FHIR_NS}'.",
            here,
            node,
        )
    if not is_resource_type(name):
        raise _structure(f"'{name}' is not a FHIR R4 resource type.", here, node)
    if node.attrib:
        raise _structure(
            f"The resource element '{name}' has the attribute '{next(iter(_attributes(node)))}'; "
            "resources carry no attributes (the id is an element).",
            here,
            node,
        )
    resource: dict[str, Any] = {"resourceType": name}
    _read_children(node, name, here, resource, is_resource=True)
    return resource


def _read_complex(node: etree._Element, type_name: str, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute, value in _attributes(node).items():
        if attribute == "id" or (attribute == "url" and type_name == _EXTENSION):
            out[attribute] = value
        else:
            raise _structure(
                f"The attribute '{attribute}' is not allowed on {type_name}.", path, node
            )
    _read_children(node, type_name, path, out, is_resource=False)
    return out


def _attribute_only(type_name: str, name: str, is_resource: bool) -> bool:
    """Element.id and Extension.url are XML attributes, never child elements."""
    return (name == "id" and not is_resource) or (name == "url" and type_name == _EXTENSION)


def _primitive(info: ElementInfo) -> str | None:
    """The FHIR primitive type of an element, or None for complex elements."""
    if info.primitive:
        return info.primitive
    # models.py reports FHIR boolean elements by their Python type.
    return "boolean" if info.type_name == "bool" else None


def _read_children(
    node: etree._Element,
    type_name: str,
    path: str,
    out: dict[str, Any],
    *,
    is_resource: bool,
) -> None:
    _no_text(node.text, path, node)
    elements = elements_of(type_name)
    seen: dict[str, int] = {}
    primitive_lists: dict[str, list[tuple[Any, dict[str, Any] | None]]] = {}
    for child in node:
        if not isinstance(child.tag, str):
            raise _structure(f"Unexpected XML node inside {type_name}.", path, node)
        _no_text(child.tail, path, node)
        namespace, name = _split(child)
        info = elements.get(name)
        if info is None or _attribute_only(type_name, name, is_resource):
            if namespace != FHIR_NS:
                raise _structure(
                    f"The element '{name}' is in namespace '{namespace or ''}', not '{FHIR_NS}'.",
                    f"{path}.{name}",
                    child,
                )
            hint = " (it is an XML attribute)" if info is not None else ""
            raise _structure(
                f"Unknown element '{name}' in {type_name}{hint}.", f"{path}.{name}", child
            )
        index = seen.get(name, 0)
        seen[name] = index + 1
        if index and not info.is_list:
            raise _structure(
                f"The element '{name}' appears more than once but does not repeat.",
                f"{path}.{name}",
                child,
            )
        here = f"{path}.{name}[{index}]" if info.is_list else f"{path}.{name}"
        primitive = _primitive(info)
        expected = XHTML_NS if primitive == "xhtml" else FHIR_NS
        if namespace != expected:
            raise _structure(
                f"The element '{name}' is in namespace '{namespace or ''}', not '{expected}'.",
                here,
                child,
            )
        if primitive == "xhtml":
            out[name] = _read_div(child, here)
        elif primitive is not None:
            value, companion = _read_primitive(child, primitive, here)
            if info.is_list:
                primitive_lists.setdefault(name, []).append((value, companion))
            else:
                if value is not None:
                    out[name] = value
                if companion is not None:
                    out["_" + name] = companion
        else:
            item = _read_element(child, info, here)
            if info.is_list:
                out.setdefault(name, []).append(item)
            else:
                out[name] = item
    for name, pairs in primitive_lists.items():
        # FHIR JSON (§2.6.2, repeating primitives): parallel arrays, null where a position has no
        # value or no companion.
        out[name] = [value for value, _ in pairs]
        if any(companion is not None for _, companion in pairs):
            out["_" + name] = [companion for _, companion in pairs]


def _read_element(node: etree._Element, info: ElementInfo, path: str) -> dict[str, Any]:
    type_name = info.type_name or ""
    if type_name != _RESOURCE:
        return _read_complex(node, type_name, path)
    for attribute in _attributes(node):
        raise _structure(f"The attribute '{attribute}' is not allowed here.", path, node)
    _no_text(node.text, path, node)
    inner = list(node)
    if len(inner) != 1 or not isinstance(inner[0].tag, str):
        raise _structure(
            f"'{info.name}' must hold exactly one resource element named by its type.",
            path,
            node,
        )
    _no_text(inner[0].tail, path, node)
    return _read_resource(inner[0], path)


def _read_primitive(
    node: etree._Element, primitive: str, path: str
) -> tuple[Any, dict[str, Any] | None]:
    companion: dict[str, Any] = {}
    raw: str | None = None
    for attribute, text in _attributes(node).items():
        if attribute == "value":
            raw = text
        elif attribute == "id":
            companion["id"] = text
        else:
            raise _structure(
                f"The attribute '{attribute}' is not allowed on a {primitive} element.", path, node
            )
    _no_text(node.text, path, node)
    extensions: list[dict[str, Any]] = []
    for child in node:
        if not isinstance(child.tag, str):
            raise _structure("Unexpected XML node inside a primitive element.", path, node)
        _no_text(child.tail, path, node)
        namespace, name = _split(child)
        if name != "extension":
            raise _structure(
                f"Unknown element '{name}' in a {primitive} element; only 'extension' may "
                "appear here.",
                f"{path}.{name}",
                child,
            )
        here = f"{path}.extension[{len(extensions)}]"
        if namespace != FHIR_NS:
            raise _structure(
                f"The element 'extension' is in namespace '{namespace or ''}', not '{FHIR_NS}'.",
                here,
                child,
            )
        extensions.append(_read_complex(child, _EXTENSION, here))
    if extensions:
        companion["extension"] = extensions
    if raw is None and not extensions:
        raise _structure(
            f"The {primitive} element has no 'value' attribute and no extension.", path, node
        )
    value = None if raw is None else _from_lexical(raw, primitive, path, node)
    return value, companion or None


def _from_lexical(raw: str, primitive: str, path: str, node: etree._Element) -> Any:
    kind = primitive_json_kind(primitive)
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise _value_error(f"'{shown}' is not a boolean (true or false).", path, node)
        return raw == "true"
    if kind == "integer":
        if not _INTEGER.fullmatch(raw):
            raise _value_error(f"'{shown}' is not a FHIR {primitive}.", path, node)
        return int(raw)
    if kind == "number":
        if not _DECIMAL.fullmatch(raw):
            raise _value_error(f"'{shown}' is not a FHIR decimal.", path, node)
        return Decimal(raw)
    return raw


def _no_text(text: str | None, path: str, node: etree._Element) -> None:
    if text and not text.isspace():
        shown = text.strip()
        shown = shown if len(shown) <= 40 else shown[:40] + "…"
        raise _structure(
            f"Text content '{shown}' is not allowed here; FHIR XML carries values in 'value' "
            "attributes.",
            path,
            node,
        )


def _read_div(node: etree._Element, path: str) -> str:
    """The narrative as the JSON string form: one div with the XHTML namespace as default."""
    div = etree.Element(f"{{{XHTML_NS}}}div", nsmap=_XHTML_NSMAP)
    _copy_xhtml(node, div, path)
    return etree.tostring(div, encoding="unicode")


def _copy_xhtml(source: etree._Element, target: etree._Element, path: str) -> None:
    for key, value in _attributes(source).items():
        target.set(key, value)
    target.text = source.text
    for child in source:
        if not isinstance(child.tag, str):
            raise _structure("Unexpected XML node inside the narrative.", path, source)
        namespace, name = _split(child)
        if namespace != XHTML_NS:
            raise _structure(
                f"The narrative element '{name}' is in namespace '{namespace or ''}', "
                f"not '{XHTML_NS}'.",
                path,
                child,
            )
        copy = etree.SubElement(target, f"{{{XHTML_NS}}}{name}")
        _copy_xhtml(child, copy, path)
        copy.tail = child.tail


# --- FHIR JSON -> XML --------------------------------------------------------------------------


def dump_xml(resource: dict[str, Any], *, pretty: bool = False) -> bytes:
    """Serialise a FHIR JSON resource as FHIR XML (UTF-8, with an XML declaration).

    Elements are written in the order the model defines. Raises :class:`FhirError` 400 with the
    FHIRPath of the element that has no XML form (unknown element, wrong JSON type, characters
    XML cannot carry, a narrative that is not XHTML).
    """
    root = _write_resource(None, resource, None)
    if pretty:
        _indent(root, 0)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _fhir(name: str) -> str:
    return f"{{{FHIR_NS}}}{name}"


def _wrong_type(path: str, expected: str, value: Any) -> FhirError:
    return invalid(
        f"Expected {expected} but found {type(value).__name__}.",
        expression=path,
        forlop_code=Code.WRONG_JSON_TYPE,
        code="structure",
    )


def _write_resource(
    parent: etree._Element | None, resource: Any, path: str | None
) -> etree._Element:
    if not isinstance(resource, dict):
        raise _wrong_type(path or "Resource", "a resource object", resource)
    kind = resource.get("resourceType")
    here = path or (kind if isinstance(kind, str) else "Resource")
    if not isinstance(kind, str) or not is_resource_type(kind):
        raise invalid(
            f"'{kind}' is not a FHIR R4 resource type.",
            expression=here,
            forlop_code=Code.UNKNOWN_RESOURCE_TYPE,
        )
    if parent is None:
        node = etree.Element(_fhir(kind), nsmap=_FHIR_NSMAP)
    else:
        node = etree.SubElement(parent, _fhir(kind))
    _write_members(node, resource, kind, here, is_resource=True)
    return node


def _write_members(
    node: etree._Element,
    obj: dict[str, Any],
    type_name: str,
    path: str,
    *,
    is_resource: bool,
) -> None:
    elements = elements_of(type_name)
    for key in obj:
        name = key[1:] if key.startswith("_") else key
        info = elements.get(name)
        known = info is not None and (key == name or _primitive(info) not in (None, "xhtml"))
        if not known and not (is_resource and key == "resourceType"):
            raise invalid(
                f"Unknown element '{key}' in {type_name}.",
                expression=f"{path}.{key}",
                forlop_code=Code.UNKNOWN_ELEMENT,
                code="structure",
            )
    for name in model_class(type_name).elements_sequence():
        value, companion = obj.get(name), obj.get("_" + name)
        if value is None and companion is None:
            continue
        info = elements[name]
        here = f"{path}.{name}"
        if _attribute_only(type_name, name, is_resource):
            if companion is not None:
                raise invalid(
                    f"'{name}' of {type_name} is an XML attribute and cannot carry '_{name}'.",
                    expression=f"{path}._{name}",
                    forlop_code=Code.UNKNOWN_ELEMENT,
                    code="structure",
                )
            _set(node, name, _text(value, "string", here), here)
            continue
        primitive = _primitive(info)
        items = _as_items(value, companion, info, here)
        for index, (item, extra) in enumerate(items):
            at = f"{here}[{index}]" if info.is_list else here
            if primitive == "xhtml":
                _write_div(node, item, at)
            elif primitive is not None:
                _write_primitive(node, name, item, extra, primitive, at)
            elif info.type_name == _RESOURCE:
                _write_resource(etree.SubElement(node, _fhir(name)), item, at)
            else:
                if not isinstance(item, dict):
                    raise _wrong_type(at, "an object", item)
                child = etree.SubElement(node, _fhir(name))
                _write_members(child, item, info.type_name or "", at, is_resource=False)


def _as_items(value: Any, companion: Any, info: ElementInfo, path: str) -> list[tuple[Any, Any]]:
    """(value, companion) per XML element: one for a single element, one per position in lists."""
    if not info.is_list:
        if isinstance(value, list):
            raise _wrong_type(path, "a single value", value)
        return [(value, companion)]
    if value is None and isinstance(companion, list):
        value = [None] * len(companion)
    if not isinstance(value, list):
        raise _wrong_type(path, "an array", value)
    if companion is None:
        companion = [None] * len(value)
    if not isinstance(companion, list) or len(companion) != len(value):
        raise invalid(
            f"'_{info.name}' must be an array as long as '{info.name}'.",
            expression=path,
            forlop_code=Code.WRONG_JSON_TYPE,
            code="structure",
        )
    return list(zip(value, companion, strict=True))


def _write_primitive(
    parent: etree._Element, name: str, value: Any, companion: Any, primitive: str, path: str
) -> None:
    if value is None and companion is None:
        raise invalid(
            f"A null in '{name}' needs an id or extension in '_{name}' at the same position.",
            expression=path,
            forlop_code=Code.EMPTY_ELEMENT,
            code="structure",
        )
    node = etree.SubElement(parent, _fhir(name))
    if companion is not None:
        if not isinstance(companion, dict):
            raise _wrong_type(path, "an object in the '_' companion", companion)
        unknown = set(companion) - {"id", "extension"}
        if unknown:
            raise invalid(
                f"The '_{name}' companion may hold only id and extension, not {sorted(unknown)}.",
                expression=path,
                forlop_code=Code.UNKNOWN_ELEMENT,
                code="structure",
            )
        if "id" in companion:
            _set(node, "id", _text(companion["id"], "string", f"{path}.id"), path)
    if value is not None:
        _set(node, "value", _text(value, primitive, path), path)
    if companion is not None:
        extensions = companion.get("extension", [])
        if not isinstance(extensions, list):
            raise _wrong_type(f"{path}.extension", "an array", extensions)
        for index, extension in enumerate(extensions):
            here = f"{path}.extension[{index}]"
            if not isinstance(extension, dict):
                raise _wrong_type(here, "an object", extension)
            child = etree.SubElement(node, _fhir("extension"))
            _write_members(child, extension, _EXTENSION, here, is_resource=False)


def _text(value: Any, primitive: str, path: str) -> str:
    """The XML lexical form of a JSON primitive, refusing a JSON type the element cannot have."""
    kind = primitive_json_kind(primitive)
    if isinstance(value, bool):
        if kind == "boolean":
            return "true" if value else "false"
    elif kind == "integer" and isinstance(value, int):
        return str(value)
    elif kind == "number" and isinstance(value, int | Decimal) and Decimal(value).is_finite():
        return str(value)
    elif kind == "string" and isinstance(value, str):
        return value
    raise _wrong_type(path, f"a JSON {kind} for {primitive}", value)


def _set(node: etree._Element, attribute: str, value: str, path: str) -> None:
    try:
        node.set(attribute, value)
    except ValueError:
        raise invalid(
            "The value contains characters XML cannot carry (control characters or NUL).",
            expression=path,
            forlop_code=Code.INVALID_VALUE,
            code="value",
        ) from None


def _write_div(parent: etree._Element, value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise _wrong_type(path, "a string of XHTML", value)
    try:
        div = parse_xml_tree(value)
    except FhirError as exc:
        raise FhirError(
            exc.status,
            [dataclasses.replace(issue, expression=(path,)) for issue in exc.issues],
        ) from None
    if div.tag != f"{{{XHTML_NS}}}div":
        raise invalid(
            f"The narrative must be one <div> in namespace '{XHTML_NS}'.",
            expression=path,
            forlop_code=Code.INVALID_VALUE,
            code="value",
        )
    parent.append(div)


def _indent(node: etree._Element, level: int) -> None:
    """Indent FHIR elements only: whitespace inside the narrative would change its text."""
    children = list(node)
    if not children or _split(node)[0] == XHTML_NS:
        return
    inner = "\n" + "  " * (level + 1)
    node.text = inner
    for child in children:
        child.tail = inner
        _indent(child, level + 1)
    children[-1].tail = "\n" + "  " * level
