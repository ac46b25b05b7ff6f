"""The suites catch a server that is wrong: each fault shows up as a named failure in the console,
the JUnit XML and the HTML report, and ``forlop conformance run`` exits 1.

The wrong server is a proxy in front of a real forlop (:mod:`tests.conformance.wrong_server`): all
that is not faulted passes, so the failures found are exactly the faults.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapter.conformance.cli import app
from tests.conformance.wrong_server import Fault, WrongServer, not_found


def _without_entries(of_type: str) -> Any:
    def rewrite(bundle: dict[str, Any]) -> dict[str, Any]:
        entries = bundle.get("entry") or []
        bundle["entry"] = [e for e in entries if e["resource"]["resourceType"] != of_type]
        return bundle

    return rewrite


def _goal_damaged(goal: dict[str, Any]) -> dict[str, Any]:
    """A Goal that lost its category (psfs-goal requires it) and whose achievement was reset."""
    goal.pop("category", None)
    for coding in (goal.get("achievementStatus") or {}).get("coding") or []:
        coding["code"] = "in-progress"
    return goal


@dataclass(frozen=True)
class Case:
    suite: str
    script: str
    faults: tuple[Fault, ...]
    caught: frozenset[str]  # labels of the asserts that must fail


PATIENT_CREATE = r"/fhir/Patient"
PATIENT_INSTANCE = r"/fhir/Patient/[^/$]+"
CASES = {
    "wrong status codes": Case(
        "core",
        "core-patient-lifecycle",
        (
            Fault(
                "create answers 200 without Location",
                "POST",
                PATIENT_CREATE,
                status=200,
                drop_headers=("location",),
            ),
        ),
        frozenset({"patient-created-201", "patient-created-location"}),
    ),
    "missing resources": Case(
        "core",
        "core-patient-lifecycle",
        (
            Fault(
                "a stored Patient is not found",
                "GET",
                PATIENT_INSTANCE,
                status=404,
                answer=not_found("Patient is not known."),
            ),
            Fault(
                "a search misses the Patient",
                "GET",
                PATIENT_CREATE,
                rewrite=_without_entries("Patient"),
            ),
        ),
        frozenset({"patient-read-200", "patient-xml-200", "patient-search-one"}),
    ),
    "bad content type": Case(
        "core",
        "core-patient-lifecycle",
        (Fault("FHIR labelled text/html", None, r"/fhir/.*", content_type="text/html"),),
        frozenset({"patient-created-json", "patient-read-json", "patient-xml-content-type"}),
    ),
    "bad input accepted": Case(
        "robustness",
        "robustness-bodies",
        (
            Fault(
                "any Patient body accepted",
                "POST",
                PATIENT_CREATE,
                status=201,
                answer={"resourceType": "Patient", "id": "accepted"},
            ),
        ),
        frozenset(
            {
                "truncated-json-status",
                "truncated-json-outcome",
                "duplicate-key-status",
                "malformed-xml-status",
                "wrong-content-type-status",
                "unknown-element-status",
            }
        ),
    ),
    "care plan without goals, goals damaged": Case(
        "transitions",
        "transitions-programme",
        (
            Fault(
                "_include=CarePlan:goal includes nothing",
                "GET",
                r"/fhir/CarePlan",
                rewrite=_without_entries("Goal"),
            ),
            Fault(
                "Goals lose category and achievement",
                "GET",
                r"/fhir/Goal/[^/$]+",
                rewrite=_goal_damaged,
            ),
        ),
        frozenset(
            {
                "pull-goals-included",
                "baseline-goal-profile",
                "goal-shop-achieved",
                "goal-shop-profile",
            }
        ),
    ),
}


def _failed_labels(junit: Path) -> set[str]:
    """Labels ("[label]") named in the JUnit failure texts."""
    root = ET.parse(junit).getroot()
    labels: set[str] = set()
    for failure in root.iter("failure"):
        for line in (failure.text or "").splitlines():
            if "[" in line:
                labels.add(line.split("[", 1)[1].split("]", 1)[0])
    return labels


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_fault_is_a_named_failure(name: str, wrong: WrongServer, tmp_path: Path) -> None:
    case = CASES[name]
    wrong.faults = list(case.faults)
    junit, html = tmp_path / "junit.xml", tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--base-url",
            wrong.base_url,
            "--suite",
            case.suite,
            "--script",
            case.script,
            "--junit",
            str(junit),
            "--html",
            str(html),
        ],
    )
    assert result.exit_code == 1, result.output
    failed = _failed_labels(junit)
    assert case.caught <= failed, f"not caught: {case.caught - failed}"
    page = html.read_text()
    for label in case.caught:
        assert f"<span class='where'>{label}</span>" in page
    assert page.count('<tr class="row-fail">') >= len(case.caught)
    for label in case.caught:
        assert label in result.output


def test_without_faults_the_proxy_passes(wrong: WrongServer, tmp_path: Path) -> None:
    """The faults above are the only reason for those failures: the bare proxy is transparent."""
    result = CliRunner().invoke(
        app, ["run", "--base-url", wrong.base_url, "--script", "core-patient-lifecycle"]
    )
    assert result.exit_code == 0, result.output
