"""Search request parsing: typed terms, result parameters, and precise 400s."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapter.fhir.errors import Code, FhirError
from adapter.search.parser import MAX_COUNT, parse_search
from adapter.search.query import (
    Clause,
    DateTerm,
    Include,
    ReferenceTerm,
    SortKey,
    StringTerm,
    TextTerm,
    TokenTerm,
)
from adapter.search.values import date_range


def clause(resource_type: str | None, name: str, value: str) -> Clause:
    parsed = parse_search(resource_type, [(name, value)])
    assert parsed.unknown == ()
    (only,) = parsed.query.clauses
    return only


def test_token_forms() -> None:
    assert clause("Observation", "code", "x").terms == (TokenTerm("x"),)
    assert clause("Observation", "code", "s|x").terms == (TokenTerm("x", "s", True),)
    assert clause("Observation", "code", "|x").terms == (TokenTerm("x", None, True),)
    assert clause("Observation", "code", "s|").terms == (TokenTerm(None, "s", True),)
    assert clause("Observation", "code", r"a\,b,c").terms == (TokenTerm("a,b"), TokenTerm("c"))
    assert clause("Observation", "code:text", "Skår").terms == (TextTerm("skar"),)
    assert clause("Goal", "lifecycle-status:not", "active").modifier == "not"
    missing = clause("Goal", "achievement-status:missing", "true")
    assert missing.missing is True and missing.terms == ()


def test_reference_forms() -> None:
    assert clause("CarePlan", "patient", "p1").terms == (ReferenceTerm(None, "p1"),)
    assert clause("CarePlan", "subject:Patient", "p1").terms == (ReferenceTerm("Patient", "p1"),)
    assert clause("CarePlan", "goal", "Goal/g1/_history/2").terms == (ReferenceTerm("Goal", "g1"),)
    url = "http://forlop.no/fhir/Questionnaire/psfs|1.0.0"
    assert clause("QuestionnaireResponse", "questionnaire", url).terms == (ReferenceTerm(url=url),)


def test_dates_strings_and_specials() -> None:
    low, high = date_range("2024-03")
    assert clause("Observation", "date", "ge2024-03").terms == (DateTerm("ge", low, high),)
    assert clause("Patient", "name", "ÅSE").terms == (StringTerm("ase"),)
    assert clause("Patient", "name:exact", "Åse").terms == (StringTerm("Åse"),)
    assert clause("Patient", "_id", "a,b").kind == "id"
    assert clause(None, "_lastUpdated", "gt2024").kind == "lastUpdated"


def test_approximate_dates_widen_with_distance_from_today() -> None:
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    near = parse_search("Observation", [("date", "ap2025-02-28")], now=now).query.clauses[0]
    far = parse_search("Observation", [("date", "ap2015-03-01")], now=now).query.clauses[0]
    near_term, far_term = near.terms[0], far.terms[0]
    assert isinstance(near_term, DateTerm) and isinstance(far_term, DateTerm)
    low, high = date_range("2015-03-01")
    assert far_term.low < low - 300 * 86_400_000_000 and far_term.high > high
    assert near_term.high - near_term.low < 2 * 86_400_000_000


def test_result_parameters() -> None:
    query = parse_search(
        "CarePlan",
        [
            ("_count", "5"),
            ("_sort", "-date,_id"),
            ("_total", "accurate"),
            ("_include", "CarePlan:goal"),
            ("_include:iterate", "Goal:patient:Patient"),
            ("_revinclude", "Observation:focus"),
            ("_cursor", "abc"),
        ],
    ).query
    assert query.count == 5 and query.total == "accurate" and query.cursor == "abc"
    assert query.sort == (SortKey("date", "date", True), SortKey("_id", "id"))
    assert query.includes == (
        Include("CarePlan", "goal"),
        Include("Goal", "patient", "Patient", iterate=True),
    )
    assert query.revincludes == (Include("Observation", "focus"),)
    assert parse_search("Goal", [("_count", "100000")]).query.count == MAX_COUNT


def test_unknown_names_are_reported_not_refused() -> None:
    parsed = parse_search("Goal", [("colour", "red"), ("_summary", "true"), ("patient", "p")])
    assert parsed.unknown == ("colour", "_summary")
    assert [c.code for c in parsed.query.clauses] == ["patient"]
    assert parse_search(None, [("patient", "p")]).unknown == ("patient",)


def test_system_search_with_types_uses_shared_parameters() -> None:
    query = parse_search(None, [("_type", "CarePlan,Goal"), ("patient", "p")]).query
    assert query.types == ("CarePlan", "Goal") and query.clauses[0].code == "patient"


@pytest.mark.parametrize(
    ("resource_type", "name", "value", "expression"),
    [
        ("Observation", "date", "yesterday", "date"),
        ("Observation", "date", "ge2024-13", "date"),
        ("Goal", "achievement-status:missing", "maybe", "achievement-status:missing"),
        ("Goal", "patient", "Patient/", "patient"),
        ("Goal", "patient", "not an id", "patient"),
        ("CarePlan", "subject:Observation", "x", "subject:Observation"),
        ("Goal", "patient", "a,,b", "patient"),
        ("Observation", "code", "|", "code"),
        ("Patient", "name", "  ", "name"),
        ("Goal", "_count", "-1", "_count"),
        ("Goal", "_count", "ten", "_count"),
        ("Goal", "_total", "some", "_total"),
        ("Goal", "_sort", "description", "_sort"),
        ("Goal", "_sort", "patient", "_sort"),
        ("Goal", "_include", "CarePlan:goal", "_include"),
        ("Goal", "_include", "Goal:lifecycle-status", "_include"),
        ("Goal", "_include", "Goal", "_include"),
        ("Goal", "_revinclude", "CarePlan:goal:Patient", "_revinclude"),
        ("Goal", "_type", "Goal", "_type"),
        (None, "_type", "Nonsense", "_type"),
        ("Goal", "_id:missing", "true", "_id:missing"),
    ],
)
def test_malformed_values_are_400_naming_the_parameter(
    resource_type: str | None, name: str, value: str, expression: str
) -> None:
    with pytest.raises(FhirError) as excinfo:
        parse_search(resource_type, [(name, value)])
    assert excinfo.value.status == 400
    (issue,) = excinfo.value.issues
    assert issue.expression == (expression,)
    assert issue.forlop_code == Code.SEARCH_INVALID


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("code:below", "x"),
        ("code:in", "http://vs"),
        ("patient:identifier", "s|v"),
        ("patient.name", "x"),
        ("_has:Observation:focus:status", "final"),
        ("date:exact", "2024"),
    ],
)
def test_unsupported_features_are_said_so(name: str, value: str) -> None:
    with pytest.raises(FhirError) as excinfo:
        parse_search("Observation", [(name, value)])
    assert excinfo.value.status == 400
    assert excinfo.value.issues[0].code == "not-supported"


def test_unknown_type_is_404() -> None:
    with pytest.raises(FhirError) as excinfo:
        parse_search("Nonsense", [])
    assert excinfo.value.status == 404


def test_count_refuses_non_ascii_digits() -> None:
    with pytest.raises(FhirError) as caught:
        parse_search("Goal", [("_count", "²")])
    assert caught.value.status == 400
