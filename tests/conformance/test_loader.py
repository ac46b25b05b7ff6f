"""The loader: the shipped suites load whole; every TestScript feature the runner does not execute
is reported as a problem (never dropped); broken scripts and fixtures are explained."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapter.conformance import UnknownSuite, default_root, load_suites, suite_names
from adapter.conformance.loader import load_fixture
from adapter.fhir.errors import Code
from tests.conformance.scripts import build_script, check, fixture, operation, write

SUITES = ("core", "robustness", "transitions")


def test_the_shipped_suites_load_without_problems() -> None:
    suites = load_suites()
    assert tuple(s.name for s in suites) == SUITES == tuple(suite_names())
    for suite in suites:
        assert suite.scripts, suite.name
        for loaded in suite.scripts:
            assert loaded.problems == (), (loaded.path, loaded.problems)
            assert loaded.script is not None
            assert loaded.script.tests


def test_the_shipped_scripts_follow_the_conventions() -> None:
    for suite in load_suites():
        for loaded in suite.scripts:
            script = loaded.script
            assert script is not None
            assert script.id == loaded.path.stem
            assert script.id.startswith(f"{suite.name}-")
            assert script.url == f"http://forlop.no/fhir/TestScript/{script.id}"
            assert script.version == "1.0.0"
            assert script.title and script.description
            for test in script.tests:
                assert test.description, (script.id, test.name)
                for action in test.actions:
                    assert action.label and action.description, action.where


def test_every_fixture_file_is_used_and_every_used_file_exists() -> None:
    for suite in load_suites():
        used = {
            f.source
            for loaded in suite.scripts
            if loaded.script
            for f in loaded.script.fixtures.values()
        }
        files = {p.name for p in (suite.directory / "fixtures").iterdir()}
        assert used == files, suite.name


def test_an_unknown_suite_is_refused() -> None:
    with pytest.raises(UnknownSuite, match="known suites: core, robustness, transitions"):
        load_suites(names=["core", "no-such-suite"])


def test_suites_load_in_the_order_asked() -> None:
    assert [s.name for s in load_suites(names=["transitions", "core"])] == ["transitions", "core"]
    assert default_root().name == "conformance"


def test_a_fixture_that_is_not_fhir_is_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b'{"resourceType": "Patient", "name": [')
    broken = load_fixture(path, "broken")
    assert broken.resource is None
    assert broken.raw == path.read_bytes()
    assert broken.media_type == "application/fhir+json"
    assert "not FHIR JSON" in broken.note
    path.write_bytes(b'<Patient xmlns="http://hl7.org/fhir"><active value="true"/></Patient>')
    path = path.rename(tmp_path / "fine.xml")
    assert load_fixture(path, "fine").resource == {"resourceType": "Patient", "active": True}


# -- problems ---------------------------------------------------------------------------------

READ = operation("read", resource="Patient", params="/1", responseId="read")
OK = check(response="okay")


def _base() -> dict[str, Any]:
    return build_script(
        [[READ, OK]],
        variable=[{"name": "pid", "expression": "Patient.id", "sourceId": "read"}],
        profile=[{"id": "pat", "reference": "http://hl7.org/fhir/StructureDefinition/Patient"}],
    )


def _action(data: dict[str, Any], index: int) -> dict[str, Any]:
    action: dict[str, Any] = data["test"][0]["action"][index]
    return action


Change = tuple[Callable[[dict[str, Any]], Any], str]  # what to change, where the problem is

UNSUPPORTED: dict[str, Change] = {
    "assert.path": (
        lambda d: _action(d, 1)["assert"].update(path="fhir:Patient/fhir:id"),
        "TestScript.test[0].action[1].assert.path",
    ),
    "assert.compareToSourcePath": (
        lambda d: _action(d, 1)["assert"].update(compareToSourcePath="/Patient/id"),
        "TestScript.test[0].action[1].assert.compareToSourcePath",
    ),
    "assert.navigationLinks": (
        lambda d: _action(d, 1)["assert"].update(navigationLinks=True),
        "TestScript.test[0].action[1].assert.navigationLinks",
    ),
    "variable.path": (
        lambda d: d["variable"][0].update(path="Patient/id"),
        "TestScript.variable[0].path",
    ),
    "an operation type the runner does not execute": (
        lambda d: _action(d, 0)["operation"].update(
            type={"system": operation("x")["operation"]["type"]["system"], "code": "graphql"}
        ),
        "TestScript.test[0].action[0].operation.type",
    ),
    "an operation type of another code system": (
        lambda d: _action(d, 0)["operation"].update(
            type={"system": "http://example.org/ops", "code": "read"}
        ),
        "TestScript.test[0].action[0].operation.type",
    ),
    "modifierExtension": (
        lambda d: d["test"][0].update(
            modifierExtension=[{"url": "http://example.org/x", "valueBoolean": True}]
        ),
        "TestScript.test[0].modifierExtension",
    ),
    "implicitRules": (
        lambda d: d.update(implicitRules="http://example.org/rules"),
        "TestScript.implicitRules",
    ),
    "two destinations": (
        lambda d: d.update(
            destination=[{"index": i, "profile": {"code": "FHIR-Server"}} for i in (1, 2)]
        ),
        "TestScript.destination",
    ),
    "an operation sent to another destination": (
        lambda d: _action(d, 0)["operation"].update(destination=2),
        "TestScript.test[0].action[0].operation.destination",
    ),
    "a fixture to download": (
        lambda d: d.update(
            fixture=[
                {
                    "id": "f",
                    "autocreate": False,
                    "autodelete": False,
                    "resource": {"reference": "http://example.org/Patient/1"},
                }
            ]
        ),
        "TestScript.fixture[0].resource.reference",
    ),
    "capabilities the runner should validate": (
        lambda d: d.update(
            metadata={
                "capability": [
                    {"required": True, "validated": True, "capabilities": "http://example.org/cs"}
                ]
            }
        ),
        "TestScript.metadata.capability[0].validated",
    ),
    "an operator that does not apply": (
        lambda d: _action(d, 1)["assert"].update(operator="contains"),
        "TestScript.test[0].action[1].assert.operator",
    ),
}

INVALID: dict[str, Change] = {
    "two assertions in one assert": (
        lambda d: _action(d, 1)["assert"].update(resource="Patient"),
        "TestScript.test[0].action[1].assert",
    ),
    "an assert that checks nothing": (
        lambda d: _action(d, 1)["assert"].pop("response"),
        "TestScript.test[0].action[1].assert",
    ),
    "a sourceId that names nothing": (
        lambda d: _action(d, 1)["assert"].update(sourceId="nothing"),
        "TestScript.test[0].action[1].assert.sourceId",
    ),
    "FHIRPath that does not parse": (
        lambda d: d["variable"][0].update(expression="Patient.id.where("),
        "TestScript.variable[0].expression",
    ),
    "a profile id that is not declared": (
        lambda d: d["test"][0]["action"].append(check(validateProfileId="nope")),
        "TestScript.test[0].action[2].assert.validateProfileId",
    ),
    "an operator that needs a value": (
        lambda d: d["test"][0]["action"].append(check(expression="Patient.id", operator="equals")),
        "TestScript.test[0].action[2].assert",
    ),
    "a response code that does not exist": (
        lambda d: _action(d, 1)["assert"].update(response="fine"),
        "TestScript.test[0].action[1].assert.response",
    ),
    "a fixture file that is not there": (
        lambda d: d.update(fixture=[fixture("f", "missing.json")]),
        "TestScript.fixture[0].resource.reference",
    ),
    "a fixture outside the script's folder": (
        lambda d: d.update(
            fixture=[
                {
                    "id": "f",
                    "autocreate": False,
                    "autodelete": False,
                    "resource": {"reference": "../../etc/passwd"},
                }
            ]
        ),
        "TestScript.fixture[0].resource.reference",
    ),
    "two variables with one name": (
        lambda d: d["variable"].append({"name": "pid", "defaultValue": "1"}),
        "TestScript.variable",
    ),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_features_are_reported(name: str, tmp_path: Path) -> None:
    change, where = UNSUPPORTED[name]
    data = copy.deepcopy(_base())
    change(data)
    loaded = write(tmp_path, data)
    assert loaded.script is None
    found = [(p.expression, p.forlop_code) for p in loaded.problems]
    assert ((where,), Code.TESTSCRIPT_UNSUPPORTED) in found, found


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_scripts_are_explained(name: str, tmp_path: Path) -> None:
    change, where = INVALID[name]
    data = copy.deepcopy(_base())
    change(data)
    loaded = write(tmp_path, data)
    assert loaded.script is None
    found = [(p.expression, p.forlop_code) for p in loaded.problems]
    assert ((where,), Code.TESTSCRIPT_INVALID) in found, found


def test_the_base_script_of_these_tests_is_fine(tmp_path: Path) -> None:
    loaded = write(tmp_path, _base())
    assert loaded.problems == ()
    assert loaded.script is not None


def test_elements_r4_does_not_have_are_structural_errors(tmp_path: Path) -> None:
    data = _base()
    _action(data, 1)["assert"]["bogus"] = "x"
    loaded = write(tmp_path, data)
    assert [(p.expression, p.forlop_code) for p in loaded.problems] == [
        (("TestScript.test[0].action[1].assert.bogus",), Code.UNKNOWN_ELEMENT)
    ]


def test_files_that_are_not_testscripts(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"resourceType": "TestScript",')
    (tmp_path / "patient.json").write_text('{"resourceType": "Patient"}')
    suite = load_suites(tmp_path.parent, [tmp_path.name])[0]
    problems = {s.path.name: s.problems for s in suite.scripts}
    assert problems["broken.json"][0].forlop_code == Code.JSON_SYNTAX
    assert problems["patient.json"][0].forlop_code == Code.TESTSCRIPT_INVALID
    assert "holds a Patient, not a TestScript" in problems["patient.json"][0].diagnostics
