"""Index rows of a resource, from the supported SearchParameters (FHIR R4 §3.1.1.4).

Each parameter's expression is compiled once per resource type (:mod:`.extractors`); a write then
turns the values found into :mod:`adapter.search.index` rows by the rules of the parameter type:

- token: Coding (system, code, display), CodeableConcept (each coding, plus its text), Identifier
  (system, value, type.text), ContactPoint (value), and code/string/id/uri/boolean primitives;
- reference: relative ``Type/id`` references, absolute URLs, canonicals (kept with ``|version``);
  contained (``#id``) and identifier-only references are not indexed;
- date: date, dateTime and instant as their precision's interval, Period (open ends unbounded),
  Timing events and bounds;
- string: string and markdown, every part of a HumanName or Address;
- uri: uri, url, canonical, oid and uuid values (kept as system-less token rows).

Compiling every shipped parameter happens when an :class:`Indexer` is built, so an unsupported
expression stops the server at start-up rather than silently indexing nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from adapter.search.index import DateRow, ReferenceRow, ResourceIndex, StringRow, TokenRow
from adapter.search.parameters import (
    ParamType,
    SearchParameter,
    SearchParameters,
    default_parameters,
)
from adapter.search.values import (
    DATE_MAX,
    DATE_MIN,
    cut,
    date_range,
    normalize_string,
    parse_reference,
)
from adapter.store.extractors import Path, compile_expression, unsupported

_LEAVES: dict[str, frozenset[str]] = {
    "token": frozenset(
        {
            "Coding",
            "CodeableConcept",
            "Identifier",
            "ContactPoint",
            "code",
            "string",
            "id",
            "uri",
            "boolean",
        }
    ),
    "reference": frozenset({"Reference", "canonical", "uri"}),
    "date": frozenset({"date", "dateTime", "instant", "Period", "Timing"}),
    "string": frozenset({"string", "markdown", "HumanName", "Address"}),
    "uri": frozenset({"uri", "url", "canonical", "oid", "uuid"}),
}
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")
_VALIDATION_TYPE = "Basic"  # a concrete type to compile Resource-level expressions against


@dataclass(frozen=True)
class CompiledParameter:
    code: str
    type: ParamType
    paths: tuple[Path, ...]


def compile_parameter(parameter: SearchParameter, resource_type: str) -> CompiledParameter:
    """Compile for one resource type, keeping only leaves the parameter type can index."""
    kept: list[Path] = []
    for path in compile_expression(parameter.expression, resource_type):
        if path.leaf in _LEAVES[parameter.type]:
            kept.append(path)
        elif not path.from_choice:
            raise unsupported(
                parameter.expression,
                f"a {parameter.type} parameter cannot index {path.leaf} ({'.'.join(path.keys)})",
            )
    return CompiledParameter(parameter.code, parameter.type, tuple(kept))


class Indexer:
    """Turns resources into :class:`ResourceIndex` rows using compiled SearchParameters."""

    def __init__(self, parameters: SearchParameters) -> None:
        self.parameters = parameters
        self._compiled: dict[str, tuple[CompiledParameter, ...]] = {}
        for parameter in parameters.all():
            for base in parameter.base:
                concrete = _VALIDATION_TYPE if base in ("Resource", "DomainResource") else base
                compile_parameter(parameter, concrete)

    def for_type(self, resource_type: str) -> tuple[CompiledParameter, ...]:
        compiled = self._compiled.get(resource_type)
        if compiled is None:
            compiled = tuple(
                compile_parameter(p, resource_type)
                for p in self.parameters.for_type(resource_type).values()
                if not p.is_column
            )
            self._compiled[resource_type] = compiled
        return compiled

    def index(self, resource: dict[str, Any]) -> ResourceIndex:
        out = ResourceIndex()
        for parameter in self.for_type(str(resource["resourceType"])):
            for path in parameter.paths:
                for value in path.values(resource):
                    _add(out, parameter, path, value)
        out.tokens = list(dict.fromkeys(out.tokens))
        out.references = list(dict.fromkeys(out.references))
        out.dates = list(dict.fromkeys(out.dates))
        out.strings = list(dict.fromkeys(out.strings))
        return out


def _add(out: ResourceIndex, parameter: CompiledParameter, path: Path, value: Any) -> None:
    code = parameter.code
    if parameter.type == "token":
        out.tokens.extend(_token_rows(code, path.leaf, value))
    elif parameter.type == "uri":
        if isinstance(value, str) and value:
            out.tokens.append(TokenRow(code, None, cut(value)))
    elif parameter.type == "reference":
        row = _reference_row(code, path, value)
        if row is not None:
            out.references.append(row)
    elif parameter.type == "date":
        out.dates.extend(DateRow(code, low, high) for low, high in _date_ranges(path.leaf, value))
    else:
        out.strings.extend(_string_rows(code, path.leaf, value))


def _text(value: Any) -> str | None:
    return normalize_string(value) if isinstance(value, str) and value else None


def _coding_row(code: str, coding: Any) -> TokenRow | None:
    if not isinstance(coding, dict):
        return None
    system, value = coding.get("system"), coding.get("code")
    text = _text(coding.get("display"))
    if not isinstance(value, str) and text is None:
        return None
    return TokenRow(
        code,
        cut(system) if isinstance(system, str) else None,
        cut(value) if isinstance(value, str) else None,
        text,
    )


def _token_rows(code: str, leaf: str, value: Any) -> Iterator[TokenRow]:
    if leaf == "Coding":
        row = _coding_row(code, value)
        if row is not None:
            yield row
    elif leaf == "CodeableConcept" and isinstance(value, dict):
        for coding in value.get("coding", ()):
            row = _coding_row(code, coding)
            if row is not None:
                yield row
        text = _text(value.get("text"))
        if text is not None:
            yield TokenRow(code, None, None, text)
    elif leaf == "Identifier" and isinstance(value, dict):
        system, identifier = value.get("system"), value.get("value")
        if isinstance(identifier, str) and identifier:
            type_text = (
                value.get("type", {}).get("text") if isinstance(value.get("type"), dict) else None
            )
            yield TokenRow(
                code,
                cut(system) if isinstance(system, str) else None,
                cut(identifier),
                _text(type_text),
            )
    elif leaf == "ContactPoint" and isinstance(value, dict):
        if isinstance(value.get("value"), str) and value["value"]:
            yield TokenRow(code, None, cut(value["value"]))
    elif isinstance(value, bool):
        yield TokenRow(code, None, "true" if value else "false")
    elif isinstance(value, str) and value:
        yield TokenRow(code, None, cut(value))


def _reference_row(code: str, path: Path, value: Any) -> ReferenceRow | None:
    declared_type: Any = None
    if path.leaf == "Reference":
        if not isinstance(value, dict):
            return None
        literal = value.get("reference")
        declared_type = value.get("type")
    else:
        literal = value
    if not isinstance(literal, str):
        return None
    parsed = parse_reference(literal)
    if parsed is None:
        return None
    if path.resolve_is is not None:
        resolved = parsed.resolved_type or (
            declared_type if isinstance(declared_type, str) else None
        )
        if resolved != path.resolve_is:
            return None
    return ReferenceRow(code, parsed.target_type, parsed.target_id, parsed.literal)


def _instant(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    try:
        return date_range(value)
    except ValueError:
        return None


def _period(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, dict):
        return None
    start, end = _instant(value.get("start")), _instant(value.get("end"))
    if start is None and end is None:
        return None
    return (start[0] if start else DATE_MIN, end[1] if end else DATE_MAX)


def _date_ranges(leaf: str, value: Any) -> Iterable[tuple[int, int]]:
    if leaf == "Period":
        found = _period(value)
        return [found] if found else []
    if leaf == "Timing":
        if not isinstance(value, dict):
            return []
        ranges = [r for r in map(_instant, value.get("event", ())) if r is not None]
        repeat = value.get("repeat")
        bounds = _period(repeat.get("boundsPeriod")) if isinstance(repeat, dict) else None
        return [*ranges, bounds] if bounds else ranges
    found = _instant(value)
    return [found] if found else []


def _string_rows(code: str, leaf: str, value: Any) -> Iterator[StringRow]:
    texts: list[Any]
    if leaf == "HumanName" and isinstance(value, dict):
        texts = _parts(value, _NAME_PARTS)
    elif leaf == "Address" and isinstance(value, dict):
        texts = _parts(value, _ADDRESS_PARTS)
    else:
        texts = [value]
    for text in texts:
        if isinstance(text, str):
            norm = normalize_string(text)
            if norm:
                yield StringRow(code, norm, cut(text))


def _parts(value: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    parts: list[Any] = []
    for name in names:
        part = value.get(name)
        parts.extend(part if isinstance(part, list) else [part])
    return parts


@cache
def default_indexer() -> Indexer:
    """The indexer for the bundled SearchParameters, compiled once per process."""
    return Indexer(default_parameters())
