"""Compiled search expressions and the index rows they produce."""

from __future__ import annotations

import pytest

from adapter.fhir.errors import Code, FhirError
from adapter.search.index import DateRow, ReferenceRow, StringRow, TokenRow
from adapter.search.parameters import SearchParameter, SearchParameters
from adapter.search.values import DATE_MAX, DATE_MIN, date_range
from adapter.store.extractors import compile_expression
from adapter.store.indexing import Indexer, compile_parameter, default_indexer


def test_choice_elements_expand_and_as_picks_one() -> None:
    paths = compile_expression("Observation.effective", "Observation")
    assert {p.keys[0] for p in paths} == {
        "effectiveDateTime",
        "effectivePeriod",
        "effectiveTiming",
        "effectiveInstant",
    }
    (start,) = compile_expression("(Goal.start as date)", "Goal")
    assert start.keys == ("startDate",) and start.leaf == "date"
    (value,) = compile_expression("Observation.value.as(CodeableConcept)", "Observation")
    assert value.keys == ("valueCodeableConcept",)


def test_branches_about_other_types_compile_to_nothing() -> None:
    assert compile_expression("Goal.subject | CarePlan.subject", "Goal")[0].keys == ("subject",)
    assert compile_expression("CarePlan.subject", "Goal") == []
    (meta,) = compile_expression("Resource.meta.lastUpdated", "Goal")
    assert meta.keys == ("meta", "lastUpdated") and meta.leaf == "instant"


@pytest.mark.parametrize(
    "expression",
    [
        "Goal.subject.exists()",
        "Goal.target.where(measure.exists())",
        "ActivityDefinition.relatedArtifact.where(type='predecessor').resource",
        "Goal.nonsense",
        "Goal.lifecycleStatus.foo",
        "Goal.subject.where(resolve() is Patient).display",
        "Goal.description.where(resolve() is Patient)",
        "(Goal.start as Quantity)",
        "Goal.subject + 1",
        "(Goal.subject | Goal.expressedBy)",
    ],
)
def test_expressions_outside_the_subset_are_refused(expression: str) -> None:
    with pytest.raises(FhirError) as excinfo:
        compile_expression(expression, "Goal")
    assert excinfo.value.issues[0].forlop_code == Code.SEARCH_EXPRESSION_UNSUPPORTED


def test_a_parameter_of_the_wrong_type_for_its_element_is_refused() -> None:
    parameter = SearchParameter("http://x", "x", "date", ("Goal",), "Goal.subject")
    with pytest.raises(FhirError, match="cannot index Reference"):
        compile_parameter(parameter, "Goal")
    bad = {
        "resourceType": "SearchParameter",
        "url": "http://y",
        "code": "y",
        "base": ["Goal"],
        "type": "token",
        "expression": "Goal.nothing",
    }
    with pytest.raises(FhirError):
        Indexer(SearchParameters.from_resources([bad]))


def test_token_rows() -> None:
    index = default_indexer().index(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {
                "coding": [{"system": "http://s", "code": "c", "display": "Skår"}],
                "text": "PSFS  aktivitet",
            },
            "identifier": [{"system": "urn:x", "value": "1"}, {"system": "urn:x"}],
            "meta": {"tag": [{"system": "t", "code": "x"}]},
        }
    )
    assert set(index.tokens) == {
        TokenRow("code", "http://s", "c", "skar"),
        TokenRow("code", None, None, "psfs aktivitet"),
        TokenRow("status", None, "final"),
        TokenRow("identifier", "urn:x", "1"),
        TokenRow("_tag", "t", "x"),
    }


def test_reference_rows() -> None:
    index = default_indexer().index(
        {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "questionnaire": "http://forlop.no/fhir/Questionnaire/psfs|1.0.0",
            "subject": {"reference": "Patient/p1/_history/3"},
            "author": {"reference": "https://other.no/fhir/Practitioner/9"},
            "source": {"reference": "#contained"},
            "basedOn": [{"identifier": {"value": "no literal"}}],
        }
    )
    assert set(index.references) == {
        ReferenceRow("questionnaire", None, None, "http://forlop.no/fhir/Questionnaire/psfs|1.0.0"),
        ReferenceRow("subject", "Patient", "p1", "Patient/p1"),
        ReferenceRow("patient", "Patient", "p1", "Patient/p1"),
        ReferenceRow("author", None, None, "https://other.no/fhir/Practitioner/9"),
    }
    group = default_indexer().index(
        {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "x"},
            "subject": {"reference": "Group/g"},
        }
    )
    assert {r.param for r in group.references} == {"subject"}  # patient needs resolve() is Patient


def test_date_rows() -> None:
    index = default_indexer().index(
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p"},
            "period": {"start": "2024-03-01"},
        }
    )
    assert index.dates == [DateRow("date", date_range("2024-03-01")[0], DATE_MAX)]
    timing = default_indexer().index(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "effectiveTiming": {
                "event": ["2024-01-01", "not a date"],
                "repeat": {"boundsPeriod": {"end": "2024-02"}},
            },
        }
    )
    assert timing.dates_of("date") == [
        DateRow("date", *date_range("2024-01-01")),
        DateRow("date", DATE_MIN, date_range("2024-02")[1]),
    ]


def test_string_rows() -> None:
    index = default_indexer().index(
        {
            "resourceType": "Patient",
            "name": [{"family": "Ås", "given": ["Kari", "Mette"], "text": "Kari Mette Ås"}],
        }
    )
    assert set(index.strings_of("name")) == {
        StringRow("name", "as", "Ås"),
        StringRow("name", "kari", "Kari"),
        StringRow("name", "mette", "Mette"),
        StringRow("name", "kari mette as", "Kari Mette Ås"),
    }
    assert index.strings_of("family") == [StringRow("family", "as", "Ås")]
