"""The catalogue of bad inputs (``fixtures/bad/``): each one is refused with the issue it documents.

Every file holds one deliberate fault; ``fixtures/bad/expected.json`` names the command that must
refuse it and the OperationOutcome issues that must appear (severity, FHIR issue type, forlop code
and the FHIRPath or JSON path of the faulty element). Wire cases must fail in the parser with the
given HTTP status; every other case must parse and then fail in the validator or the domain
mapping. The good pathway fixtures must still validate clean, so the catalogue does not pass by
rejecting everything.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.errors import Code, FhirError, Issue
from adapter.fhir.wire import read_resource
from adapter.mapping.domain_json import checklist_from_json, series_from_json
from adapter.mapping.path_response import checklist_to_response
from adapter.mapping.psfs import series_to_bundle
from adapter.registry import default_registry
from adapter.validation.validator import validate
from tests.fixtures_support import FIXTURES, load

BAD = FIXTURES / "bad"
EXPECTED: dict[str, Any] = load(BAD / "expected.json")
CASES = sorted(
    p for p in BAD.iterdir() if p.suffix in (".json", ".xml") and p != BAD / "expected.json"
)
GOOD = sorted(FIXTURES.glob("pathways/*/fhir/*.json"))
COMMANDS = ("validate", "map psfs", "map path")
GROUPS = ("wire", "struct", "term", "inv", "id", "prof", "qr", "domain")
ISSUE_TYPES = "http://hl7.org/fhir/ValueSet/issue-type|4.0.1"


def refuse(data: dict[str, Any], command: str) -> list[Issue]:
    """The issues ``command`` reports on parsed input (what ``forlop validate`` / ``map`` run)."""
    if command == "validate":
        return validate(data)
    try:
        if command == "map psfs":
            series_to_bundle(*series_from_json(data))
        else:
            checklist_to_response(checklist_from_json(data))
    except FhirError as error:
        assert error.status == 422, "the domain mapping refuses content with 422"
        return list(error.issues)
    return []


def matches(expected: dict[str, Any], issue: Issue) -> bool:
    where = expected["expression"]
    return (
        issue.severity == expected["severity"]
        and issue.code == expected["code"]
        and issue.forlop_code is not None
        and issue.forlop_code.value == expected["forlop"]
        and (where in issue.expression if where is not None else not issue.expression)
    )


def missing(expected: list[dict[str, Any]], issues: list[Issue]) -> list[dict[str, Any]]:
    return [e for e in expected if not any(matches(e, i) for i in issues)]


def shown(issues: list[Issue]) -> str:
    return "\n".join(
        f"  {i.severity} {i.code} {i.forlop_code} {list(i.expression)}: {i.diagnostics}"
        for i in issues
    )


def test_the_catalogue_covers_every_group_with_enough_cases() -> None:
    assert len(CASES) >= 40
    for group in GROUPS:
        assert any(c.name.startswith(f"{group}-") for c in CASES), group
    assert all(c.name.split("-")[0] in GROUPS for c in CASES)


def test_every_case_has_an_expected_entry_and_every_entry_a_case() -> None:
    files = {c.name for c in CASES}
    assert sorted(files - EXPECTED.keys()) == []
    assert sorted(EXPECTED.keys() - files) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_entry_is_well_formed(name: str) -> None:
    entry = EXPECTED[name]
    issue_types = {
        c["code"] for c in default_registry().require(ISSUE_TYPES)["expansion"]["contains"]
    }
    assert entry["command"] in COMMANDS
    assert entry["command"].startswith("map") == name.startswith("domain-")
    assert ("status" in entry) == name.startswith("wire-")
    assert set(entry) <= {"command", "status", "issues"}
    assert entry["issues"], "a case must name at least one issue"
    for issue in entry["issues"]:
        assert set(issue) == {"severity", "code", "forlop", "expression"}
        assert issue["severity"] in ("fatal", "error")
        assert issue["code"] in issue_types
        assert Code(issue["forlop"])
        assert issue["expression"] is None or issue["expression"].strip()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_is_refused_with_its_expected_issues(case: Path) -> None:
    entry = EXPECTED[case.name]
    body = case.read_bytes()
    if "status" in entry:
        with pytest.raises(FhirError) as raised:
            read_resource(body)
        assert raised.value.status == entry["status"]
        issues = list(raised.value.issues)
    else:
        issues = refuse(read_resource(body), entry["command"])
    assert any(i.is_error for i in issues), f"{case.name} was accepted"
    lost = missing(entry["issues"], issues)
    assert not lost, f"{case.name}: expected {lost}\nbut got:\n{shown(issues)}"
    for issue in issues:
        assert issue.diagnostics.strip() and "Traceback" not in issue.diagnostics


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_diagnostics_never_repeat_a_person_number(case: Path) -> None:
    numbers = set(re.findall(rb"(?<![0-9])[0-9]{11}(?![0-9])", case.read_bytes()))
    entry = EXPECTED[case.name]
    try:
        issues = refuse(read_resource(case.read_bytes()), entry["command"])
    except FhirError as error:
        issues = list(error.issues)
    for issue in issues:
        assert not any(n.decode() in issue.diagnostics for n in numbers), issue.diagnostics


@pytest.mark.parametrize("path", GOOD, ids=[str(p.relative_to(FIXTURES)) for p in GOOD])
def test_good_fixture_validates_clean(path: Path) -> None:
    errors = [i for i in validate(read_resource(path.read_bytes())) if i.is_error]
    assert not errors, shown(errors)


def test_there_are_good_fixtures_to_compare_with() -> None:
    assert len(GOOD) >= 9


def test_readme_lists_every_case_with_its_forlop_codes() -> None:
    rows = {
        match.group(1): line
        for line in (BAD / "README.md").read_text(encoding="utf-8").splitlines()
        if (match := re.match(r"\| `([^`]+)` \|", line))
    }
    assert sorted(rows) == sorted(c.name for c in CASES)
    for name, line in rows.items():
        codes = set(re.findall(r"FORLOP-[A-Z]+-[0-9]+", line.rsplit("|", 2)[1]))
        assert codes == {i["forlop"] for i in EXPECTED[name]["issues"]}, name


# The fault is the only one: repaired, a case passes; moved across the boundary, it is refused at
# the same place. Checked on the two score cases, the catalogue's most common kind of fault.

PSFS_SCORE_CASE = load(BAD / "qr-psfs-score-11.json")
PSFS_SCORE_ISSUE = EXPECTED["qr-psfs-score-11.json"]["issues"]
DOMAIN_SCORE_CASE = load(BAD / "domain-psfs-score-12.json")
DOMAIN_SCORE_ISSUE = EXPECTED["domain-psfs-score-12.json"]["issues"]


def _with_qr_score(score: int) -> dict[str, Any]:
    response = copy.deepcopy(PSFS_SCORE_CASE)
    response["item"][1]["item"][2]["answer"][0]["valueInteger"] = score
    return response


def _with_domain_score(score: int) -> dict[str, Any]:
    document = copy.deepcopy(DOMAIN_SCORE_CASE)
    document["assessments"][0]["activities"][1]["score"] = score
    return document


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10))
def test_a_psfs_response_with_the_score_repaired_is_valid(score: int) -> None:
    assert not [i for i in validate(_with_qr_score(score)) if i.is_error]


@settings(max_examples=15, deadline=None)
@given(st.integers(11, 2**31 - 1))
def test_any_psfs_response_score_above_ten_is_refused_at_the_same_answer(score: int) -> None:
    assert not missing(PSFS_SCORE_ISSUE, validate(_with_qr_score(score)))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10))
def test_a_psfs_document_with_the_score_repaired_maps(score: int) -> None:
    assert refuse(_with_domain_score(score), "map psfs") == []


@settings(max_examples=15, deadline=None)
@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=11)))
def test_any_psfs_document_score_outside_0_to_10_is_refused_at_the_same_path(score: int) -> None:
    assert not missing(DOMAIN_SCORE_ISSUE, refuse(_with_domain_score(score), "map psfs"))
