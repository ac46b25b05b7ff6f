"""TestScript variables (FHIR R4 TestScript.variable) and ``${name}`` substitution.

A variable takes its value from a response header (``headerField``) or a FHIRPath ``expression``
on a fixture (``sourceId``; the last response when absent), else from ``defaultValue``. As in the
R4 text, a value is worked out when it is used, against the fixture as it is at that moment, and
must be one primitive value.

Substitution covers what R4 names (operation.params, url, requestHeader.value, assert.value) and,
so that a fixture can point at an id the server assigned, assert expressions and the string values
of fixture bodies sent by an operation. A ``${name}`` that names no variable, or a variable without
a value, is an error, never left in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from adapter.conformance.model import Variable
from adapter.conformance.results import Source
from adapter.validation.fhirpath import evaluate

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class VariableError(Exception):
    """A variable that cannot be given a value, or a ``${name}`` that names no variable."""


Lookup = Callable[[str | None], Source]


def text_of(value: Any) -> str:
    """A FHIRPath result item as TestScript compares it: the primitive's text form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def fhirpath_values(resource: dict[str, Any], expression: str) -> list[Any]:
    """Evaluate on a resource; a failure of the evaluator becomes a ValueError naming it."""
    try:
        return evaluate(resource, expression)
    except Exception as exc:  # noqa: BLE001 - fhirpathpy raises plain exceptions of many kinds
        raise ValueError(f"FHIRPath '{expression}' failed: {exc}") from None


class Variables:
    """The script's variables, evaluated through ``lookup`` (fixture id -> :class:`Source`)."""

    def __init__(self, declared: Sequence[Variable], lookup: Lookup) -> None:
        self.declared = {v.name: v for v in declared}
        self.lookup = lookup

    def value(self, name: str, using: tuple[str, ...] = ()) -> str:
        variable = self.declared.get(name)
        if variable is None:
            raise VariableError(f"${{{name}}} names no variable of this script.")
        if name in using:
            raise VariableError(f"Variable {name} is defined through itself.")
        try:
            found = self._evaluate(variable, (*using, name))
        except (VariableError, ValueError) as exc:
            if variable.default_value is not None:
                return variable.default_value
            raise VariableError(f"Variable {name} has no value: {exc}") from None
        if found is None:
            if variable.default_value is not None:
                return variable.default_value
            raise VariableError(f"Variable {name} has no value: {self._why_empty(variable)}")
        return found

    def _evaluate(self, variable: Variable, using: tuple[str, ...]) -> str | None:
        if variable.header_field is None and variable.expression is None:
            return None
        source = self.lookup(variable.source_id)
        if variable.header_field is not None:
            return source.headers.get(variable.header_field.lower())
        assert variable.expression is not None
        if source.resource is None:
            raise VariableError(f"{source.name} has no FHIR body to evaluate on.")
        expression = self.substitute(variable.expression, using)
        values = fhirpath_values(source.resource, expression)
        if not values:
            return None
        if len(values) > 1:
            raise VariableError(f"'{expression}' gives {len(values)} values on {source.name}.")
        if isinstance(values[0], dict | list):
            raise VariableError(f"'{expression}' gives an element, not a primitive value.")
        return text_of(values[0])

    @staticmethod
    def _why_empty(variable: Variable) -> str:
        if variable.header_field is not None:
            return f"the response has no {variable.header_field} header."
        if variable.expression is not None:
            return f"'{variable.expression}' gives no value."
        return "it has neither an expression, a headerField nor a defaultValue."

    def substitute(self, text: str, using: tuple[str, ...] = ()) -> str:
        return PLACEHOLDER.sub(lambda m: self.value(m.group(1), using), text)

    def substitute_in(self, node: Any) -> Any:
        """A copy of a fixture body with every string value substituted."""
        if isinstance(node, dict):
            return {k: self.substitute_in(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.substitute_in(v) for v in node]
        if isinstance(node, str) and "${" in node:
            return self.substitute(node)
        return node
