"""The fixture resources: valid where they should be, broken exactly where the robustness suite
says, synthetic, and cleaned up completely by the transitions teardown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from adapter.conformance import default_root, load_fixture
from adapter.domain.identifiers import is_synthetic_fnr
from adapter.fhir.json_codec import parse_json
from adapter.mapping.psfs import extract
from adapter.validation.validator import validate

ROOT = default_root()
# Fixtures whose faults are the point: each robustness input, and the core suite's own.
BROKEN = {
    "core/batch-mixed.json",
    "core/patient-liv-wrong-fnr.json",
    "robustness/goal-target-11.json",
    "robustness/patient-duplicate-key.json",
    "robustness/patient-invalid-fnr.json",
    "robustness/patient-misspelt-element.json",
    "robustness/patient-misspelt-type.json",
    "robustness/patient-truncated.json",
    "robustness/patient-unclosed.xml",
    "robustness/patient-wrong-json-type.json",
    "robustness/psfs-score-11.json",
    "robustness/transaction-one-bad-entry.json",
}
FILES = sorted(ROOT.glob("*/fixtures/*"))


def _with_ids(text: str) -> Any:
    """Parsed, with every ${variable} given an id as a server would assign it."""
    return parse_json(re.sub(r"\$\{[^}]+\}", "id-1", text))


def _name(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.name}"


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_fixtures_are_valid_unless_broken_on_purpose(path: Path) -> None:
    fixture = load_fixture(path, path.stem)
    if fixture.resource is None:
        assert _name(path) in BROKEN, fixture.note
        return
    errors = [i for i in validate(_with_ids(path.read_text())) if i.is_error]
    if _name(path) in BROKEN:
        assert errors, f"{_name(path)} is meant to be invalid"
    else:
        assert errors == [], errors


def test_every_person_number_is_synthetic() -> None:
    numbers = {n for p in FILES for n in re.findall(r"\b(\d{11})\b", p.read_text(errors="replace"))}
    numbers.discard("04923525013")  # the robustness suite's deliberately wrong control digit
    numbers.discard("08863323039")  # the core suite's one
    assert numbers and all(is_synthetic_fnr(n) for n in numbers), numbers


def _derived_urls() -> set[str]:
    """The conditional URLs of what the two $extract calls write, besides the Goals."""
    folder = ROOT / "transitions" / "fixtures"
    baseline = _with_ids((folder / "psfs-baseline.json").read_text())
    reassessment = _with_ids((folder / "psfs-reassessment.json").read_text())
    written = extract(baseline, [])[0]["entry"] + extract(reassessment, [baseline])[0]["entry"]
    return {
        e["request"]["url"]
        for e in written
        if e["resource"]["resourceType"] not in ("Goal", "QuestionnaireResponse")
    }


def test_the_transitions_cleanup_deletes_everything_the_scenario_writes() -> None:
    """Goals are deleted by id (theirs depend on the server's Patient id); all else by the
    identifiers in the cleanup batch, which must follow the mapping's derived identifiers."""
    folder = ROOT / "transitions" / "fixtures"
    cleanup = parse_json((folder / "cleanup-batch.json").read_bytes())
    deleted = {e["request"]["url"] for e in cleanup["entry"]}
    assert all(e["request"]["method"] == "DELETE" for e in cleanup["entry"])
    assert _derived_urls() <= deleted
    for name in (
        "discharge-bundle",
        "municipal-staff-bundle",
        "careplan-goals-bundle",
        "checklists-bundle",
    ):
        bundle = parse_json((folder / f"{name}.json").read_bytes())
        for entry in bundle["entry"]:
            request = entry["request"]
            url = (
                request["url"]
                if request["method"] == "PUT"
                else (f"{request['url']}?{request['ifNoneExist']}")
            )
            assert url in deleted, f"{name}: {url} is never deleted"
    assert {u.split("?")[0] for u in deleted} >= {"QuestionnaireResponse", "CarePlan", "Patient"}
