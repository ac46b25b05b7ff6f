"""SearchParameter expressions compiled to plain key paths (a subset of FHIRPath N1).

Evaluating FHIRPath with a general engine on every write is far too slow for ingest, and the R4
search expressions use very little of the language. Each expression is compiled once, per
resource type, into :class:`Path` objects: the JSON keys to follow from the resource root, the
FHIR type found at the end, and an optional ``resolve() is Type`` filter. Extraction is then a
few dictionary lookups.

The accepted subset, checked against the R4 model so a typo cannot silently index nothing::

    expression := term ('|' term)*
    term       := chain | '(' chain 'as' Type ')' step*
    chain      := Name step*
    step       := '.' Name | '.where(resolve() is Type)' | '.as(Type)' | '.ofType(Type)'

A name that is a choice element (``effective`` for ``effective[x]``) expands to every choice;
``as``/``ofType`` keeps the one of that type. Anything else is refused with
:class:`UnsupportedExpression` when the parameters are loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapter.fhir.errors import Code, FhirError, invalid
from adapter.fhir.models import elements_of

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[.()|]))")
_ABSTRACT_ROOTS = frozenset({"Resource", "DomainResource"})
# The model metadata names two primitives after their Python types.
_FHIR_TYPE = {"bool": "boolean", "encodedBytes": "base64Binary"}


def _leaf(primitive: str | None, type_name: str | None) -> str:
    name = primitive or type_name or ""
    return _FHIR_TYPE.get(name, name)


def unsupported(expression: str, reason: str) -> FhirError:
    return invalid(
        f"The search expression '{expression}' is outside the FHIRPath subset forlop "
        f"compiles: {reason}.",
        expression="SearchParameter.expression",
        forlop_code=Code.SEARCH_EXPRESSION_UNSUPPORTED,
    )


@dataclass(frozen=True, slots=True)
class Path:
    """Keys to follow from the resource root; ``leaf`` is the FHIR type of what is found."""

    keys: tuple[str, ...]
    leaf: str
    resolve_is: str | None = None
    from_choice: bool = False

    def values(self, resource: dict[str, Any]) -> Iterator[Any]:
        """Every value at the end of the path (lists flattened)."""
        current: list[Any] = [resource]
        for key in self.keys:
            following: list[Any] = []
            for node in current:
                if isinstance(node, dict):
                    found = node.get(key)
                    if isinstance(found, list):
                        following.extend(found)
                    elif found is not None:
                        following.append(found)
            current = following
            if not current:
                return
        yield from current


def _tokens(expression: str) -> list[str]:
    out: list[str] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise unsupported(expression, f"unexpected text at '{text[position:]}'")
        out.append(match["name"] or match["punct"])
        position = match.end()
    return out


class _Compiler:
    def __init__(self, expression: str, resource_type: str) -> None:
        self.expression = expression
        self.resource_type = resource_type
        self.tokens = _tokens(expression)
        self.position = 0

    def fail(self, reason: str) -> FhirError:
        return unsupported(self.expression, reason)

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise self.fail(f"expected '{expected or 'more'}' after token {self.position}")
        self.position += 1
        return token

    def union(self) -> list[Path]:
        paths = self.term()
        while self.peek() == "|":
            self.take("|")
            paths.extend(self.term())
        if self.peek() is not None:
            raise self.fail(f"unexpected '{self.peek()}'")
        return paths

    def term(self) -> list[Path]:
        """Paths of one union branch; empty when the branch is about another resource type."""
        if self.peek() == "(":
            self.take("(")
            paths = self.chain()
            self.take("as")
            paths = self.only_type(paths, self.take())
            self.take(")")
        else:
            paths = self.chain()
        while self.peek() == ".":
            paths = self.step(paths)
        return paths

    def chain(self) -> list[Path]:
        root = self.take()
        applies = root == self.resource_type or root in _ABSTRACT_ROOTS
        paths = [Path((), self.resource_type if applies else root)]
        while self.peek() == ".":
            paths = self.step(paths)
        return paths if applies else []

    def step(self, paths: list[Path]) -> list[Path]:
        self.take(".")
        name = self.take()
        if name in ("as", "ofType"):
            self.take("(")
            type_name = self.take()
            self.take(")")
            return self.only_type(paths, type_name)
        if name == "where":
            for token in ("(", "resolve", "(", ")", "is"):
                self.take(token)
            type_name = self.take()
            self.take(")")
            if any(p.leaf not in ("Reference", "canonical") for p in paths):
                raise self.fail("resolve() is applied to something that is not a reference")
            return [Path(p.keys, p.leaf, type_name, p.from_choice) for p in paths]
        if self.peek() == "(":
            raise self.fail(f"the function {name}() is not supported")
        return [child for p in paths for child in self.child(p, name)]

    def child(self, path: Path, name: str) -> list[Path]:
        if path.resolve_is is not None:
            raise self.fail("navigation after resolve() is not supported")
        if path.leaf[:1].islower():
            raise self.fail(f"'{name}' is below the primitive type {path.leaf}")
        try:
            elements = elements_of(path.leaf)
        except (KeyError, ValueError, AttributeError):
            raise self.fail(f"{path.leaf} is not a type this server knows") from None
        info = elements.get(name)
        if info is not None:
            return [Path((*path.keys, name), _leaf(info.primitive, info.type_name))]
        choices = [i for i in elements.values() if i.choice_group == name]
        if not choices:
            raise self.fail(f"{path.leaf} has no element '{name}'")
        return [
            Path((*path.keys, i.name), _leaf(i.primitive, i.type_name), None, True) for i in choices
        ]

    def only_type(self, paths: list[Path], type_name: str) -> list[Path]:
        kept = [p for p in paths if p.leaf == type_name]
        if paths and not kept:
            raise self.fail(f"nothing in it is of type {type_name}")
        return kept


def compile_expression(expression: str, resource_type: str) -> list[Path]:
    """The paths of ``expression`` that apply to ``resource_type`` (empty when none do).

    Raises a 400 :class:`FhirError` (:data:`Code.SEARCH_EXPRESSION_UNSUPPORTED`) for anything
    outside the supported subset, or a path the R4 model does not have.
    """
    return _Compiler(expression, resource_type).union()
