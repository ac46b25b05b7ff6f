"""FHIRPath compiled to Python closures, for the part of it that invariants and constraints use.

fhirpathpy interprets its syntax tree on every evaluation and wraps each value it touches; that is
most of what validating a pushed Bundle costs. The R4 invariants and forlop's profile constraints
use a small part of FHIRPath (navigation, ``where``/``all``/``exists``/``select``, equality,
boolean logic, membership, a few string functions), which compiles here, once per expression, to
plain closures over the JSON and the element tables of :mod:`adapter.validation.walk`.

Two ways out keep the verdicts exactly fhirpathpy's (tests run both on every expression and every
fixture):

- :func:`compile_fast` returns None for an expression that uses anything else (``resolve()``,
  ``children()``, type operators on primitives, indexers, ...): the caller keeps fhirpathpy;
- evaluation raises :class:`Unsure` where the JSON alone does not settle FHIRPath's answer (a
  primitive with a ``_name`` companion, dates compared with each other, a non-boolean where a
  boolean is expected, several values where one is): the caller asks fhirpathpy for that instance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
from typing import Any

from fhirpathpy.parser import parse

from adapter.validation.walk import Elem, TypeInfo, resource_info, type_info

__all__ = ["Env", "Item", "Program", "Unsure", "compile_fast"]

# A value and what it is: the table of a complex value or resource, the name of a primitive type.
Item = tuple[Any, "TypeInfo | str"]
Env = Mapping[str, Any]  # %resource, %rootResource, %context: JSON resources or instances
Eval = Callable[[list[Item], list[Item], Env], list[Item]]  # (focus, $this, env) -> result
Program = Callable[[Any, TypeInfo, Env], "bool | None"]  # instance, its table, env -> verdict

_TEMPORAL = frozenset({"date", "dateTime", "instant", "time"})
_BOOLEAN = "boolean"
_STRING = "string"
_INTEGER = "integer"


class Unsure(Exception):
    """The JSON does not settle what FHIRPath answers here: ask fhirpathpy."""


class _NotCompiled(Exception):
    """The expression uses FHIRPath this module does not compile."""


@cache
def compile_fast(expression: str) -> Program | None:
    """The invariant as a function of an instance, or None when it must stay with fhirpathpy.

    The function answers FHIRPath's truth of the expression on the instance (True, False, or None
    for an empty result) and raises :class:`Unsure` when it cannot tell.
    """
    try:
        tree: dict[str, Any] = parse(expression)  # type: ignore[no-untyped-call]
        run = _expression(tree["children"][0])
    except _NotCompiled:
        return None

    def program(data: Any, info: TypeInfo, env: Env) -> bool | None:
        root: list[Item] = [(data, info)]
        return _truth(run(root, root, env))

    return program


# -- values ----------------------------------------------------------------------------------


def _truth(items: list[Item]) -> bool | None:
    """A collection where FHIRPath expects one boolean: None for empty."""
    if not items:
        return None
    if len(items) == 1 and isinstance(items[0][0], bool):
        return bool(items[0][0])
    raise Unsure


def _boolean(value: bool | None) -> list[Item]:
    return [] if value is None else [(value, _BOOLEAN)]


def _scalar(item: Item) -> Any:
    """The value of a primitive that compares by value (not a date, not an object)."""
    value, kind = item
    if isinstance(value, dict | list) or kind in _TEMPORAL or isinstance(kind, TypeInfo):
        raise Unsure
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _flat(item: Item) -> dict[str, Any] | None:
    """A complex value whose children are all plain strings or booleans (a Coding, mostly):
    FHIRPath's child-by-child equality is then the JSON's. None for anything else."""
    value, kind = item
    if not isinstance(kind, TypeInfo) or not isinstance(value, dict):
        return None
    for key, child in value.items():
        elem = kind.elements.get(key)
        if elem is None or elem.type_name in _TEMPORAL or not isinstance(child, str | bool):
            return None
    return value


def _equal(a: Item, b: Item) -> bool:
    if isinstance(a[1], TypeInfo) or isinstance(b[1], TypeInfo):
        left_flat, right_flat = _flat(a), _flat(b)
        if left_flat is None or right_flat is None:
            raise Unsure
        return left_flat == right_flat
    left, right = _scalar(a), _scalar(b)
    if isinstance(left, bool) != isinstance(right, bool) or isinstance(left, str) != isinstance(
        right, str
    ):
        raise Unsure  # FHIRPath's conversions between kinds are left to fhirpathpy
    return bool(left == right)


def _single_string(items: list[Item]) -> str | None:
    if not items:
        return None
    if len(items) > 1 or not isinstance(items[0][0], str) or items[0][1] in _TEMPORAL:
        raise Unsure
    return str(items[0][0])


def _children(elem: Elem, value: Any) -> TypeInfo | str:
    if elem.kind == "primitive":
        return elem.type_name
    if elem.kind == "resource":
        info = resource_info(value)
        if info is None:
            raise Unsure
        return info
    return type_info(elem.type_name)


def _member(items: list[Item], name: str) -> list[Item]:
    out: list[Item] = []
    for value, kind in items:
        if not isinstance(kind, TypeInfo) or not isinstance(value, dict):
            continue  # a primitive without a _name companion has no children
        if name[:1].isupper():
            # A type name at the head of a path ("Appointment.status"): the resource itself.
            if not kind.is_resource:
                raise Unsure
            if kind.name == name:
                out.append((value, kind))
            continue
        keys = kind.choices.get(name)
        if keys is None:
            if name not in kind.elements:
                raise Unsure
            keys = (name,)
        elif sum(key in value for key in keys) > 1:
            raise Unsure  # two value[x] at once: broken structure, read as fhirpathpy reads it
        for key in keys:
            if "_" + key in value:
                raise Unsure  # the primitive carries extensions: FHIRPath sees more than JSON
            found = value.get(key)
            if found is None:
                continue
            elem = kind.elements[key]
            for child in found if isinstance(found, list) else (found,):
                if child is None:
                    raise Unsure
                out.append((child, _children(elem, child)))
    return out


# -- syntax -----------------------------------------------------------------------------------


def _kids(ast: dict[str, Any]) -> list[dict[str, Any]]:
    kids: list[dict[str, Any]] = ast.get("children") or []
    return kids


def _op(ast: dict[str, Any]) -> str:
    return str((ast.get("terminalNodeText") or [""])[0])


def _expression(ast: dict[str, Any]) -> Eval:
    kind = ast.get("type")
    kids = _kids(ast)
    if kind == "TermExpression":
        return _term(kids[0])
    if kind == "InvocationExpression":
        return _invocation(_expression(kids[0]), kids[1])
    if kind in ("AndExpression", "OrExpression", "ImpliesExpression"):
        return _logic(_op(ast), _expression(kids[0]), _expression(kids[1]))
    if kind == "EqualityExpression" and _op(ast) in ("=", "!="):
        return _equality(_op(ast) == "=", _expression(kids[0]), _expression(kids[1]))
    if kind == "InequalityExpression":
        return _inequality(_op(ast), _expression(kids[0]), _expression(kids[1]))
    if kind == "MembershipExpression":
        left, right = _expression(kids[0]), _expression(kids[1])
        return _membership(left, right) if _op(ast) == "in" else _membership(right, left)
    if kind == "UnionExpression":
        return _union(_expression(kids[0]), _expression(kids[1]))
    if kind == "AdditiveExpression" and _op(ast) == "&":
        return _concatenation(_expression(kids[0]), _expression(kids[1]))
    raise _NotCompiled


def _term(ast: dict[str, Any]) -> Eval:
    kind = ast.get("type")
    kids = _kids(ast)
    if kind == "ParenthesizedTerm":
        return _expression(kids[0])
    if kind == "InvocationTerm":
        return _invocation(None, kids[0])
    if kind == "LiteralTerm":
        constant = _literal(kids[0])
        return lambda focus, this, env: constant
    if kind == "ExternalConstantTerm":
        name = str(_kids(kids[0])[0].get("text"))
        if name not in ("resource", "rootResource", "context"):
            raise _NotCompiled

        def external(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
            value = env.get(name)
            if value is None:
                return []
            info = resource_info(value)
            if info is None:
                raise Unsure
            return [(value, info)]

        return external
    raise _NotCompiled


def _literal(ast: dict[str, Any]) -> list[Item]:
    kind = ast.get("type")
    text = str(ast.get("text", ""))
    if kind == "NullLiteral":
        return []
    if kind == "BooleanLiteral":
        return [(text == "true", _BOOLEAN)]
    if kind == "StringLiteral" and "\\" not in text:
        return [(text[1:-1], _STRING)]
    if kind == "NumberLiteral":
        return [(int(text), _INTEGER) if text.isdigit() else (Decimal(text), "decimal")]
    raise _NotCompiled


def _invocation(head: Eval | None, ast: dict[str, Any]) -> Eval:
    """``head.member`` or ``head.function(...)``; without a head, on the focus."""
    kind = ast.get("type")
    kids = _kids(ast)
    if kind == "MemberInvocation":
        step = _member_step(str(kids[0].get("text")))
    elif kind == "ThisInvocation":
        if head is not None:
            raise _NotCompiled
        return lambda focus, this, env: this
    elif kind == "FunctionInvocation":
        functn = _kids(kids[0])
        name = str(functn[0].get("text"))
        params = [_kids(p) for p in functn[1:] if p.get("type") == "ParamList"]
        step = _function(name, params[0] if params else [])
    else:
        raise _NotCompiled
    if head is None:
        return step
    first = head

    def chained(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
        return step(first(focus, this, env), this, env)

    return chained


def _member_step(name: str) -> Eval:
    def member(items: list[Item], this: list[Item], env: Env) -> list[Item]:
        return _member(items, name)

    return member


def _string_argument(args: list[dict[str, Any]]) -> str:
    if len(args) != 1:
        raise _NotCompiled
    term = args[0]
    if term.get("type") != "TermExpression" or _kids(term)[0].get("type") != "LiteralTerm":
        raise _NotCompiled
    value = _literal(_kids(_kids(term)[0])[0])
    if len(value) != 1 or not isinstance(value[0][0], str):
        raise _NotCompiled
    return str(value[0][0])


def _type_argument(args: list[dict[str, Any]]) -> str:
    if len(args) != 1 or args[0].get("type") != "TermExpression":
        raise _NotCompiled
    invocation = _kids(args[0])[0]
    if invocation.get("type") != "InvocationTerm":
        raise _NotCompiled
    member = _kids(invocation)[0]
    if member.get("type") != "MemberInvocation":
        raise _NotCompiled
    return str(_kids(member)[0].get("text"))


def _function(name: str, args: list[dict[str, Any]]) -> Eval:  # noqa: C901, PLR0911, PLR0912 - one table
    """The function ``name`` applied to its input collection."""
    if name in _SIMPLE and not args:
        simple = _SIMPLE[name]
        return lambda items, this, env: simple(items)
    if name == "trace":
        return lambda items, this, env: items
    if name in ("where", "all", "exists", "select") and len(args) == 1:
        criteria = _expression(args[0])
        return _LAMBDAS[name](criteria)
    if name in ("startsWith", "endsWith", "contains"):
        text = _string_argument(args)
        test = {
            "startsWith": str.startswith,
            "endsWith": str.endswith,
            "contains": str.__contains__,
        }[name]

        def string_test(items: list[Item], this: list[Item], env: Env) -> list[Item]:
            value = _single_string(items)
            return [] if value is None else _boolean(test(value, text))

        return string_test
    if name == "matches":
        pattern = re.compile(_string_argument(args), re.DOTALL)

        def matches(items: list[Item], this: list[Item], env: Env) -> list[Item]:
            value = _single_string(items)
            return [] if value is None else _boolean(pattern.search(value) is not None)

        return matches
    if name in ("is", "ofType"):
        wanted = _type_argument(args)
        keep = name == "ofType"

        def typed(items: list[Item], this: list[Item], env: Env) -> list[Item]:
            if not keep and len(items) > 1:
                raise Unsure
            found = [item for item in items if _is_type(item, wanted)]
            if keep:
                return found
            return _boolean(bool(found)) if items else []

        return typed
    if name == "iif" and len(args) in (2, 3):
        criterion, then = _expression(args[0]), _expression(args[1])
        otherwise = _expression(args[2]) if len(args) == 3 else None

        def iif(items: list[Item], this: list[Item], env: Env) -> list[Item]:
            # The criterion and the branches run on the input, as fhirpathpy runs them.
            if _truth(criterion(items, items, env)) is True:
                return then(items, items, env)
            return [] if otherwise is None else otherwise(items, items, env)

        return iif
    if name == "substring" and len(args) == 1:
        start = _integer_argument(args[0])

        def substring(items: list[Item], this: list[Item], env: Env) -> list[Item]:
            value = _single_string(items)
            if value is None or start >= len(value):
                return []
            return [(value[start:], _STRING)]

        return substring
    if name == "intersect" and len(args) == 1 and _external_head(args[0]):
        # fhirpathpy evaluates the argument at the root; one that starts from %resource (as
        # obs-7 does) reads the same from anywhere.
        other = _expression(args[0])

        def intersect(items: list[Item], this: list[Item], env: Env) -> list[Item]:
            theirs = other(this, this, env)
            out: list[Item] = []
            for item in items:
                if any(_equal(item, x) for x in theirs) and not any(_equal(item, y) for y in out):
                    out.append(item)
            return out

        return intersect
    raise _NotCompiled


# Primitive types that others specialise (code is a string, positiveInt an integer, ...).
_SUPERTYPES = frozenset({"string", "integer", "uri", "decimal"})


def _is_type(item: Item, wanted: str) -> bool:
    """Whether the item is of FHIR type ``wanted`` (``is``/``ofType`` with a FHIR type name)."""
    value, kind = item
    if isinstance(kind, TypeInfo):
        if wanted == kind.name or wanted in kind.names:
            return True
        return False
    if kind == wanted:
        return True
    if wanted in _SUPERTYPES or wanted[:1].isupper():
        raise Unsure  # system types (String, Integer) and supertypes: fhirpathpy's rules
    return False


def _external_head(ast: dict[str, Any]) -> bool:
    """Whether the expression is a path that starts from an external constant (%resource)."""
    while ast.get("type") == "InvocationExpression":
        ast = _kids(ast)[0]
    return ast.get("type") == "TermExpression" and (
        _kids(ast)[0].get("type") == "ExternalConstantTerm"
    )


def _integer_argument(term: dict[str, Any]) -> int:
    if term.get("type") != "TermExpression" or _kids(term)[0].get("type") != "LiteralTerm":
        raise _NotCompiled
    value = _literal(_kids(_kids(term)[0])[0])
    if len(value) != 1 or value[0][1] != _INTEGER:
        raise _NotCompiled
    return int(value[0][0])


def _empty(items: list[Item]) -> list[Item]:
    return _boolean(not items)


def _exists(items: list[Item]) -> list[Item]:
    return _boolean(bool(items))


def _not(items: list[Item]) -> list[Item]:
    value = _truth(items)
    return [] if value is None else _boolean(not value)


def _count(items: list[Item]) -> list[Item]:
    return [(len(items), _INTEGER)]


def _has_value(items: list[Item]) -> list[Item]:
    return _boolean(len(items) == 1 and not isinstance(items[0][1], TypeInfo))


def _distinct_values(items: list[Item]) -> list[Any]:
    return [_scalar(item) for item in items]


def _is_distinct(items: list[Item]) -> list[Item]:
    values = _distinct_values(items)
    return _boolean(len(set(values)) == len(values))


def _length(items: list[Item]) -> list[Item]:
    value = _single_string(items)
    return [] if value is None else [(len(value), _INTEGER)]


_SIMPLE: dict[str, Callable[[list[Item]], list[Item]]] = {
    "empty": _empty,
    "exists": _exists,
    "not": _not,
    "count": _count,
    "hasValue": _has_value,
    "isDistinct": _is_distinct,
    "length": _length,
    "first": lambda items: items[:1],
    "last": lambda items: items[-1:],
    "tail": lambda items: items[1:],
}


def _where(criteria: Eval) -> Eval:
    def where(items: list[Item], this: list[Item], env: Env) -> list[Item]:
        return [item for item in items if _truth(criteria([item], [item], env)) is True]

    return where


def _all(criteria: Eval) -> Eval:
    def all_(items: list[Item], this: list[Item], env: Env) -> list[Item]:
        return _boolean(all(_truth(criteria([item], [item], env)) is True for item in items))

    return all_


def _exists_where(criteria: Eval) -> Eval:
    def exists(items: list[Item], this: list[Item], env: Env) -> list[Item]:
        return _boolean(any(_truth(criteria([item], [item], env)) is True for item in items))

    return exists


def _select(projection: Eval) -> Eval:
    def select(items: list[Item], this: list[Item], env: Env) -> list[Item]:
        return [out for item in items for out in projection([item], [item], env)]

    return select


_LAMBDAS: dict[str, Callable[[Eval], Eval]] = {
    "where": _where,
    "all": _all,
    "exists": _exists_where,
    "select": _select,
}


# -- operators --------------------------------------------------------------------------------


def _logic(op: str, left: Eval, right: Eval) -> Eval:
    """and, or, xor, implies with FHIRPath's empty (None) as the third value."""
    if op not in ("and", "or", "xor", "implies"):
        raise _NotCompiled

    def logic(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
        a = _truth(left(focus, this, env))
        if op == "and" and a is False:
            return _boolean(False)
        if op == "or" and a is True:
            return _boolean(True)
        if op == "implies" and a is False:
            return _boolean(True)
        b = _truth(right(focus, this, env))
        if op == "and":
            return _boolean(False if b is False else (True if a is True and b is True else None))
        if op == "or":
            return _boolean(True if b is True else (False if a is False and b is False else None))
        if op == "xor":
            return _boolean(None if a is None or b is None else a != b)
        return _boolean(b if a is True else (True if b is True else None))  # implies

    return logic


def _equality(equal: bool, left: Eval, right: Eval) -> Eval:
    def compare(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
        a, b = left(focus, this, env), right(focus, this, env)
        if not a or not b:
            return []
        same = len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
        return _boolean(same is equal)

    return compare


def _inequality(op: str, left: Eval, right: Eval) -> Eval:
    test: Callable[[Any, Any], bool] | None = {
        "<": lambda x, y: x < y,
        ">": lambda x, y: x > y,
        "<=": lambda x, y: x <= y,
        ">=": lambda x, y: x >= y,
    }.get(op)
    if test is None:
        raise _NotCompiled
    order = test

    def compare(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
        a, b = left(focus, this, env), right(focus, this, env)
        if not a or not b:
            return []
        if len(a) > 1 or len(b) > 1:
            raise Unsure
        x, y = _scalar(a[0]), _scalar(b[0])
        if not all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in (x, y)):
            raise Unsure  # strings and quantities order by rules left to fhirpathpy
        return _boolean(order(x, y))

    return compare


def _membership(element: Eval, collection: Eval) -> Eval:
    """``element in collection`` (``collection contains element`` swaps the operands)."""

    def member(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
        one, many = element(focus, this, env), collection(focus, this, env)
        if not one:
            return []
        if len(one) > 1:
            raise Unsure
        return _boolean(any(_equal(one[0], item) for item in many))

    return member


def _union(left: Eval, right: Eval) -> Eval:
    def union(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
        out: list[Item] = []
        seen: set[Any] = set()
        for item in left(focus, this, env) + right(focus, this, env):
            value = _scalar(item)
            if value not in seen:
                seen.add(value)
                out.append(item)
        return out

    return union


def _concatenation(left: Eval, right: Eval) -> Eval:
    """``a & b``: strings joined, an empty side read as ''."""

    def concatenate(focus: list[Item], this: list[Item], env: Env) -> list[Item]:
        parts = []
        for side in (left(focus, this, env), right(focus, this, env)):
            if len(side) > 1 or (side and not isinstance(side[0][0], str)):
                raise Unsure
            parts.append(str(side[0][0]) if side else "")
        return [(parts[0] + parts[1], _STRING)]

    return concatenate


@cache
def type_path_info(path: str) -> TypeInfo | None:
    """The table of a FHIRPath model type path (``Observation``, ``Goal.target``, ``Coding``),
    or None for a primitive or a path the tables do not know."""
    if not path[:1].isupper():
        return None
    try:
        info = type_info("".join(part[:1].upper() + part[1:] for part in path.split(".")))
    except (KeyError, ValueError):
        return None
    return info if info.path == path else None
