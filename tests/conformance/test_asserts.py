"""Assert evaluation without a server: every kind of assert passes on the right input and fails on
the wrong one, and the operators keep their meaning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.conformance.asserts import (
    AssertContext,
    AssertError,
    Verdict,
    check,
    compare,
    differences,
)
from adapter.conformance.model import Assert, Variable
from adapter.conformance.results import HttpRequest, Source
from adapter.conformance.variables import VariableError, Variables
from adapter.registry import default_registry

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"versionId": "2"},
    "identifier": [{"system": FNR, "value": "02854120053"}],
    "name": [{"family": "Testrud", "given": ["Ingeborg"]}],
    "active": True,
}
RESPONSE = Source(
    "the response",
    PATIENT,
    {"content-type": "application/fhir+json; charset=utf-8", "etag": 'W/"2"'},
    200,
    "OK",
    "application/fhir+json; charset=utf-8",
)


def _context(
    sources: Mapping[str | None, Source] | None = None, request: HttpRequest | None = None
) -> AssertContext:
    table: dict[str | None, Source] = {None: RESPONSE, **(sources or {})}

    def source(fixture_id: str | None, direction: str) -> Source:
        if fixture_id not in table:
            raise VariableError(f"Fixture {fixture_id} has no value yet.")
        return table[fixture_id]

    variables = Variables(
        [Variable("family", default_value="Testrud"), Variable("pid", expression="Patient.id")],
        lambda fixture_id: source(fixture_id, "response"),
    )
    return AssertContext(
        source, variables, {"patient": FORLOP_PATIENT}, default_registry(), request
    )


FORLOP_PATIENT = "http://forlop.no/fhir/StructureDefinition/forlop-patient"


def _check(kind: str, context: AssertContext | None = None, **elements: Any) -> Verdict:
    return check(
        Assert(where="TestScript.test[0].action[0].assert", kind=kind, **elements),
        context or _context(),
    )


PASSING: dict[str, tuple[str, dict[str, Any]]] = {
    "response": ("response", {"response": "okay"}),
    "responseCode in": ("responseCode", {"response_code": "200,201", "operator": "in"}),
    "contentType shorthand": ("contentType", {"content_type": "json"}),
    "resource": ("resource", {"resource": "Patient"}),
    "header present": ("headerField", {"header_field": "ETag"}),
    "header value": ("headerField", {"header_field": "etag", "value": 'W/"2"'}),
    "expression true": ("expression", {"expression": "Patient.active"}),
    "expression equals": (
        "expression",
        {"expression": "Patient.name.family", "value": "${family}"},
    ),
    "expression with variable": ("expression", {"expression": "Patient.id = '${pid}'"}),
    "expression greaterThan": (
        "expression",
        {"expression": "Patient.meta.versionId", "operator": "greaterThan", "value": "1"},
    ),
    "expression empty": ("expression", {"expression": "Patient.telecom", "operator": "empty"}),
    "profile": ("validateProfileId", {"validate_profile_id": "patient"}),
}
FAILING: dict[str, tuple[str, dict[str, Any], str]] = {
    "response": ("response", {"response": "created"}, "200 OK"),
    "responseCode": ("responseCode", {"response_code": "404"}, "200 OK"),
    "contentType": ("contentType", {"content_type": "xml"}, "application/fhir+json"),
    "resource": ("resource", {"resource": "Goal"}, "Patient"),
    "header absent": ("headerField", {"header_field": "Location"}, "absent"),
    "header value": ("headerField", {"header_field": "ETag", "value": 'W/"1"'}, 'W/"2"'),
    "expression false": ("expression", {"expression": "Patient.active.not()"}, "'false'"),
    "expression equals": (
        "expression",
        {"expression": "Patient.name.given", "value": "Kari"},
        "'Ingeborg'",
    ),
    "expression two values": (
        "expression",
        {"expression": "Patient.name.given | 'Anna'", "value": "Ingeborg"},
        "['Ingeborg', 'Anna']",
    ),
}


@pytest.mark.parametrize("name", sorted(PASSING))
def test_asserts_pass_on_the_right_input(name: str) -> None:
    kind, elements = PASSING[name]
    verdict = _check(kind, **elements)
    assert verdict.passed, verdict


@pytest.mark.parametrize("name", sorted(FAILING))
def test_asserts_fail_on_the_wrong_input(name: str) -> None:
    kind, elements, actual = FAILING[name]
    verdict = _check(kind, **elements)
    assert not verdict.passed
    assert verdict.actual.startswith(actual), verdict


def test_a_status_failure_shows_what_the_outcome_said() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "Bad <fnr>",
                "expression": ["Patient.identifier[0]"],
            }
        ],
    }
    refused = Source("the response", outcome, {}, 422, "Unprocessable Entity")
    verdict = _check("response", _context({None: refused}), response="created")
    assert not verdict.passed
    assert verdict.expected == "the status is 201 (created)"
    assert verdict.actual == (
        "422 Unprocessable Entity: OperationOutcome: error invalid at Patient.identifier[0]: "
        "Bad <fnr>"
    )


def test_profile_validation_finds_errors_locally() -> None:
    wrong = dict(PATIENT, identifier=[{"system": FNR, "value": "02854120054"}])
    verdict = _check(
        "validateProfileId",
        _context({None: Source("r", wrong, {}, 200)}),
        validate_profile_id="patient",
    )
    assert not verdict.passed
    assert "FORLOP-ID-001" in verdict.actual
    without_name = {k: v for k, v in PATIENT.items() if k != "name"}
    verdict = _check(
        "validateProfileId",
        _context({None: Source("r", without_name, {}, 200)}),
        validate_profile_id="patient",
    )
    assert not verdict.passed
    assert "Patient.name" in verdict.actual


def test_an_unknown_profile_cannot_be_evaluated() -> None:
    context = _context()
    context = AssertContext(
        context.source,
        context.variables,
        {"x": "http://example.org/StructureDefinition/x"},
        context.registry,
        None,
    )
    with pytest.raises(AssertError, match="not known to forlop's validator"):
        _check("validateProfileId", context, validate_profile_id="x")


def test_minimum_content() -> None:
    minimum = Source("fixture min", {"resourceType": "Patient", "name": [{"family": "${family}"}]})
    more = Source("fixture more", {"resourceType": "Patient", "gender": "female"})
    context = _context({"min": minimum, "more": more})
    assert _check("minimumId", context, minimum_id="min").passed
    verdict = _check("minimumId", context, minimum_id="more")
    assert not verdict.passed
    assert verdict.actual == "Patient.gender is missing"


def test_compare_to_another_fixture() -> None:
    sent = Source("fixture sent", {"resourceType": "Patient", "name": [{"family": "Testrud"}]})
    context = _context({"sent": sent})
    same = {
        "expression": "Patient.name.family",
        "compare_to_source_id": "sent",
        "compare_to_source_expression": "Patient.name.family",
    }
    assert _check("expression", context, **same).passed
    assert not _check("expression", context, operator="notEquals", **same).passed
    other = dict(same, compare_to_source_expression="Patient.name.given")
    assert not _check("expression", context, **other).passed


def test_request_method_and_url() -> None:
    request = HttpRequest("PUT", "http://x/fhir/Patient/p1", {})
    context = _context(request=request)
    assert _check("requestMethod", context, request_method="put").passed
    assert not _check("requestMethod", context, request_method="post").passed
    assert _check(
        "requestURL", context, request_url="", value="Patient/p1", operator="contains"
    ).passed
    with pytest.raises(AssertError, match="No request"):
        _check("requestMethod", _context(), request_method="get")


def test_what_cannot_be_evaluated_is_an_error_not_a_failure() -> None:
    with pytest.raises(AssertError, match="Fixture nothing has no value"):
        _check("response", response="okay", source_id="nothing")
    with pytest.raises(AssertError, match="has no status"):
        _check(
            "response",
            _context({"f": Source("fixture f", PATIENT)}),
            response="okay",
            source_id="f",
        )
    with pytest.raises(AssertError, match="names no variable"):
        _check("expression", expression="Patient.id", value="${nope}")
    with pytest.raises(AssertError, match="FHIRPath"):
        _check("expression", expression="Patient.id.substring('x')", value="1")


def test_a_response_without_fhir_body_fails_the_assert() -> None:
    html = Source("the response", None, {}, 200, "OK", "text/html", "not FHIR: '<' unexpected")
    verdict = _check("resource", _context({None: html}), resource="Patient")
    assert not verdict.passed
    assert verdict.actual == "no FHIR body (not FHIR: '<' unexpected)"


# -- operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "operator", "expected", "result"),
    [
        (["7"], "equals", "7.0", True),
        (["7"], "equals", "7", True),
        (["a"], "equals", "A", False),
        ([], "equals", "", False),
        (["10"], "greaterThan", "9", True),
        (["2026-01-14"], "lessThan", "2026-04-15", True),
        (["b"], "lessThan", "a", False),
        (["201"], "in", "200, 201", True),
        (["404"], "notIn", "200,201", True),
        (["application/fhir+json"], "contains", "json", True),
        (["x", "y"], "contains", "y", True),
        ([], "empty", "", True),
        (["x"], "notEmpty", "", True),
    ],
)
def test_operators(values: list[str], operator: str, expected: str, result: bool) -> None:
    assert compare(values, operator, expected) is result


_texts = st.lists(st.sampled_from(["0", "7", "7.0", "10", "a", "ab", "", "2026-01-14"]), max_size=3)


@given(values=_texts, expected=st.sampled_from(["7", "a", "10", "0,7", "b"]))
def test_negated_operators_are_negations(values: list[str], expected: str) -> None:
    for positive, negative in (
        ("equals", "notEquals"),
        ("in", "notIn"),
        ("contains", "notContains"),
        ("empty", "notEmpty"),
    ):
        assert compare(values, negative, expected) is not compare(values, positive, expected)


def test_differences_name_what_is_missing() -> None:
    actual = {"a": [{"b": 1}, {"b": 2}], "c": True, "d": 1}
    assert differences({"a": [{"b": 2}, {"b": 1}]}, actual, "X") == []
    assert differences({"a": [{"b": 3}]}, actual, "X") == ["X.a[0] has no match"]
    assert differences({"c": 1}, actual, "X") == ["X.c is True, not 1"]
    assert differences({"d": True}, actual, "X") == ["X.d is 1, not True"]
    assert differences({"e": 1}, actual, "X") == ["X.e is missing"]
    assert differences({"a": [{"b": 1}, {"b": 1}]}, actual, "X") == ["X.a[1] has no match"]
