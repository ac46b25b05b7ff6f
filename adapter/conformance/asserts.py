"""Evaluating one TestScript assert (FHIR R4 TestScript.setup.action.assert).

Every assert yields a :class:`Verdict` that says what was expected and what was found, in words an
integrator can act on. Comparisons follow assert.operator; a value is compared as a number when
both sides are numbers, else as text:

- ``equals`` / ``notEquals``: exactly one value that equals ``value`` / anything else;
- ``in`` / ``notIn``: exactly one value that is / is not in the comma-separated ``value``;
- ``greaterThan`` / ``lessThan``: exactly one value, compared with ``value``;
- ``contains`` / ``notContains``: some value has / no value has ``value`` as a substring;
- ``empty`` / ``notEmpty``: no value / at least one;
- ``eval``, or an expression without operator and value: the expression gives exactly ``true``.

``validateProfileId`` validates the resource locally with forlop's validator (base R4 plus the
profile), so it works the same against any server. What cannot be evaluated at all (a fixture not
there yet, a FHIRPath error, a profile forlop does not know) raises :class:`AssertError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from adapter.conformance.model import RESPONSE_CODES, Assert
from adapter.conformance.results import HttpRequest, Source, media_type
from adapter.conformance.summary import describe_issues, summary_of
from adapter.conformance.variables import VariableError, Variables, fhirpath_values, text_of
from adapter.fhir.errors import Issue
from adapter.registry import Registry
from adapter.validation.profile import validate_profile
from adapter.validation.validator import validate

_HL7_PROFILE = "http://hl7.org/fhir/StructureDefinition/"
_SHORTHAND = {"json": "application/fhir+json", "xml": "application/fhir+xml"}


class AssertError(Exception):
    """The assert could not be evaluated (as opposed to evaluated and failed)."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    expected: str
    actual: str


@dataclass(frozen=True)
class AssertContext:
    """What an assert can read while a script runs."""

    source: Callable[[str | None, str], Source]  # (sourceId or None, direction) -> Source
    variables: Variables
    profiles: Mapping[str, str]
    registry: Registry
    last_request: HttpRequest | None


def full_media_type(value: str) -> str:
    """``json``/``xml`` (TestScript's short forms) or a media type, without parameters."""
    return _SHORTHAND.get(value.strip().lower(), media_type(value))


def header_media_type(value: str) -> str:
    """What to send for accept or contentType: the short forms spelt out, else as written."""
    return _SHORTHAND.get(value.strip().lower(), value)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def _same(actual: str, expected: str) -> bool:
    a, e = _number(actual), _number(expected)
    return a == e if a is not None and e is not None else actual == expected


def _order(actual: str, expected: str) -> int:
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return (a > e) - (a < e)
    return (actual > expected) - (actual < expected)


def compare(values: Sequence[str], operator: str, expected: str) -> bool:
    """``values`` (text forms) against ``expected`` with a TestScript operator (not ``eval``)."""
    one = values[0] if len(values) == 1 else None
    choices = [c.strip() for c in expected.split(",")]
    match operator:
        case "empty":
            return not values
        case "notEmpty":
            return bool(values)
        case "equals":
            return one is not None and _same(one, expected)
        case "notEquals":
            return not (one is not None and _same(one, expected))
        case "in":
            return one is not None and any(_same(one, c) for c in choices)
        case "notIn":
            return not (one is not None and any(_same(one, c) for c in choices))
        case "greaterThan":
            return one is not None and _order(one, expected) > 0
        case "lessThan":
            return one is not None and _order(one, expected) < 0
        case "contains":
            return any(expected in v for v in values)
        case "notContains":
            return not any(expected in v for v in values)
    raise AssertError(f"Operator '{operator}' cannot compare values.")


_PHRASES = {
    "equals": "is {}",
    "notEquals": "is not {}",
    "in": "is one of {}",
    "notIn": "is none of {}",
    "greaterThan": "is greater than {}",
    "lessThan": "is less than {}",
    "contains": "contains {}",
    "notContains": "does not contain {}",
    "empty": "is empty",
    "notEmpty": "is present",
    "eval": "is true",
}


def expectation(subject: str, operator: str, expected: str | None) -> str:
    return f"{subject} {_PHRASES[operator].format(repr(expected))}"


def shown(values: Sequence[str]) -> str:
    if not values:
        return "nothing"
    if len(values) == 1:
        return repr(values[0])
    return "[" + ", ".join(repr(v) for v in values) + "]"


def check(assertion: Assert, ctx: AssertContext) -> Verdict:
    """Evaluate ``assertion``; raises :class:`AssertError` when it cannot be evaluated."""
    try:
        return _check(assertion, ctx)
    except (VariableError, ValueError) as exc:
        raise AssertError(str(exc)) from None


def _check(a: Assert, ctx: AssertContext) -> Verdict:
    source = ctx.source(a.source_id, a.direction)
    value = ctx.variables.substitute(a.value) if a.value is not None else None
    match a.kind:
        case "response" | "responseCode":
            return _status(a, source)
        case "contentType":
            assert a.content_type is not None
            wanted = full_media_type(a.content_type)
            actual = media_type(source.content_type)
            ok = compare([actual], a.operator or "equals", wanted)
            subject = f"the {a.direction}'s Content-Type"
            return Verdict(
                ok, expectation(subject, a.operator or "equals", wanted), actual or "none"
            )
        case "resource":
            assert a.resource is not None
            found = [str(source.resource.get("resourceType"))] if source.resource else []
            ok = compare(found, a.operator or "equals", a.resource)
            expected = expectation("the resource type", a.operator or "equals", a.resource)
            return Verdict(ok, expected, found[0] if found else _no_body(source))
        case "headerField":
            assert a.header_field is not None
            header = source.headers.get(a.header_field.lower())
            operator = a.operator or ("equals" if value is not None else "notEmpty")
            found = [header] if header is not None else []
            ok = compare(found, operator, value or "")
            expected = expectation(f"header {a.header_field}", operator, value)
            return Verdict(ok, expected, header if header is not None else "absent")
        case "expression":
            return _expression(a, source, ctx, value)
        case "minimumId":
            assert a.minimum_id is not None
            return _minimum(a.minimum_id, source, ctx)
        case "validateProfileId":
            assert a.validate_profile_id is not None
            return _profile(ctx.profiles[a.validate_profile_id], source, ctx.registry)
        case "requestMethod" | "requestURL":
            request = source.request or ctx.last_request
            if request is None:
                raise AssertError("No request has been sent yet.")
            if a.kind == "requestMethod":
                assert a.request_method is not None
                sent, wanted, subject = request.method.lower(), a.request_method.lower(), "method"
            else:
                sent, wanted, subject = request.url, value or "", "URL"
            operator = a.operator or "equals"
            ok = compare([sent], operator, wanted)
            return Verdict(ok, expectation(f"the request {subject}", operator, wanted), sent)
    raise AssertError(f"The runner cannot evaluate a {a.kind} assert.")


def _no_body(source: Source) -> str:
    if source.parse_error:
        return f"no FHIR body ({source.parse_error})"
    return "no FHIR body"


def _status(a: Assert, source: Source) -> Verdict:
    if source.status is None:
        raise AssertError(f"{source.name} is not a response: it has no status.")
    operator = a.operator or "equals"
    if a.kind == "response":
        assert a.response is not None
        wanted = str(RESPONSE_CODES[a.response])
        expected = expectation("the status", operator, f"{wanted} ({a.response})")
    else:
        assert a.response_code is not None
        wanted = a.response_code
        expected = expectation("the status", operator, wanted)
    ok = compare([str(source.status)], operator, wanted)
    actual = f"{source.status} {source.reason}".strip()
    if not ok and source.resource is not None:
        actual += f": {summary_of(source.resource)}"
    return Verdict(ok, expected.replace("'", ""), actual)


def _expression(a: Assert, source: Source, ctx: AssertContext, value: str | None) -> Verdict:
    assert a.expression is not None
    if source.resource is None:
        return Verdict(False, f"'{a.expression}' evaluated on {source.name}", _no_body(source))
    expression = ctx.variables.substitute(a.expression)
    raw = fhirpath_values(source.resource, expression)
    found = [text_of(v) for v in raw]
    if a.compare_to_source_id is not None:
        assert a.compare_to_source_expression is not None
        other = ctx.source(a.compare_to_source_id, "response")
        if other.resource is None:
            raise AssertError(f"{other.name} has no FHIR body to compare with.")
        other_expression = ctx.variables.substitute(a.compare_to_source_expression)
        wanted = [text_of(v) for v in fhirpath_values(other.resource, other_expression)]
        same = found == wanted
        ok = same if (a.operator or "equals") == "equals" else not same
        relation = "the same as" if ok == same else "different from"
        expected = f"'{expression}' gives {relation} '{other_expression}' on {other.name}"
        return Verdict(ok, f"{expected}: {shown(wanted)}", shown(found))
    operator = a.operator or ("equals" if value is not None else "eval")
    if operator == "eval":
        return Verdict(raw == [True], f"'{expression}' is true", shown(found))
    assert value is not None or operator in ("empty", "notEmpty")
    ok = compare(found, operator, value or "")
    return Verdict(ok, expectation(f"'{expression}'", operator, value), shown(found))


def _profile(url: str, source: Source, registry: Registry) -> Verdict:
    expected = f"valid against {url} (forlop's validator)"
    resource = source.resource
    if resource is None:
        return Verdict(False, expected, _no_body(source))
    issues = [i for i in validate(resource, registry) if i.is_error]
    profile = registry.get(url)
    if profile is not None:
        claimed = (resource.get("meta") or {}).get("profile") or []
        if url not in claimed:  # a claimed profile was validated by validate() already
            issues += [i for i in validate_profile(resource, profile, registry) if i.is_error]
    elif url.startswith(_HL7_PROFILE):
        wanted_type = url.removeprefix(_HL7_PROFILE)
        if resource.get("resourceType") != wanted_type:
            found = resource.get("resourceType")
            return Verdict(False, expected, f"a {found}, not a {wanted_type}")
    else:
        raise AssertError(f"Profile {url} is not known to forlop's validator.")
    unique: list[Issue] = list(dict.fromkeys(issues))
    if not unique:
        return Verdict(True, expected, "valid")
    return Verdict(False, expected, describe_issues(unique))


def _minimum(fixture_id: str, source: Source, ctx: AssertContext) -> Verdict:
    minimum = ctx.source(fixture_id, "response")
    expected = f"at least the content of fixture {fixture_id}"
    if minimum.resource is None:
        raise AssertError(f"Fixture {fixture_id} has no FHIR content to compare with.")
    if source.resource is None:
        return Verdict(False, expected, _no_body(source))
    wanted = ctx.variables.substitute_in(minimum.resource)
    missing = differences(wanted, source.resource, str(wanted.get("resourceType", "")))
    if not missing:
        return Verdict(True, expected, "all of it is there")
    shown_missing = "; ".join(missing[:5]) + (
        f"; and {len(missing) - 5} more" if len(missing) > 5 else ""
    )
    return Verdict(False, expected, shown_missing)


def _equal_primitive(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def differences(expected: Any, actual: Any, path: str) -> list[str]:
    """What of ``expected`` is not in ``actual`` (objects: every key; lists: every item somewhere,
    in any order; primitives: equal values), as FHIRPath-like locations."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path} is not an element"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key} is missing")
            else:
                found += differences(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            actual = [actual]
        remaining = list(actual)
        found = []
        for i, item in enumerate(expected):
            match = next((c for c in remaining if not differences(item, c, path)), None)
            if match is None:
                found.append(f"{path}[{i}] has no match")
            else:
                remaining.remove(match)
        return found
    if not _equal_primitive(expected, actual):
        return [f"{path} is {actual!r}, not {expected!r}"]
    return []
