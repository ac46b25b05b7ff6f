"""FHIRPath (normative N1, as used by FHIR R4 invariants) evaluated with fhirpathpy.

fhirpathpy's own parser recovers silently from syntax errors, which would turn a typo in a profile
into an invariant that can never fail. This module checks syntax strictly first and compiles each
expression once; every evaluation failure becomes an OperationOutcome issue, not an exception.

Speed: fhirpathpy takes 0.1-1 ms per evaluation, and a discharge Bundle repeats the same small
instances many times (a Coding of a category, a Goal target, a boolean answer). :class:`Verdicts`
remembers whether a *context-free* expression holds on a given JSON instance: one that names no
environment variable (``%resource``, ``%context``, ...) and calls nothing whose answer depends on
more than the instance (``resolve()``, ``now()``, ``today()``, ``timeOfDay()``, ``trace()``). Its
result is then a function of the expression, the instance's FHIR type and its JSON alone, which
is exactly the key. Failed evaluations are never remembered. Each evaluating module keeps a table
of its own: the invariants run with functions (``hasValue()``) the profile constraints do not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
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


_CONTEXT_BOUND = re.compile(r"%|\b(?:resolve|now|today|timeOfDay|trace)\s*\(")
# What repeats is small (a Coding, a Goal target, an answer): larger instances are not remembered,
# and a table that reaches its budget starts afresh, so memory stays bounded whatever arrives.
VERDICT_MAX_BYTES = 512
VERDICT_BUDGET_BYTES = 4 * 1024 * 1024

VerdictKey = tuple[str, str, bytes]


@cache
def context_free(expression: str) -> bool:
    """True when the result depends on the instance alone (see the module docstring)."""
    return _CONTEXT_BOUND.search(expression) is None


class Verdicts:
    """Whether context-free expressions held on instances seen before (thread-safe, bounded)."""

    def __init__(self, budget: int = VERDICT_BUDGET_BYTES) -> None:
        self.budget = budget
        self._held: dict[VerdictKey, bool] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def key(self, expression: str, type_path: str, *instance: Any) -> VerdictKey | None:
        """The key of ``expression`` on this instance, or None when it cannot be remembered
        (bound to a context, too large, or holding values JSON bytes would not tell apart,
        such as ``Decimal``)."""
        if not context_free(expression):
            return None
        try:
            blob = orjson.dumps(instance)
        except TypeError:
            return None
        return None if len(blob) > VERDICT_MAX_BYTES else (expression, type_path, blob)

    def get(self, key: VerdictKey | None) -> bool | None:
        return None if key is None else self._held.get(key)

    def __len__(self) -> int:
        return len(self._held)

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._bytes = 0

    def put(self, key: VerdictKey | None, held: bool) -> None:
        if key is None:
            return
        size = len(key[0]) + len(key[1]) + len(key[2])
        with self._lock:
            if self._bytes + size > self.budget:
                self._held.clear()
                self._bytes = 0
            if key not in self._held:
                self._bytes += size
            self._held[key] = held
