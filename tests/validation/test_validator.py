"""The validation passes together: order, nesting, and foreign Questionnaires."""

from __future__ import annotations

from adapter.fhir.errors import Code
from adapter.validation.validator import validate

RESPONSE = {
    "resourceType": "QuestionnaireResponse",
    "status": "completed",
    "subject": {"reference": "Patient/p1"},
}


def test_response_to_an_unknown_foreign_questionnaire_is_a_warning() -> None:
    issues = validate({**RESPONSE, "questionnaire": "http://example.org/Questionnaire/x"})
    assert [(i.severity, i.forlop_code) for i in issues] == [
        ("warning", Code.QR_QUESTIONNAIRE_UNKNOWN)
    ]


def test_response_to_an_unknown_questionnaire_of_ours_is_an_error() -> None:
    issues = validate({**RESPONSE, "questionnaire": "http://forlop.no/fhir/Questionnaire/nope"})
    assert [(i.severity, i.forlop_code) for i in issues] == [
        ("error", Code.QR_QUESTIONNAIRE_UNKNOWN)
    ]


def test_issues_inside_a_bundle_point_into_the_entry() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:6b1f0c3e-8d2a-4f47-9a55-0f0e8c1d2b7a",
                "resource": {**RESPONSE, "questionnaire": "http://forlop.no/fhir/Questionnaire/x"},
            }
        ],
    }
    issues = validate(bundle)
    assert [i.expression for i in issues if i.forlop_code is Code.QR_QUESTIONNAIRE_UNKNOWN] == [
        ("Bundle.entry[0].resource.questionnaire",)
    ]


def test_structure_errors_stop_before_profile_passes() -> None:
    issues = validate({"resourceType": "Goal", "lifecycleStatuss": "active"})
    assert {i.forlop_code for i in issues} <= {
        Code.UNKNOWN_ELEMENT,
        Code.REQUIRED_MISSING,
    }
    assert any(i.forlop_code is Code.UNKNOWN_ELEMENT for i in issues)
