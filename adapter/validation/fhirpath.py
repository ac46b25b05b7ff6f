"""FHIRPath (normative N1, as used by FHIR R4 invariants) evaluated with fhirpathpy.

fhirpathpy's own parser recovers silently from syntax errors, which would turn a typo in a profile
into an invariant that can never fail. This module checks syntax strictly first and compiles each
expression once; every evaluation failure becomes an OperationOutcome issue, not an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from antlr4 import CommonTokenStream, InputStream  # type: ignore[import-untyped]
from antlr4.error.ErrorListener import ErrorListener  # type: ignore[import-untyped]
from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

R4_MODEL: dict[str, Any] = models["r4"]


class FhirPathSyntaxError(ValueError):
    """A FHIRPath expression that does not parse."""


class _RaisingListener(ErrorListener):  # type: ignore[misc]
    def syntaxError(  # noqa: N802 - antlr's name
        self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise FhirPathSyntaxError(f"column {column + 1}: {msg}")


def check_syntax(expression: str) -> None:
    """Raise :class:`FhirPathSyntaxError` unless the whole expression parses."""
    listener = _RaisingListener()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.entireExpression()  # type: ignore[no-untyped-call]


@cache
def compiled(expression: str) -> Callable[[Any, dict[str, Any]], list[Any]]:
    """The expression compiled once for the R4 model (syntax checked strictly)."""
    check_syntax(expression)
    fn: Callable[[Any, dict[str, Any]], list[Any]] = fhirpath_compile(expression, model=R4_MODEL)
    return fn


def evaluate(node: Any, expression: str, resource: Any | None = None) -> list[Any]:
    """Evaluate on ``node``; ``%resource`` and ``%rootResource`` name the enclosing resource."""
    root = node if resource is None else resource
    return compiled(expression)(node, {"resource": root, "rootResource": root})


def is_true(result: list[Any]) -> bool:
    """FHIRPath truthiness for an invariant: exactly ``[True]`` passes; empty counts as true."""
    if not result:
        return True
    return len(result) == 1 and result[0] is True
