"""fixed[x] and pattern[x] comparison and the short renderings used in diagnostics."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapter.validation.patterns import declared, describe, matches_fixed, matches_pattern

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)

CATEGORY: dict[str, Any] = {
    "coding": [
        {"system": "http://example.org", "code": "x"},
        {
            "system": "http://forlop.no/fhir/CodeSystem/psfs",
            "code": "psfs-activity",
            "display": "A",
        },
    ],
    "text": "Aktivitet",
}


@given(JSON_VALUES)
def test_every_value_matches_itself(value: Any) -> None:
    assert matches_fixed(value, value)
    assert matches_pattern(value, value)


@given(JSON_VALUES, JSON_VALUES)
def test_fixed_implies_pattern(value: Any, expected: Any) -> None:
    if matches_fixed(value, expected):
        assert matches_pattern(value, expected)


def test_pattern_is_contained_recursively_with_lists_matched_by_any_item() -> None:
    pattern = {
        "coding": [{"system": "http://forlop.no/fhir/CodeSystem/psfs", "code": "psfs-activity"}]
    }
    assert matches_pattern(CATEGORY, pattern)
    assert not matches_pattern(CATEGORY, {"coding": [{"code": "other"}]})
    assert not matches_pattern({"text": "Aktivitet"}, pattern)
    both = {"coding": [{"code": "x"}, {"code": "psfs-activity"}]}
    assert matches_pattern(CATEGORY, both)
    assert not matches_pattern(CATEGORY, {"coding": [{"code": "x"}, {"code": "y"}]})


def test_fixed_is_exact() -> None:
    assert matches_fixed({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1})
    assert not matches_fixed({"a": 1, "b": 2}, {"a": 1})
    assert not matches_fixed([2, 1], [1, 2])
    assert not matches_fixed("plan", "Plan")


def test_numbers_compare_by_value_and_booleans_are_not_numbers() -> None:
    assert matches_fixed(Decimal("10.0"), 10)
    assert matches_pattern(5.5, Decimal("5.5"))
    assert not matches_fixed(True, 1)
    assert not matches_pattern(0, False)
    assert not matches_fixed("1", 1)


def test_declared_finds_the_typed_key() -> None:
    definition = {"id": "x", "fixedUri": "urn:x", "patternCodeableConcept": {"text": "t"}}
    assert declared(definition, "fixed") == ("fixedUri", "urn:x")
    assert declared(definition, "pattern") == ("patternCodeableConcept", {"text": "t"})
    assert declared({"fixedness": 1}, "fixed") is None


def test_describe() -> None:
    assert describe(CATEGORY) == "example.org#x and psfs#psfs-activity"
    assert describe({"system": "urn:oid:2.16.578.1.12.4.1.4.1", "code": "1"}) == (
        "urn:oid:2.16.578.1.12.4.1.4.1#1"
    )
    assert describe({"coding": [{"system": "http://example.org/cs"}]}) == (
        "a code from http://example.org/cs"
    )
    assert describe("plan") == "'plan'"
    assert describe({"value": Decimal("5.5")}) == '{"value":"5.5"}'
