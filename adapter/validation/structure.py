"""Base FHIR R4 structure: the JSON rules (§2.6.2) and each type's element definitions.

What a strict R4 server rejects before it looks at profiles: a missing or unknown resourceType,
properties the type does not define, the wrong JSON kind for a primitive (§2.6.2.4), arrays where
one value is expected and the reverse, empty objects/arrays/strings and nulls (ele-1 and the JSON
rules), two value[x] choices at once, missing 1..1 elements at every level, malformed ``_name``
companions, and narrative XHTML outside the R4 rules (txt-1, txt-2). Contained resources and
``Bundle.entry.resource`` are checked as their own types.

The R4B pydantic model then checks what it knows (date formats, code whitespace, 32-bit integer
ranges, ...); its errors become issues with the same FHIRPath expressions, without repeating what
the walk already said. Everything is collected; nothing stops at the first problem.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal
from typing import Any

from lxml import etree
from pydantic import ValidationError

from adapter.fhir.errors import Code, Issue, error_issue
from adapter.fhir.models import model_class, primitive_json_kind
from adapter.validation.terminology import resource_type_codes
from adapter.validation.walk import Elem, TypeInfo, child_expression, resource_info, type_info

__all__ = ["validate_structure"]

_MAX_DEPTH = 100  # parse_json bounds depth at 64; this only guards direct callers

# Formats the R4B model does not check (FHIR R4 §2.24.0.1 primitive types, regexes as published).
_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "id": (re.compile(r"[A-Za-z0-9\-.]{1,64}"), "1-64 characters of A-Z, a-z, 0-9, '-' and '.'"),
    "uri": (re.compile(r"\S*"), "no whitespace"),
    "url": (re.compile(r"\S*"), "no whitespace"),
    "canonical": (re.compile(r"\S*"), "no whitespace"),
    "oid": (re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"), "urn:oid: followed by an OID"),
    "uuid": (
        re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        "urn:uuid: followed by a lower-case UUID",
    ),
    "base64Binary": (re.compile(r"(\s*([0-9a-zA-Z+/=]){4}\s*)+"), "base64 text"),
}

# How each FHIR primitive is described when its value is wrong (FHIR R4 §2.24.0.1).
_HINTS = {
    "date": "YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a timezone",
    "instant": "YYYY-MM-DDThh:mm:ss(.sss) with a timezone, e.g. 2024-01-31T10:00:00Z",
    "time": "hh:mm:ss",
    "code": "no leading, trailing or repeated whitespace",
    "id": "1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
    "decimal": "a JSON number",
    "integer": "a whole number from -2147483648 to 2147483647",
    "positiveInt": "a whole number from 1 to 2147483647",
    "unsignedInt": "a whole number from 0 to 2147483647",
}

_JSON_KIND_NAMES = {
    "boolean": "true or false",
    "integer": "a JSON integer",
    "number": "a JSON number",
    "string": "a JSON string",
}

# FHIR R4 narrative (§2.4.0.1 / txt-1): the basic HTML 4.0 formatting elements, <a>, images and
# tables; no scripts, forms, frames, objects, head/body, base/link or event handler attributes.
_XHTML_NS = "http://www.w3.org/1999/xhtml"
_XHTML_ELEMENTS = frozenset(
    "a abbr acronym address b big blockquote br caption cite code col colgroup dd dfn div dl dt "
    "em h1 h2 h3 h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td "
    "tfoot th thead tr tt ul var bdo kbd map area".split()
)
_XHTML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def validate_structure(resource: dict[str, Any]) -> list[Issue]:
    """Every base-R4 structural problem of a JSON resource, each with its FHIRPath expression."""
    if not isinstance(resource, dict):
        return [
            error_issue(
                "structure",
                Code.UNKNOWN_RESOURCE_TYPE,
                "A FHIR resource must be a JSON object with a resourceType.",
            )
        ]
    info = resource_info(resource)
    if info is None:
        return [_resource_type_issue(resource.get("resourceType"), "")]
    checker = _Checker()
    checker.check_object(resource, info, info.name, is_resource=True, depth=0)
    issues = checker.issues
    issues.extend(_model_issues(resource, info, issues))
    return issues


def _resource_type_issue(rtype: Any, expression: str) -> Issue:
    where = f" at {expression}" if expression else ""
    if rtype is None:
        text = f"The resource{where} has no resourceType."
    elif not isinstance(rtype, str):
        text = f"The resourceType{where} must be a string naming an R4 resource type."
    else:
        text = f"'{rtype}'{where} is not a FHIR R4 resource type."
        guess = difflib.get_close_matches(rtype, _resource_type_names(), n=1)
        if guess:
            text += f" Did you mean '{guess[0]}'?"
    return error_issue("structure", Code.UNKNOWN_RESOURCE_TYPE, text, expression or ())


def _resource_type_names() -> list[str]:
    # The value set of all R4 resource types is the reference list for suggestions.
    return sorted(resource_type_codes())


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "the boolean " + ("true" if value else "false")
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string '{shown}'"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _json_kind_ok(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        if isinstance(value, bool):
            return False
        if isinstance(value, Decimal):
            return value.is_finite()
        return isinstance(value, int | float)
    return isinstance(value, str)


class _Checker:
    """One structural pass over a resource, collecting issues."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, code: str, forlop: Code, text: str, expression: str | tuple[str, ...]) -> None:
        self.issues.append(error_issue(code, forlop, text, expression))

    # -- objects ---------------------------------------------------------------------------

    def check_object(
        self, data: dict[str, Any], info: TypeInfo, expr: str, *, is_resource: bool, depth: int
    ) -> None:
        if depth > _MAX_DEPTH:
            self.add("structure", Code.WRONG_JSON_TYPE, f"{expr} is nested too deeply.", expr)
            return
        if not data:
            self.add(
                "structure",
                Code.EMPTY_ELEMENT,
                f"{expr} is an empty object; an element must have a value or children (ele-1).",
                expr,
            )
            return
        present: dict[str, set[str]] = {}
        for key, value in data.items():
            if is_resource and key == "resourceType":
                continue
            if key.startswith("_"):
                base = info.elements.get(key[1:])
                if base is None or base.kind != "primitive" or not base.r4:
                    self._unknown(key, info, expr)
                    continue
                if base.choice is not None:
                    present.setdefault(base.choice, set()).add(base.name)
                self._companion(value, base, expr, data.get(base.name), depth)
                continue
            elem = info.elements.get(key)
            if elem is None or not elem.r4:
                self._unknown(key, info, expr)
                continue
            if elem.choice is not None:
                present.setdefault(elem.choice, set()).add(key)
            self._value(value, elem, expr, data.get("_" + key), depth)
        for group, names in present.items():
            if len(names) > 1:
                listed = ", ".join(sorted(names))
                self.add(
                    "structure",
                    Code.CHOICE_CONFLICT,
                    f"{info.path}.{group}[x] takes one type only, but {expr} has {listed}.",
                    tuple(child_expression(expr, n) for n in sorted(names)),
                )
        self._required(data, info, expr, present)

    def _required(
        self, data: dict[str, Any], info: TypeInfo, expr: str, present: dict[str, set[str]]
    ) -> None:
        for elem in info.required:
            if elem.name in data or _has_extension(data.get("_" + elem.name)):
                continue
            self.add(
                "required",
                Code.REQUIRED_MISSING,
                f"{child_expression(expr, elem.name)} is required ({info.path}.{elem.name} "
                "has cardinality 1..), but it is missing.",
                child_expression(expr, elem.name),
            )
        for group in sorted(info.required_choices - present.keys()):
            options = ", ".join(info.choices[group])
            self.add(
                "required",
                Code.REQUIRED_MISSING,
                f"{expr} needs {info.path}.{group}[x] (one of {options}), but it is missing.",
                expr,
            )

    def _unknown(self, key: str, info: TypeInfo, expr: str) -> None:
        where = child_expression(expr, key) if not key.startswith("_") else f"{expr}.{key}"
        elem = info.elements.get(key.lstrip("_"))
        if elem is not None and not elem.r4:
            text = (
                f"{where} is not allowed in FHIR R4: {elem.type_name} is a datatype of R4B, "
                "not of R4."
            )
        elif key == "fhir_comments":
            text = f"{where}: FHIR R4 JSON has no comment property; remove 'fhir_comments'."
        elif key in info.choices:
            example = info.choices[key][0]
            text = f"{where} is a choice element: name its type in the property, e.g. '{example}'."
        elif info.name == "Element":
            text = f"{where}: a primitive's _ companion holds only id and extension."
        elif key.startswith("_"):
            text = f"{where}: '{key}' is not the companion of a primitive element of {info.path}."
        else:
            text = f"{where} is not an element of {info.path}."
            guess = difflib.get_close_matches(key, list(info.elements), n=1, cutoff=0.6)
            if guess:
                text += f" Did you mean '{guess[0]}'?"
        self.add("structure", Code.UNKNOWN_ELEMENT, text, where)

    # -- values ----------------------------------------------------------------------------

    def _value(self, value: Any, elem: Elem, parent: str, companion: Any, depth: int) -> None:
        expr = child_expression(parent, elem.name)
        if value is None:
            self.add(
                "structure",
                Code.EMPTY_ELEMENT,
                f"{expr} is null; leave the property out instead.",
                expr,
            )
            return
        if not elem.is_list:
            if isinstance(value, list):
                self.add(
                    "structure",
                    Code.NOT_A_LIST,
                    f"{expr} takes a single value, but found an array.",
                    expr,
                )
                return
            self._item(value, elem, expr, depth)
            return
        if not isinstance(value, list):
            self.add(
                "structure",
                Code.NOT_A_LIST,
                f"{expr} repeats (0..*), so it must be a JSON array, but found {_describe(value)}.",
                expr,
            )
            return
        if not value:
            self.add(
                "structure",
                Code.EMPTY_ELEMENT,
                f"{expr} is an empty array; leave the property out instead.",
                expr,
            )
            return
        extensions = companion if isinstance(companion, list) else []
        for i, item in enumerate(value):
            item_expr = f"{expr}[{i}]"
            if item is None:
                positional = elem.kind == "primitive" and i < len(extensions)
                # a companion object at this position is checked (ele-1) by _companion
                if not (positional and isinstance(extensions[i], dict)):
                    self.add(
                        "structure",
                        Code.EMPTY_ELEMENT,
                        f"{item_expr} is null; arrays may hold null only where the _"
                        f"{elem.name} companion gives that position an extension.",
                        item_expr,
                    )
                continue
            self._item(item, elem, item_expr, depth)

    def _item(self, value: Any, elem: Elem, expr: str, depth: int) -> None:
        if elem.kind == "primitive":
            self._primitive(value, elem.type_name, expr)
            return
        if not isinstance(value, dict):
            what = "resource" if elem.kind == "resource" else elem.type_name
            self.add(
                "structure",
                Code.WRONG_JSON_TYPE,
                f"{expr} must be a JSON object ({what}), but found {_describe(value)}.",
                expr,
            )
            return
        if elem.kind == "resource":
            info = resource_info(value)
            if info is None:
                self.issues.append(_resource_type_issue(value.get("resourceType"), expr))
                return
            self.check_object(value, info, expr, is_resource=True, depth=depth + 1)
            return
        self.check_object(
            value, type_info(elem.type_name), expr, is_resource=False, depth=depth + 1
        )

    def _primitive(self, value: Any, ptype: str, expr: str) -> None:
        kind = primitive_json_kind(ptype)
        if not _json_kind_ok(value, kind):
            self.add(
                "structure",
                Code.WRONG_JSON_TYPE,
                f"{expr} is a FHIR {ptype}, so it must be {_JSON_KIND_NAMES[kind]}, but found "
                f"{_describe(value)}.",
                expr,
            )
            return
        if not isinstance(value, str):
            return
        if value == "":
            self.add(
                "structure",
                Code.EMPTY_ELEMENT,
                f"{expr} is an empty string; leave the property out instead.",
                expr,
            )
            return
        if ptype == "xhtml":
            self._xhtml(value, expr)
            return
        fmt = _FORMATS.get(ptype)
        if fmt is not None and not fmt[0].fullmatch(value):
            self.add(
                "value",
                Code.INVALID_VALUE,
                f"{expr} '{_clip(value)}' is not a valid FHIR {ptype} ({fmt[1]}).",
                expr,
            )

    def _companion(self, value: Any, elem: Elem, parent: str, base_value: Any, depth: int) -> None:
        expr = child_expression(parent, elem.name)
        if value is None:
            self.add(
                "structure",
                Code.EMPTY_ELEMENT,
                f"_{elem.name} at {expr} is null; leave the property out instead.",
                expr,
            )
            return
        if not elem.is_list:
            if isinstance(value, list):
                self.add(
                    "structure",
                    Code.NOT_A_LIST,
                    f"_{elem.name} at {expr} must be one object with id and/or extension.",
                    expr,
                )
                return
            self._element_part(value, elem, expr, base_value is not None, depth)
            return
        if not isinstance(value, list):
            self.add(
                "structure",
                Code.NOT_A_LIST,
                f"_{elem.name} at {expr} must be an array lined up with {elem.name}.",
                expr,
            )
            return
        values = base_value if isinstance(base_value, list) else []
        if base_value is not None and len(values) != len(value):
            self.add(
                "structure",
                Code.NOT_A_LIST,
                f"_{elem.name} at {expr} has {len(value)} entries but {elem.name} has "
                f"{len(values)}; the arrays must line up one to one.",
                expr,
            )
        if all(item is None for item in value):
            self.add(
                "structure",
                Code.EMPTY_ELEMENT,
                f"_{elem.name} at {expr} holds only nulls; leave the property out instead.",
                expr,
            )
            return
        for i, item in enumerate(value):
            if item is None:
                continue
            has_value = i < len(values) and values[i] is not None
            self._element_part(item, elem, f"{expr}[{i}]", has_value, depth)

    def _element_part(self, value: Any, elem: Elem, expr: str, has_value: bool, depth: int) -> None:
        """The id/extension half of a primitive (FHIR R4 §2.6.2.7)."""
        if not isinstance(value, dict):
            self.add(
                "structure",
                Code.WRONG_JSON_TYPE,
                f"The _{elem.name} part of {expr} must be an object with id and/or extension, "
                f"but found {_describe(value)}.",
                expr,
            )
            return
        self.check_object(value, type_info("Element"), expr, is_resource=False, depth=depth + 1)
        if value and not has_value and not _has_extension(value):
            self.add(
                "structure",
                Code.EMPTY_ELEMENT,
                f"{expr} has neither a value nor an extension (ele-1).",
                expr,
            )

    def _xhtml(self, value: str, expr: str) -> None:
        problem = _xhtml_problem(value)
        if problem:
            self.add("value", Code.INVALID_VALUE, f"{expr}: {problem}", expr)


def _has_extension(part: Any) -> bool:
    return isinstance(part, dict) and bool(part.get("extension"))


def _clip(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "..."


def _xhtml_problem(text: str) -> str | None:
    """The first way ``text`` breaks the R4 narrative rules (txt-1, txt-2), or None."""
    try:
        root = etree.fromstring(text.encode(), _XHTML_PARSER)
    except etree.XMLSyntaxError as exc:
        return f"the narrative is not well-formed XHTML ({exc.msg})."
    if root.tag != f"{{{_XHTML_NS}}}div":
        return 'the narrative must be one <div xmlns="http://www.w3.org/1999/xhtml"> element.'
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # comments and processing instructions carry no content
        qname = etree.QName(el)
        if qname.namespace != _XHTML_NS or qname.localname not in _XHTML_ELEMENTS:
            return f"<{qname.localname}> is not allowed in FHIR narrative (txt-1)."
        for attr, attr_value in el.attrib.items():
            name = etree.QName(attr).localname
            if name.lower().startswith("on"):
                return f"event handler attribute '{name}' is not allowed in narrative (txt-1)."
            text = attr_value if isinstance(attr_value, str) else attr_value.decode()
            if name in ("href", "src") and text.strip().lower().startswith("javascript:"):
                return f"'{name}' must not run script in narrative (txt-1)."
    has_text = any(t.strip() for t in root.itertext())
    if not has_text and root.find(f".//{{{_XHTML_NS}}}img") is None:
        return "the narrative must have some non-whitespace content (txt-2)."
    return None


# -- the R4B model ---------------------------------------------------------------------------


def _model_issues(resource: dict[str, Any], info: TypeInfo, known: list[Issue]) -> list[Issue]:
    """The pydantic model's findings, translated, minus what the walk already reported.

    Each resource (the root, contained ones, Bundle entries) goes to the model on its own, so an
    unknown resource type in one entry cannot hide the findings in the others.
    """
    reported = [e for issue in known for e in issue.expression]
    out: list[Issue] = []
    for data, rinfo, prefix in _resources(resource, info, info.name):
        try:
            model_class(rinfo.name).model_validate(data)
            continue
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        except Exception as exc:  # noqa: BLE001 - the model may choke on shapes the walk reported
            if not _covered(prefix, reported):
                out.append(
                    error_issue(
                        "structure",
                        Code.INVALID_VALUE,
                        f"The R4 model could not read {prefix}: {exc}.",
                        prefix,
                    )
                )
            continue
        for err in errors:
            expr, ptype, value = _locate(data, rinfo, prefix, err["loc"])
            if _covered(expr, reported):
                continue
            out.append(_translate(err, expr, ptype, value))
            reported.append(expr)
    return out


def _resources(
    data: dict[str, Any], info: TypeInfo, prefix: str
) -> list[tuple[dict[str, Any], TypeInfo, str]]:
    """The resource with its nested resources cut out, then each nested resource the same way."""
    nested: list[tuple[dict[str, Any], TypeInfo, str]] = []
    own = _cut(data, info, prefix, nested)
    out = [(own, info, prefix)]
    for child, child_info, child_prefix in nested:
        out.extend(_resources(child, child_info, child_prefix))
    return out


def _cut(
    data: dict[str, Any],
    info: TypeInfo,
    expr: str,
    nested: list[tuple[dict[str, Any], TypeInfo, str]],
) -> dict[str, Any]:
    """A copy of ``data`` without resource-valued elements (collected into ``nested``); objects
    with nothing to cut are shared, not copied."""
    copy: dict[str, Any] | None = None
    for key, value in data.items():
        elem = info.elements.get(key)
        if elem is None or elem.kind == "primitive" or value is None:
            continue
        items = value if isinstance(value, list) else [value]
        indexed = isinstance(value, list)
        if elem.kind == "resource":
            for i, item in enumerate(items):
                item_info = resource_info(item)
                if item_info is not None:
                    where = child_expression(expr, key, i if indexed else None)
                    nested.append((item, item_info, where))
            copy = dict(data) if copy is None else copy
            del copy[key]
            continue
        child_info = type_info(elem.type_name)
        new_items = []
        changed = False
        for i, item in enumerate(items):
            if isinstance(item, dict):
                where = child_expression(expr, key, i if indexed else None)
                new = _cut(item, child_info, where, nested)
                changed = changed or new is not item
                new_items.append(new)
            else:
                new_items.append(item)
        if changed:
            copy = dict(data) if copy is None else copy
            copy[key] = new_items if indexed else new_items[0]
    return data if copy is None else copy


def _covered(expr: str, reported: list[str]) -> bool:
    for seen in reported:
        if expr == seen:
            return True
        for a, b in ((expr, seen), (seen, expr)):
            if a.startswith(b) and a[len(b)] in ".[":
                return True
    return False


def _locate(
    resource: dict[str, Any], info: TypeInfo, prefix: str, loc: tuple[int | str, ...]
) -> tuple[str, str | None, Any]:
    """FHIRPath, FHIR primitive type and input value for a pydantic error location."""
    expr = prefix
    current: TypeInfo | None = info
    node: Any = resource
    ptype: str | None = None
    for seg in loc:
        if isinstance(seg, int):
            expr += f"[{seg}]"
            node = node[seg] if isinstance(node, list) and -len(node) <= seg < len(node) else None
            continue
        if seg in ("root", "resource_type") or current is None:
            continue
        name = seg[1:] if seg.startswith("_") else seg
        elem = current.elements.get(name)
        if elem is not None and seg.startswith("_") and elem.kind != "primitive":
            elem = None
        # an unknown property keeps its raw name, as the walk reported it
        expr = child_expression(expr, name) if elem is not None else f"{expr}.{seg}"
        node = node.get(seg) if isinstance(node, dict) else None
        if elem is None:
            current, ptype = None, None
        elif elem.kind == "primitive":
            current, ptype = (type_info("Element") if seg.startswith("_") else None), elem.type_name
        elif elem.kind == "resource":
            current, ptype = None, None
            item = node[0] if isinstance(node, list) and node else node
            current = resource_info(item)
        else:
            current, ptype = type_info(elem.type_name), None
    return expr, ptype, node


def _translate(err: Any, expr: str, ptype: str | None, value: Any) -> Issue:
    etype = str(err.get("type", ""))
    shown = f" '{_clip(str(value))}'" if isinstance(value, str | int | float | Decimal) else ""
    if etype in ("missing", "model_field_validation.missing"):
        return error_issue("required", Code.REQUIRED_MISSING, f"{expr} is required.", expr)
    if etype == "extra_forbidden":
        return error_issue(
            "structure", Code.UNKNOWN_ELEMENT, f"{expr} is not a known element.", expr
        )
    if ptype is not None and ptype in _HINTS:
        text = f"{expr}{shown} is not a valid FHIR {ptype} ({_HINTS[ptype]})."
    elif ptype is not None:
        text = f"{expr}{shown} is not a valid FHIR {ptype}: {err.get('msg', '')}."
    else:
        text = f"{expr}: {err.get('msg', 'invalid value')}."
    return error_issue("value", Code.INVALID_VALUE, text, expr)
