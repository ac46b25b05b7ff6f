"""The forlop command line, run through typer's runner on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapter.cli import app
from adapter.fhir.json_codec import dump_json, parse_json

runner = CliRunner()

PSFS_DOC = {
    "patient": "Patient/p1",
    "assessments": [
        {
            "id": "a1",
            "date": "2026-01-12",
            "direction": "ability",
            "respondent": {"kind": "patient", "reference": "Patient/p1"},
            "activities": [
                {"key": "stairs", "text": "Gå i trapper", "score": 3, "target": 7},
                {"key": "walk", "text": "Gå tur", "score": 2},
                {"key": "cook", "text": "Lage mat", "score": 5},
            ],
        }
    ],
}

GOAL = {
    "resourceType": "Goal",
    "lifecycleStatus": "active",
    "description": {"text": "Gå i trapper"},
    "subject": {"reference": "Patient/p1"},
}


def write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_bytes(dump_json(content))
    return path


@pytest.mark.parametrize(
    "command",
    [[], ["map"], ["map", "psfs"], ["map", "path"], ["extract"], ["validate"], ["convert"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_validate_passes_a_valid_resource(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(write(tmp_path, "goal.json", GOAL))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_fails_with_a_readable_issue(tmp_path: Path) -> None:
    bad = write(tmp_path, "goal.json", {**GOAL, "lifecycleStatus": "finished"})
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "Goal.lifecycleStatus" in result.output
    assert "invalid" in result.output


def test_validate_json_prints_the_operation_outcome(tmp_path: Path) -> None:
    bad = write(tmp_path, "goal.json", {**GOAL, "lifecycleStatus": "finished"})
    result = runner.invoke(app, ["validate", "--format", "json", str(bad)])
    assert result.exit_code == 1
    outcome = json.loads(result.stdout)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Goal.lifecycleStatus"]
    assert outcome["issue"][0]["severity"] == "error"


def test_validate_reports_unreadable_input_without_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Goal",')
    result = runner.invoke(app, ["validate", str(broken), str(tmp_path / "missing.json")])
    assert result.exit_code == 1
    assert "FORLOP-WIRE-001" in result.output
    assert "Cannot read" in result.output
    assert "Traceback" not in result.output


def test_convert_to_xml_and_back_is_the_identity(tmp_path: Path) -> None:
    source = write(tmp_path, "goal.json", GOAL)
    as_xml = runner.invoke(app, ["convert", str(source), "--to", "xml"])
    assert as_xml.exit_code == 0, as_xml.output
    assert as_xml.stdout.lstrip().startswith("<?xml")
    xml_file = tmp_path / "goal.xml"
    xml_file.write_text(as_xml.stdout, encoding="utf-8")
    back = runner.invoke(app, ["convert", str(xml_file), "--to", "json"])
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout) == GOAL


def test_map_psfs_both_ways_and_extract(tmp_path: Path) -> None:
    mapped = runner.invoke(app, ["map", "psfs", str(write(tmp_path, "psfs.json", PSFS_DOC))])
    assert mapped.exit_code == 0, mapped.output
    bundle = parse_json(mapped.stdout)
    assert bundle["type"] == "transaction"
    back = runner.invoke(app, ["map", "psfs", str(write(tmp_path, "b.json", bundle))])
    assert back.exit_code == 0, back.output
    domain = json.loads(back.stdout)
    assert domain["assessments"][0]["activities"][0]["text"] == "Gå i trapper"
    response = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    extracted = runner.invoke(app, ["extract", str(write(tmp_path, "qr.json", response))])
    assert extracted.exit_code == 0, extracted.output
    assert parse_json(extracted.stdout)["type"] == "transaction"


def test_map_psfs_reports_domain_errors_with_paths(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(PSFS_DOC))
    bad["assessments"][0]["activities"][0]["score"] = 12
    result = runner.invoke(app, ["map", "psfs", str(write(tmp_path, "bad.json", bad))])
    assert result.exit_code == 1
    assert "assessments[0].activities[0].score" in result.output
    assert "FORLOP-PSFS-003" in result.output
