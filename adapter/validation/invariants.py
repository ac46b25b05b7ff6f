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

Speed: most invariants are settled by which elements an instance has (``detail.empty() or ...``,
``type != 'display' or ...``). The deciders at the end of this module read that much of an
expression's syntax tree and settle it from the JSON keys alone when they can, with FHIRPath's
three-valued logic; anything they cannot settle goes to fhirpathpy. Tests check both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.parser import parse

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

    def decide(self, node: Node) -> bool | None:
        """The result from the instance's keys alone, or None when FHIRPath must run."""
        result = _shortcut(self.evaluated)(node.data, node.info)
        return result if isinstance(result, bool) else None

    def evaluate(self, node: Node, element: str | None = None) -> bool:
        """True when the instance satisfies the invariant; raises on evaluation failure."""
        key = VERDICTS.key(self.evaluated, f"{node.info.path}|{element or ''}", node.data)
        held = VERDICTS.get(key)
        if held is None:
            held = self._evaluate(node, element)
            VERDICTS.put(key, held)
        return held

    def _evaluate(self, node: Node, element: str | None) -> bool:
        program = compile_fast(_text(self.evaluated, element))
        if program is not None:
            try:
                return program(node.data, node.info, _env(node)) is not False
            except Unsure:
                pass  # the JSON does not settle it: fhirpathpy decides
        return self.fhirpath(node, element)

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
            decided = inv.decide(node) if element is None else None
            try:
                ok = decided if decided is not None else inv.evaluate(node, element)
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


# -- deciding from the keys ------------------------------------------------------------------

Decide = Callable[[dict[str, Any], TypeInfo], "bool | int | None"]
_FILTERS = frozenset({"where", "select", "ofType", "first", "last", "tail", "distinct"})
_SCALARS = (str, int, float, Decimal, bool)


class _Marker:
    """A JSON state that is not a value."""


_ABSENT = _Marker()  # the instance lacks the element: FHIRPath sees an empty collection
_UNSURE = _Marker()  # FHIRPath may see something the JSON does not say plainly


def _unknown(_data: dict[str, Any], _info: TypeInfo) -> None:
    return None


@cache
def _shortcut(expression: str) -> Decide:
    tree: dict[str, Any] = parse(expression)  # type: ignore[no-untyped-call]
    return _decider(tree["children"][0])


def _decider(ast: dict[str, Any]) -> Decide:
    """A decider for the part of FHIRPath that JSON keys settle; ``_unknown`` elsewhere."""
    kind = ast.get("type")
    kids = ast.get("children") or []
    op = (ast.get("terminalNodeText") or [""])[0]
    if kind == "TermExpression" and kids and kids[0].get("type") == "ParenthesizedTerm":
        return _decider(kids[0]["children"][0])
    if kind == "InvocationExpression" and len(kids) == 2 and _step(kids[1]) == ("fn", "not"):
        inner = _decider(kids[0])
        if inner is not _unknown:
            return _negation(inner)  # "(a and b).not()": the chain decider cannot see the parens
    if kind in ("OrExpression", "AndExpression", "ImpliesExpression") and len(kids) == 2:
        return _logic(op, _decider(kids[0]), _decider(kids[1]))
    if kind == "EqualityExpression" and op in ("=", "!=") and len(kids) == 2:
        return _equality(op == "=", kids[0], kids[1])
    if kind == "InequalityExpression" and len(kids) == 2:
        return _count_compare(op, kids[0], kids[1])
    if kind in ("TermExpression", "InvocationExpression"):
        return _chain(ast)
    return _unknown


def _logic(op: str, left: Decide, right: Decide) -> Decide:
    """or, xor, and, implies with FHIRPath's empty (None) as the third value."""

    def decide(data: dict[str, Any], info: TypeInfo) -> bool | None:
        a, b = left(data, info), right(data, info)
        if not isinstance(a, bool):
            a = None
        if not isinstance(b, bool):
            b = None
        if op == "or":
            return True if True in (a, b) else (False if a is False and b is False else None)
        if op == "and":
            return False if False in (a, b) else (True if a is True and b is True else None)
        if op == "xor":
            return None if a is None or b is None else a != b
        if op == "implies":
            return True if a is False else (b if a is True else None)
        return None

    return decide


def _negation(inner: Decide) -> Decide:
    """not() of a decided boolean; an empty (None) input stays empty, as in FHIRPath."""

    def decide(data: dict[str, Any], info: TypeInfo) -> bool | None:
        result = inner(data, info)
        return (not result) if isinstance(result, bool) else None

    return decide


def _literal(ast: dict[str, Any], kind: str) -> str | None:
    """The text of a string or number literal term, else None."""
    if ast.get("type") != "TermExpression":
        return None
    lit = (ast.get("children") or [{}])[0]
    if lit.get("type") != "LiteralTerm":
        return None
    inner = (lit.get("children") or [{}])[0]
    if inner.get("type") != kind:
        return None
    text = str(inner.get("text", ""))
    return text[1:-1] if kind == "StringLiteral" else text


def _equality(equal: bool, left_ast: dict[str, Any], right_ast: dict[str, Any]) -> Decide:
    literal = _literal(right_ast, "StringLiteral")
    steps = _steps(left_ast)
    if literal is not None and "\\" not in literal and steps and len(steps) == 1:
        name = steps[0][1]

        def compare(data: dict[str, Any], info: TypeInfo) -> bool | None:
            value = _state(data, info, name)
            if not isinstance(value, str):
                return None  # absent (an empty result), a list, or not plain
            return (value == literal) is equal

        return compare
    left, right = _decider(left_ast), _decider(right_ast)

    def booleans(data: dict[str, Any], info: TypeInfo) -> bool | None:
        a, b = left(data, info), right(data, info)
        if isinstance(a, bool) and isinstance(b, bool):
            return (a == b) is equal
        return None

    return booleans


def _count_compare(op: str, left_ast: dict[str, Any], right_ast: dict[str, Any]) -> Decide:
    """``x.count() > 2`` and its kin."""
    number = _literal(right_ast, "NumberLiteral")
    steps = _steps(left_ast)
    if number is None or not number.isdigit() or not steps or steps[-1] != ("fn", "count"):
        return _unknown
    bound = int(number)
    compare: Callable[[int], bool] | None = {
        ">": bound.__lt__,
        "<": bound.__gt__,
        ">=": bound.__le__,
        "<=": bound.__ge__,
    }.get(op)
    if compare is None:
        return _unknown
    count = _chain(left_ast)

    def decide(data: dict[str, Any], info: TypeInfo) -> bool | None:
        n = count(data, info)
        return compare(n) if isinstance(n, int) and not isinstance(n, bool) else None

    return decide


def _steps(ast: dict[str, Any]) -> list[tuple[str, str]] | None:
    """``a.b.where(...).exists()`` as [(member, a), (member, b), (fn, where), (fn, exists)];
    None when the chain starts elsewhere ($this, %resource, a literal, a bare function)."""
    kind = ast.get("type")
    kids = ast.get("children") or []
    if kind == "InvocationExpression" and len(kids) == 2:
        head = _steps(kids[0])
        step = _step(kids[1])
        if head is None or step is None:
            return None
        return head if step == ("fn", "trace") else [*head, step]  # trace() passes its input on
    if kind == "TermExpression" and kids and kids[0].get("type") == "InvocationTerm":
        step = _step(kids[0]["children"][0])
        return [step] if step is not None and step[0] == "member" else None
    return None


def _step(ast: dict[str, Any]) -> tuple[str, str] | None:
    kind = ast.get("type")
    kids = ast.get("children") or []
    if kind == "MemberInvocation":
        return ("member", str(kids[0].get("text")))
    if kind != "FunctionInvocation":
        return None
    functn = kids[0]["children"]
    name = str(functn[0].get("text"))
    params = [c for c in functn[1:] if c.get("type") == "ParamList"]
    if not params:
        return ("fn", name)
    if name == "startsWith":
        literal = _literal(params[0]["children"][0], "StringLiteral")
        return None if literal is None else ("startsWith", literal)
    if name == "trace":
        return ("fn", "trace")
    if name in _FILTERS:
        return ("fn", name)
    if name == "exists":
        return ("fn", "exists?")  # exists(criteria): false on an empty input, else unknown
    return None


def _state(data: dict[str, Any], info: TypeInfo, name: str) -> Any:
    """The JSON value of element ``name`` (a choice by its base name), or a marker."""
    if name[:1].isupper():
        return _UNSURE  # "Appointment.status": a type name, not an element
    keys = info.choices.get(name, (name,))
    if any("_" + k in data for k in keys):
        return _UNSURE  # a primitive with extensions reads differently in FHIRPath
    found = [k for k in keys if k in data]
    if not found:
        return _ABSENT
    if len(found) > 1 or data[found[0]] is None:
        return _UNSURE
    value = data[found[0]]
    return _ABSENT if value == [] else value


def _chain(ast: dict[str, Any]) -> Decide:
    """member(s), filters, one closing function and any number of not()."""
    steps = _steps(ast)
    if not steps:
        return _unknown
    members = 0
    while members < len(steps) and steps[members][0] == "member":
        members += 1
    filters = members
    while filters < len(steps) and steps[filters][0] == "fn" and steps[filters][1] in _FILTERS:
        filters += 1
    tail = steps[filters:]
    if not tail or any(step != ("fn", "not") for step in tail[1:]):
        return _unknown
    terminal, nots = tail[0], len(tail) - 1
    name = steps[0][1]
    plain = members == 1 and filters == 1

    def decide(data: dict[str, Any], info: TypeInfo) -> bool | int | None:
        value = _state(data, info, name)
        if value is _UNSURE or (value is not _ABSENT and not plain):
            return None
        result = _terminal(terminal, value)
        for _ in range(nots):
            if not isinstance(result, bool):
                return None
            result = not result
        return result

    return decide


def _terminal(step: tuple[str, str], value: Any) -> bool | int | None:
    """The closing function of a one-element chain, on the element's JSON value."""
    kind, name = step
    if value is _ABSENT:
        if kind != "fn":
            return None  # startsWith() of nothing is empty
        empty_input: dict[str, bool | int] = {
            "empty": True,
            "exists": False,
            "exists?": False,
            "hasValue": False,
            "count": 0,
        }
        return empty_input.get(name)
    if kind == "startsWith":
        return value.startswith(name) if isinstance(value, str) else None
    if name == "empty":
        return False
    if name == "exists":
        return True
    if name == "hasValue":
        return isinstance(value, _SCALARS)
    if name == "count":
        return len(value) if isinstance(value, list) else 1
    return None
