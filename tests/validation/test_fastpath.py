"""Compiled FHIRPath gives fhirpathpy's verdicts, wherever it gives one.

Every R4 invariant and every constraint of forlop's profiles runs both ways on the invariant test
cases, the pathway fixtures, the bad-input catalogue and generated resources; where the compiled
form answers (it may say :class:`Unsure`, or not compile an expression at all), the answers must
be the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from adapter.fhir.json_codec import parse_json
from adapter.registry import default_registry
from adapter.validation.elements import Instance, fhirpath_node
from adapter.validation.fastpath import Unsure, compile_fast, type_path_info
from adapter.validation.fhirpath import evaluate, is_true
from adapter.validation.invariants import InvariantTable
from adapter.validation.walk import type_info, walk
from tests.strategies import resources
from tests.validation.test_invariants import FAILING, PASSING

R = dict[str, Any]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _fixture_resources() -> list[R]:
    found = []
    for path in sorted(FIXTURES.glob("pathways/*/fhir/*.json")) + sorted(
        FIXTURES.glob("bad/*.json")
    ):
        try:
            data = parse_json(path.read_bytes())
        except Exception:  # noqa: BLE001 - bad inputs that do not even parse
            continue
        if isinstance(data, dict):
            found.append(data)
    return found


CORPUS: list[R] = [r for r, _ in FAILING.values()] + list(PASSING.values()) + _fixture_resources()


def _fast(expression: str, data: Any, info: Any, env: dict[str, Any]) -> bool | None:
    program = compile_fast(expression)
    if program is None:
        return None
    try:
        return program(data, info, env) is not False
    except Unsure:
        return None


def _invariant_verdicts(corpus: list[R]) -> Iterator[tuple[str, str, bool, bool]]:
    """(key, where, compiled, fhirpathpy) wherever both answer."""
    table = InvariantTable(default_registry())
    for resource in corpus:
        for node in walk(resource).nodes:
            env = {"resource": node.resource, "rootResource": node.root, "context": node.data}
            for inv, element in table.for_node(node):
                if element is not None and node.data.get(element) is None:
                    continue
                text = inv.evaluated if element is None else f"{element}.all({inv.evaluated})"
                fast = _fast(text, node.data, node.info, env)
                if fast is None:
                    continue
                try:
                    full = inv.fhirpath(node, element)
                except Exception:  # noqa: BLE001 - fhirpathpy's own limits
                    continue
                yield inv.key, node.expression, fast, full


def _constraints() -> list[tuple[str, str, str]]:
    """(key, element path, expression) of every constraint in forlop's profiles."""
    out = []
    registry = default_registry()
    for sd in registry.of_type("StructureDefinition"):
        for element in (sd.get("differential") or {}).get("element", []):
            for constraint in element.get("constraint", []):
                out.append((constraint["key"], element["path"], constraint["expression"]))
    return out


def _constraint_verdicts(corpus: list[R]) -> Iterator[tuple[str, str, bool, bool]]:
    constraints = _constraints()
    for resource in corpus:
        for node in walk(resource).nodes:
            for key, path, expression in constraints:
                if path not in (node.info.path, node.element_path):
                    continue
                fast = _fast(expression, node.data, node.info, {"resource": node.resource})
                if fast is None:
                    continue
                instance = Instance(node.data, node.expression, node.info.path, node.info.name)
                try:
                    full = is_true(evaluate(fhirpath_node(instance), expression, node.resource))
                except Exception:  # noqa: BLE001 - fhirpathpy's own limits
                    continue
                yield key, node.expression, fast, full


def test_every_profile_constraint_compiles() -> None:
    assert _constraints()
    assert [key for key, _, expression in _constraints() if compile_fast(expression) is None] == []


def test_invariants_agree_with_fhirpathpy() -> None:
    results = list(_invariant_verdicts(CORPUS))
    assert len(results) > 500
    assert [r for r in results if r[2] != r[3]] == []
    assert {r[2] for r in results} == {True, False}
    # Most of the table compiles: what does not is named in fastpath's docstring.
    assert len({r[0] for r in results}) > 100


def test_profile_constraints_agree_with_fhirpathpy() -> None:
    mutated = []
    for resource in CORPUS:
        if resource.get("resourceType") == "Observation":
            # Scores out of range, a wrong status, a mean score without its unit.
            mutated.append({**resource, "valueInteger": 11, "status": "preliminary"})
            mutated.append({**resource, "valueQuantity": {"value": 3}})
    results = list(_constraint_verdicts(CORPUS + mutated))
    assert len(results) > 20
    assert [r for r in results if r[2] != r[3]] == []
    assert {r[2] for r in results} == {True, False}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(resources())
def test_agreement_on_generated_resources(resource: R) -> None:
    assert [r for r in _invariant_verdicts([resource]) if r[2] != r[3]] == []
    assert [r for r in _constraint_verdicts([resource]) if r[2] != r[3]] == []


# -- the language, case by case -----------------------------------------------------------------

BASIC: R = {"resourceType": "Basic", "code": {"text": "x"}}
VALUES = {"true": True, "false": False, "{}": None}


def _both(expression: str, resource: R = BASIC) -> tuple[bool | None, bool]:
    program = compile_fast(expression)
    assert program is not None, expression
    info = type_info(resource["resourceType"])
    fast = program(resource, info, {"resource": resource})
    full = evaluate(resource, expression)
    return fast, is_true(full) if full else None  # type: ignore[return-value]


@pytest.mark.parametrize("op", ["and", "or", "xor", "implies"])
def test_three_valued_logic(op: str) -> None:
    for left, right in itertools.product(VALUES, repeat=2):
        expression = f"({left}) {op} ({right})"
        fast, full = _both(expression)
        assert fast == full, expression


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("code.text = 'x'", True),
        ("code.text != 'x'", False),
        ("code.text.startsWith('x') and code.text.length() = 1", True),
        ("code.coding.empty() and code.coding.count() = 0", True),
        ("code.text in ('x' | 'y')", True),
        ("('a' | 'b' | 'a').count() = 2", True),
        ("(code.text & 'y') = 'xy'", True),
        ("code.where(text = 'x').exists() and code.all(text.exists())", True),
        ("code.select(text).isDistinct()", True),
        ("iif(code.exists(), true, false)", True),
        ("code.text.substring(1).empty()", True),
        ("%resource.code.text = 'x'", True),
        ("code.exists($this.text = 'x') and Basic.code.exists()", True),
        ("code.text.matches('^x$')", True),
    ],
)
def test_expressions_as_fhirpath_reads_them(expression: str, expected: bool) -> None:
    fast, full = _both(expression)
    assert fast is expected
    assert full is expected


@pytest.mark.parametrize(
    "expression",
    ["subject.resolve().exists()", "children().count() > 1", "code.coding[0].exists()", "-1 < 0"],
)
def test_what_is_not_compiled_stays_with_fhirpathpy(expression: str) -> None:
    assert compile_fast(expression) is None


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        # A primitive with extensions: FHIRPath sees more than the JSON value.
        ({**BASIC, "created": "2024", "_created": {"id": "a"}}, "created.exists()"),
        # Dates compare by precision, which strings do not show.
        ({**BASIC, "created": "2024-01"}, "created = created"),
        # A string where FHIRPath expects a boolean.
        (BASIC, "code.text and true"),
        # Several values where one is expected.
        (
            {**BASIC, "identifier": [{"value": "a"}, {"value": "b"}]},
            "identifier.value.startsWith('a')",
        ),
    ],
)
def test_unsure_cases_are_left_to_fhirpathpy(resource: R, expression: str) -> None:
    program = compile_fast(expression)
    assert program is not None
    with pytest.raises(Unsure):
        program(resource, type_info("Basic"), {"resource": resource})


def test_type_paths_name_their_tables() -> None:
    assert type_path_info("Goal.target") is type_info("GoalTarget")
    assert type_path_info("Coding") is type_info("Coding")
    assert type_path_info("integer") is None
