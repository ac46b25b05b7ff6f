"""Remembered FHIRPath verdicts: only where the result depends on the instance alone, and never
different from evaluating afresh."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fhirpathpy.engine.nodes import ResourceNode

from adapter.validation.fastpath import compile_fast
from adapter.validation.fhirpath import Verdicts, context_free
from adapter.validation.invariants import VERDICTS, compiled
from adapter.validation.profile import CONSTRAINT_VERDICTS
from adapter.validation.validator import validate
from adapter.validation.walk import type_info
from tests.fixtures_support import load, pathways


@pytest.mark.parametrize(
    ("expression", "free"),
    [
        ("detail.ofType(integer).all($this >= 0 and $this <= 10)", True),
        ("(answer.exists() and item.exists()).not()", True),
        ("goal.all(reference.exists() implies %resource.goal.reference contains reference)", False),
        ("reference.startsWith('#').not() or (reference.substring(1) in %rootResource.id)", False),
        ("subject.resolve().exists()", False),
        ("effective <= now()", False),
        ("birthDate < today()", False),
        ("x.trace('x').exists()", False),
    ],
)
def test_context_free_expressions(expression: str, free: bool) -> None:
    assert context_free(expression) is free


def test_keys_tell_apart_what_fhirpath_tells_apart() -> None:
    verdicts = Verdicts()
    expression = "value.exists()"
    key = verdicts.key(expression, "Quantity", {"value": 1})
    assert key is not None
    assert key != verdicts.key(expression, "Quantity", {"value": "1"})
    assert key != verdicts.key(expression, "Quantity", {"value": True})
    assert key != verdicts.key(expression, "Age", {"value": 1})
    assert verdicts.key(expression, "Quantity", {"value": Decimal("1.0")}) is None
    assert verdicts.key("%resource.exists()", "Quantity", {"value": 1}) is None
    assert verdicts.key(expression, "Quantity", {"value": "x" * 600}) is None


def test_the_table_stays_within_its_budget() -> None:
    keys = [Verdicts().key("a.exists()", "T", {"a": n}) for n in range(50)]
    one = sum(len(part) for part in keys[0] or ())
    verdicts = Verdicts(budget=3 * one)
    for n, key in enumerate(keys):
        verdicts.put(key, n % 2 == 0)
        assert verdicts.get(key) is (n % 2 == 0)
    assert len(verdicts) <= 3


def _resources() -> list[dict[str, Any]]:
    return [load(path) for pathway in pathways() for path in pathway.fhir_files()]


def test_validation_with_remembered_verdicts_equals_a_fresh_one() -> None:
    resources = _resources()
    VERDICTS.clear()
    CONSTRAINT_VERDICTS.clear()
    fresh = [validate(r) for r in resources]
    remembered = [validate(r) for r in resources]  # now answered from the tables
    assert remembered == fresh
    assert len(VERDICTS) and len(CONSTRAINT_VERDICTS)


@pytest.mark.parametrize(
    "item",
    [
        {"linkId": "a"},
        {"linkId": "a", "answer": [{"valueBoolean": True}]},
        {"linkId": "a", "item": [{"linkId": "b"}]},
        {"linkId": "a", "answer": [{"valueBoolean": True}], "item": [{"linkId": "b"}]},
    ],
)
def test_negated_parentheses_decide_as_fhirpath_does(item: dict[str, Any]) -> None:
    expression = "(answer.exists() and item.exists()).not()"
    program = compile_fast(expression)
    assert program is not None
    decided = program(item, type_info("QuestionnaireResponseItem"), {})
    node = ResourceNode.create_node(item, "QuestionnaireResponse.item")
    assert isinstance(decided, bool)
    assert [decided] == compiled(expression)(node, {})
