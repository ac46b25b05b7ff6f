"""Base FHIR R4 invariants (ElementDefinition.constraint, FHIRPath) on every instance they cover.

The invariants are data: ``profiles/r4/invariants.json`` holds key, severity, context, human text
and the expression exactly as in the R4 specification; invariants fhirpathpy cannot evaluate are
listed there under ``omitted`` with the reason. A context is a resource type (``Observation``),
``DomainResource``, a datatype (``Period``, ``Quantity`` also covers Age, Count, Distance and
Duration), a backbone element (``Questionnaire.item``) or an element path (``Range.low``,
``ElementDefinition.max``). Each instance is evaluated with its own type as the FHIRPath base, so
choice elements (``answer is Boolean``) resolve as in the spec, with ``%resource`` the resource
holding it and ``%rootResource`` the root of containment.

FHIRPath's ``hasValue()`` (used by per-1, age-1, cnt-3 and bdl-10) is missing from fhirpathpy;
it is supplied here with the meaning the FHIRPath R4 spec gives it.

Speed: each expression also runs compiled to Python (:mod:`adapter.validation.fastpath`), which
settles it from the JSON wherever it can; the rest goes to fhirpathpy. Tests check both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode

from adapter.fhir.errors import Code, Issue, Severity
from adapter.registry import Registry, default_registry
from adapter.validation.fastpath import Unsure, compile_fast
from adapter.validation.fhirpath import R4_MODEL, Verdicts, check_syntax, is_true
from adapter.validation.walk import Node, TypeInfo, Walked, child_expression, type_info, walk

__all__ = ["Invariant", "InvariantTable", "validate_invariants"]

TABLE = "invariants"

Compiled = Callable[[Any, dict[str, Any]], list[Any]]
VERDICTS = Verdicts()  # of the invariants evaluated with this module's functions


def _has_value(inputs: list[Any]) -> list[bool]:
    """FHIRPath hasValue(): one primitive that has a value (not only extensions)."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict)]


def _quiet_trace(_label: str, _value: Any) -> None:
    """trace() (ref-1, que-1, sdf-16 ...) would print to stdout otherwise."""


_OPTIONS = {
    "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
    "traceFn": _quiet_trace,
}


@cache
def compiled(expression: str) -> Compiled:
    """The expression compiled once for the R4 model, with the functions fhirpathpy lacks."""
    check_syntax(expression)
    fn: Compiled = fhirpathpy.compile(expression, model=R4_MODEL, options=_OPTIONS)
    return fn


@dataclass(frozen=True)
class Invariant:
    """One R4 invariant as the table gives it."""

    key: str
    severity: str
    contexts: tuple[str, ...]
    human: str
    expression: str  # as in the R4 spec
    evaluated: str  # what runs: the spec's expression unless the table gives a fix and why

    def evaluate(self, node: Node, element: str | None = None) -> bool:
        """True when the instance satisfies the invariant; raises on evaluation failure.

        The compiled form answers first; what it leaves to fhirpathpy is remembered in the
        verdict table (fhirpathpy costs far more than the table's key)."""
        program = compile_fast(_text(self.evaluated, element))
        if program is not None:
            try:
                return program(node.data, node.info, _env(node)) is not False
            except Unsure:
                pass  # the JSON does not settle it: fhirpathpy decides
        key = VERDICTS.key(self.evaluated, f"{node.info.path}|{element or ''}", node.data)
        held = VERDICTS.get(key)
        if held is None:
            held = self.fhirpath(node, element)
            VERDICTS.put(key, held)
        return held

    def fhirpath(self, node: Node, element: str | None = None) -> bool:
        """fhirpathpy's verdict, which the compiled form (:mod:`.fastpath`) must give too."""
        base: Any = node.data
        if not node.info.is_resource:
            # The base type lets FHIRPath resolve choice elements (answer[x]) on a nested
            # instance; a resource names its type itself (and "Appointment.status" needs that).
            base = ResourceNode.create_node(node.data, node.info.path)  # type: ignore[no-untyped-call]
        return is_true(compiled(_text(self.evaluated, element))(base, _env(node)))


def _text(expression: str, element: str | None) -> str:
    """A primitive context runs the expression on each value of the element."""
    return expression if element is None else f"{element}.all({expression})"


def _env(node: Node) -> dict[str, Any]:
    return {"resource": node.resource, "rootResource": node.root, "context": node.data}


@dataclass(frozen=True)
class _Target:
    """Where an invariant context lands: a node context name, maybe a primitive element."""

    context: str
    element: str | None


def _resolve(context: str) -> _Target:
    """A context string as a node context (type path or element path) or a primitive element."""
    if _type_path(context) is not None:
        return _Target(context, None)
    owner, _, element = context.rpartition(".")
    info = _type_path(owner)
    elem = info.elements.get(element) if info is not None else None
    if elem is None:
        raise ValueError(f"{TABLE}.json: context {context} is not an R4 type or element")
    if elem.kind == "primitive":
        return _Target(owner, element)
    return _Target(context, None)


def _type_path(path: str) -> TypeInfo | None:
    try:
        info = type_info("".join(part[:1].upper() + part[1:] for part in path.split(".")))
    except (KeyError, ValueError):
        return None
    return info if info.path == path else None


class InvariantTable:
    """The invariants by node context, with their expressions compiled once."""

    def __init__(self, registry: Registry) -> None:
        data = registry.data.get(TABLE)
        if data is None:
            raise ValueError(f"the registry has no {TABLE}.json")
        self.invariants: list[Invariant] = []
        self.by_context: dict[str, list[tuple[Invariant, str | None]]] = {}
        for raw in data["invariants"]:
            contexts = raw["context"]
            inv = Invariant(
                key=raw["key"],
                severity=raw["severity"],
                contexts=tuple(contexts) if isinstance(contexts, list) else (contexts,),
                human=raw["human"],
                expression=raw["expression"],
                evaluated=raw.get("evaluate", raw["expression"]),
            )
            compiled(inv.evaluated)
            compile_fast(inv.evaluated)
            self.invariants.append(inv)
            for context in inv.contexts:
                target = _resolve(context)
                self.by_context.setdefault(target.context, []).append((inv, target.element))
        self._per_type: dict[tuple[str, ...], tuple[tuple[Invariant, str | None], ...]] = {}

    def for_node(self, node: Node) -> tuple[tuple[Invariant, str | None], ...]:
        contexts = node.contexts
        found = self._per_type.get(contexts)
        if found is None:
            found = tuple(item for c in contexts for item in self.by_context.get(c, ()))
            self._per_type[contexts] = found
        return found


@cache
def _default_table() -> InvariantTable:
    return InvariantTable(default_registry())


def validate_invariants(
    resource: dict[str, Any],
    *,
    walked: Walked | None = None,
    registry: Registry | None = None,
) -> list[Issue]:
    """An ``invariant`` issue for every instance that breaks a base R4 invariant."""
    table = _default_table() if registry is None else InvariantTable(registry)
    issues: list[Issue] = []
    for node in (walked or walk(resource)).nodes:
        for inv, element in table.for_node(node):
            if element is not None and node.data.get(element) is None:
                continue
            expr = (
                node.expression if element is None else child_expression(node.expression, element)
            )
            try:
                ok = inv.evaluate(node, element)
            except Exception as exc:  # noqa: BLE001 - malformed data must not become a 500
                # fhirpathpy fails on some valid shapes (a primitive with only extensions in a
                # comparison): say so without rejecting the resource.
                # The exception text can quote the data (maybe a person's number): name only.
                note = f" (not evaluated: fhirpathpy raised {type(exc).__name__})"
                issues.append(_issue(inv, expr, note, "warning"))
                continue
            if not ok:
                issues.append(_issue(inv, expr, ""))
    return issues


def _issue(inv: Invariant, expression: str, note: str, severity: Severity | None = None) -> Issue:
    if severity is None:
        severity = "warning" if inv.severity == "warning" else "error"
    return Issue(
        severity,
        "invariant",
        f"{inv.key}: {inv.human}{note}",
        (expression,),
        Code.INVARIANT,
    )
