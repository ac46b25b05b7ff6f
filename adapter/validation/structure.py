"""Base FHIR R4 structure: the JSON rules (§2.6.2) and each type's element definitions.

What a strict R4 server rejects before it looks at profiles: a missing or unknown resourceType,
properties the type does not define, the wrong JSON kind for a primitive (§2.6.2.4), arrays where
one value is expected and the reverse, empty objects/arrays/strings and nulls (ele-1 and the JSON
rules), two value[x] choices at once, missing 1..1 elements at every level, malformed ``_name``
companions, and narrative XHTML outside the R4 rules (txt-1, txt-2). Contained resources and
``Bundle.entry.resource`` are checked as their own types.

Primitive values are checked against the regexes R4 publishes (§2.24.0.1), calendar days and
32-bit integer ranges included: the same verdicts as the R4B model of fhir.resources, which the
tests hold this module to, at a fraction of the cost (no model objects are built). Everything is
collected; nothing stops at the first problem.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from decimal import Decimal
from typing import Any

from lxml import etree

from adapter.fhir.errors import Code, Issue, error_issue
from adapter.fhir.models import primitive_json_kind
from adapter.validation.terminology import resource_type_codes
from adapter.validation.walk import Elem, TypeInfo, child_expression, resource_info, type_info

__all__ = ["validate_structure"]

_MAX_DEPTH = 100  # parse_json bounds depth at 64; this only guards direct callers

# FHIR R4 §2.24.0.1 primitive types: the regexes as published, and what a wrong value is told.
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
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
    "code": (re.compile(r"[^\s]+(\s[^\s]+)*"), "no leading, trailing or repeated whitespace"),
    "date": (
        re.compile(f"{_YEAR}(-{_MONTH}(-{_DAY})?)?"),
        "YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date",
    ),
    "dateTime": (
        re.compile(f"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?"),
        "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a timezone, a real calendar date",
    ),
    "instant": (
        re.compile(f"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}"),
        "YYYY-MM-DDThh:mm:ss(.sss) with a timezone, e.g. 2024-01-31T10:00:00Z",
    ),
    "time": (re.compile(_TIME), "hh:mm:ss"),
}
# The calendar part of a date, dateTime or instant: the regexes allow 31 days in every month.
_CALENDAR_TYPES = frozenset({"date", "dateTime", "instant"})
_INTEGER_RANGES = {
    "integer": (-(2**31), 2**31 - 1, "a whole number from -2147483648 to 2147483647"),
    "positiveInt": (1, 2**31 - 1, "a whole number from 1 to 2147483647"),
    "unsignedInt": (0, 2**31 - 1, "a whole number from 0 to 2147483647"),
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
    return checker.issues


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
        if ptype in _INTEGER_RANGES and not isinstance(value, bool):
            low, high, hint = _INTEGER_RANGES[ptype]
            if not low <= value <= high:
                self.add(
                    "value",
                    Code.INVALID_VALUE,
                    f"{expr} {value} is not a valid FHIR {ptype} ({hint}).",
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
        if fmt is not None and not (
            fmt[0].fullmatch(value) and (ptype not in _CALENDAR_TYPES or _real_day(value))
        ):
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


def _real_day(value: str) -> bool:
    """A date part that names a day: no 30 February, 29 February only in leap years."""
    if len(value) < 10:
        return True
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True
