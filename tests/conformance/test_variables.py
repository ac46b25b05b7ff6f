"""TestScript variables: values from headers, FHIRPath and defaults; ``${name}`` substitution
that never leaves a placeholder behind."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.conformance.model import Variable
from adapter.conformance.results import Source
from adapter.conformance.variables import VariableError, Variables

BUNDLE = {
    "resourceType": "Bundle",
    "type": "searchset",
    "entry": [
        {"resource": {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active"}},
        {"resource": {"resourceType": "Goal", "id": "g2", "lifecycleStatus": "cancelled"}},
    ],
}
SOURCES = {
    "search": Source("response search", BUNDLE, {"location": "Goal/g1/_history/3"}, 200),
    "empty": Source("response empty", {"resourceType": "Bundle", "type": "searchset"}, {}, 200),
}


def _variables(*declared: Variable, sources: Mapping[str, Source] = SOURCES) -> Variables:
    def lookup(fixture_id: str | None) -> Source:
        if fixture_id is None or fixture_id not in sources:
            raise VariableError(f"Fixture {fixture_id} has no value yet.")
        return sources[fixture_id]

    return Variables(declared, lookup)


def test_values_from_expression_header_and_default() -> None:
    variables = _variables(
        Variable(
            "active",
            expression="Bundle.entry.resource.where(lifecycleStatus = 'active').id",
            source_id="search",
        ),
        Variable("where", header_field="Location", source_id="search"),
        Variable("fixed", default_value="42"),
        Variable("count", expression="Bundle.entry.count()", source_id="search"),
        Variable(
            "status",
            expression="Bundle.entry.resource.where(id = '${active}').lifecycleStatus",
            source_id="search",
        ),
    )
    text = "${active} ${where} ${fixed} ${count} ${status}"
    assert variables.substitute(text) == "g1 Goal/g1/_history/3 42 2 active"


def test_a_default_stands_in_when_there_is_no_value() -> None:
    variables = _variables(
        Variable(
            "id", expression="Bundle.entry.resource.id", source_id="empty", default_value="none"
        ),
        Variable("later", expression="Patient.id", source_id="notYet", default_value="x"),
    )
    assert variables.substitute("${id}/${later}") == "none/x"


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        (
            Variable("v", expression="Bundle.entry.resource.id", source_id="search"),
            "gives 2 values",
        ),
        (Variable("v", expression="Bundle.entry.resource.id", source_id="empty"), "gives no value"),
        (Variable("v", expression="Bundle.entry.first()", source_id="search"), "not a primitive"),
        (Variable("v", header_field="ETag", source_id="search"), "has no ETag header"),
        (Variable("v", expression="Patient.id", source_id="notYet"), "has no value yet"),
        (Variable("v"), "neither an expression"),
        (Variable("v", expression="Bundle.id = '${v}'", source_id="search"), "through itself"),
    ],
)
def test_variables_without_a_value_are_errors(variable: Variable, message: str) -> None:
    with pytest.raises(VariableError, match=message):
        _variables(variable).substitute("${v}")


def test_an_unknown_name_is_an_error() -> None:
    with pytest.raises(VariableError, match=r"\$\{nope\} names no variable"):
        _variables().substitute("Goal/${nope}")


def test_fixture_bodies_get_every_string_substituted() -> None:
    variables = _variables(Variable("pid", default_value="p1"))
    body = {"subject": {"reference": "Patient/${pid}"}, "n": [1, "${pid}"], "x": True}
    assert variables.substitute_in(body) == {
        "subject": {"reference": "Patient/p1"},
        "n": [1, "p1"],
        "x": True,
    }


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=30))
def test_text_without_placeholders_is_unchanged(text: str) -> None:
    assert _variables().substitute(text) == text
