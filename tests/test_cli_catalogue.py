"""The catalogue of bad inputs (``fixtures/bad/``) through the real ``forlop`` command line.

``forlop validate --format json`` must exit 1 on every FHIR case and print an OperationOutcome
holding the expected issues (forlop code in ``details.coding``, FHIRPath in ``expression``);
``forlop map psfs`` / ``map path`` must exit 1 on every domain case, print nothing on standard
output, and name the JSON path and forlop code of the fault. All good fixtures together pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapter.cli import app
from adapter.fhir.errors import ISSUE_CODE_SYSTEM
from tests.fixtures_support import FIXTURES, load

runner = CliRunner()

EXPECTED: dict[str, Any] = load(FIXTURES / "bad" / "expected.json")
# Paths relative to fixtures/ (the working directory of every test): rich wraps stderr at 80
# columns, and short paths keep each finding's expression on the line that names the file.
FHIR_CASES = sorted(Path("bad", n) for n, e in EXPECTED.items() if e["command"] == "validate")
DOMAIN_CASES = sorted(Path("bad", n) for n, e in EXPECTED.items() if e["command"] != "validate")
GOOD = sorted(p.relative_to(FIXTURES) for p in FIXTURES.glob("pathways/*/fhir/*.json"))


@pytest.fixture(autouse=True)
def _in_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)


def rendered_match(expected: dict[str, Any], issue: dict[str, Any]) -> bool:
    """Whether an OperationOutcome.issue (JSON) is the expected catalogue issue."""
    codings = issue.get("details", {}).get("coding", [])
    where = expected["expression"]
    return (
        issue["severity"] == expected["severity"]
        and issue["code"] == expected["code"]
        and {"system": ISSUE_CODE_SYSTEM, "code": expected["forlop"]} in codings
        and bool(issue.get("diagnostics"))
        and (
            where in issue.get("expression", []) if where is not None else "expression" not in issue
        )
    )


def errors_of(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in outcome["issue"] if i["severity"] in ("fatal", "error")]


def test_the_catalogue_has_cases_for_both_kinds_of_command() -> None:
    assert FHIR_CASES and DOMAIN_CASES and GOOD
    assert all(path.exists() for path in FHIR_CASES + DOMAIN_CASES + GOOD)


@pytest.mark.parametrize("case", FHIR_CASES, ids=[c.name for c in FHIR_CASES])
def test_validate_json_refuses_the_case_with_its_issues(case: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "json", str(case)])
    assert result.exit_code == 1, result.output
    outcome = json.loads(result.stdout)
    assert outcome["resourceType"] == "OperationOutcome"
    for expected in EXPECTED[case.name]["issues"]:
        assert any(rendered_match(expected, i) for i in outcome["issue"]), (
            f"{expected} not in {json.dumps(outcome['issue'], ensure_ascii=False, indent=1)}"
        )


@pytest.mark.parametrize("case", DOMAIN_CASES, ids=[c.name for c in DOMAIN_CASES])
def test_map_refuses_the_domain_case_naming_the_json_path(case: Path) -> None:
    entry = EXPECTED[case.name]
    result = runner.invoke(app, [*entry["command"].split(), str(case)])
    assert result.exit_code == 1, result.output
    assert result.stdout == "", "nothing is mapped when the input has errors"
    for expected in entry["issues"]:
        assert f"{expected['expression']}:" in result.output
        assert f"({expected['forlop']})" in result.output
    assert "Traceback" not in result.output


def test_validate_text_names_every_fhir_case_invalid_in_one_run() -> None:
    result = runner.invoke(app, ["validate", *map(str, FHIR_CASES)])
    assert result.exit_code == 1
    for case in FHIR_CASES:
        assert f"{case}: invalid" in result.output, case.name
    assert "Traceback" not in result.output


def test_validate_passes_all_good_fixtures_together() -> None:
    result = runner.invoke(app, ["validate", "--format", "json", *map(str, GOOD)])
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.stdout)
    assert len(outcomes) == len(GOOD)
    assert all(o["resourceType"] == "OperationOutcome" and not errors_of(o) for o in outcomes)


def test_one_bad_case_among_good_fixtures_fails_the_run_at_its_position() -> None:
    case = Path("bad", "prof-psfs-goal-target-11.json")
    files = [*GOOD[:2], case, *GOOD[2:4]]
    result = runner.invoke(app, ["validate", "--format", "json", *map(str, files)])
    assert result.exit_code == 1
    outcomes = json.loads(result.stdout)
    assert [bool(errors_of(o)) for o in outcomes] == [False, False, True, False, False]
    for expected in EXPECTED[case.name]["issues"]:
        assert any(rendered_match(expected, i) for i in outcomes[2]["issue"])


def test_validate_text_keeps_brackets_in_diagnostics() -> None:
    result = runner.invoke(app, ["validate", "bad/struct-two-value-x.json"])
    assert result.exit_code == 1
    assert "Observation.value[x] takes one type only" in " ".join(result.output.split())
