"""Norwegian identifiers inside FHIR resources: found everywhere, reported without the number."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapter.domain.identifiers import synthetic_fnr
from adapter.fhir.errors import Code
from adapter.validation.identifiers import (
    DNR_SYSTEM,
    FNR_SYSTEM,
    HPR_SYSTEM,
    ORGNR_SYSTEM,
    mask,
    validate_identifiers,
)

FNR = synthetic_fnr(date(1938, 3, 15), 0)  # 15833800024
BAD_FNR = FNR[:-1] + str((int(FNR[-1]) + 1) % 10)


def _ident(system: str, value: str) -> dict[str, Any]:
    return {"system": system, "value": value}


def test_valid_identifiers_pass() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [_ident(FNR_SYSTEM, FNR), _ident("http://example.org/mrn", "123")],
        "generalPractitioner": [{"identifier": _ident(HPR_SYSTEM, "9144889")}],
        "managingOrganization": {"identifier": _ident(ORGNR_SYSTEM, "974760673")},
    }
    assert validate_identifiers(patient) == []


def test_bad_fnr_reported_with_masked_value() -> None:
    patient = {"resourceType": "Patient", "identifier": [_ident(FNR_SYSTEM, BAD_FNR)]}
    [issue] = validate_identifiers(patient)
    assert issue.forlop_code is Code.FNR_INVALID
    assert issue.expression == ("Patient.identifier[0].value",)
    assert "control digit" in issue.diagnostics
    assert BAD_FNR not in issue.diagnostics
    assert BAD_FNR[:9] not in issue.diagnostics
    assert mask(BAD_FNR) in issue.diagnostics
    assert mask(BAD_FNR) == "*********" + BAD_FNR[-2:]


@pytest.mark.parametrize(
    ("system", "value", "code", "words"),
    [
        (FNR_SYSTEM, "1583380002", Code.FNR_INVALID, "number of digits"),
        (FNR_SYSTEM, "15833800o24", Code.FNR_INVALID, "digits only"),
        (FNR_SYSTEM, "55833800024", Code.FNR_INVALID, "D-number"),
        (DNR_SYSTEM, FNR, Code.DNR_INVALID, "birth date"),
        (ORGNR_SYSTEM, "974760674", Code.ORGNR_INVALID, "control digit"),
        (ORGNR_SYSTEM, "97476067", Code.ORGNR_INVALID, "number of digits"),
        (HPR_SYSTEM, "1234567890", Code.HPR_INVALID, "number of digits"),
        (HPR_SYSTEM, "12-34", Code.HPR_INVALID, "digits only"),
    ],
)
def test_each_system_checked(system: str, value: str, code: Code, words: str) -> None:
    practitioner = {"resourceType": "Practitioner", "identifier": [_ident(system, value)]}
    [issue] = validate_identifiers(practitioner)
    assert issue.forlop_code is code
    assert issue.expression == ("Practitioner.identifier[0].value",)
    assert words in issue.diagnostics
    if len(value) > 4:
        assert value not in issue.diagnostics


def test_nested_contained_and_bundle_identifiers() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "identifier": [_ident(FNR_SYSTEM, FNR)]}},
            {
                "resource": {
                    "resourceType": "Goal",
                    "lifecycleStatus": "active",
                    "subject": {"identifier": _ident(FNR_SYSTEM, BAD_FNR)},
                    "contained": [
                        {
                            "resourceType": "Organization",
                            "identifier": [_ident(ORGNR_SYSTEM, "123")],
                        }
                    ],
                }
            },
        ],
    }
    found = {(i.forlop_code, i.expression) for i in validate_identifiers(bundle)}
    assert found == {
        (Code.FNR_INVALID, ("Bundle.entry[1].resource.subject.identifier.value",)),
        (Code.ORGNR_INVALID, ("Bundle.entry[1].resource.contained[0].identifier[0].value",)),
    }


def test_malformed_identifiers_are_left_to_structure() -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": FNR_SYSTEM, "value": 15833800024}, {"system": 5}, "x"],
    }
    assert validate_identifiers(patient) == []


def test_mask_short_values() -> None:
    assert mask("") == ""
    assert mask("12") == "**"
    assert mask("123") == "*23"
