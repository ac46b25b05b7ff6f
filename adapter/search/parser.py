"""Search request parameters -> :class:`SearchQuery` (FHIR R4 §3.1.1 Search parameters).

Supported: parameter types token, reference, date, string and uri; modifiers ``:missing``,
``:not`` and ``:text`` (token), ``:exact`` and ``:contains`` (string), ``:[Type]`` (reference);
date prefixes eq, ne, gt, lt, ge, le, sa, eb and ap; token forms ``code``, ``system|code``,
``|code`` and ``system|``; ``_id``, ``_lastUpdated``, ``_type`` (system level), ``_sort``,
``_count``, ``_total``, ``_include``/``_revinclude`` (with ``:iterate``) and ``_cursor`` (the
opaque paging position this server hands out in its ``next`` links).

A malformed value or an unsupported modifier is a 400 whose issue names the parameter. A name
this server does not know is returned in ``ParsedSearch.unknown``; the caller decides between
strict (refuse) and lenient (ignore) handling, as ``Prefer: handling=`` asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from adapter.fhir.errors import Code, FhirError, invalid, not_supported
from adapter.fhir.models import is_resource_type
from adapter.search.parameters import SearchParameter, SearchParameters, default_parameters
from adapter.search.query import (
    DATE_PREFIXES,
    Clause,
    ClauseKind,
    DatePrefix,
    DateTerm,
    Include,
    Modifier,
    ParsedSearch,
    ReferenceTerm,
    SearchQuery,
    SortKey,
    StringTerm,
    Term,
    TextTerm,
    TokenTerm,
    Total,
)
from adapter.search.values import (
    FHIR_ID,
    RESOURCE_TYPE_NAME,
    cut,
    date_range,
    normalize_string,
    split_unescaped,
    to_microseconds,
    unescape,
)

DEFAULT_COUNT = 20
MAX_COUNT = 1000

_MODIFIERS: dict[str, frozenset[str]] = {
    "token": frozenset({"", "not", "text"}),
    "uri": frozenset({""}),
    "reference": frozenset({""}),
    "date": frozenset({""}),
    "string": frozenset({"", "exact", "contains"}),
    "id": frozenset({"", "not"}),
    "lastUpdated": frozenset({""}),
}
_MODIFIER: dict[str, Modifier] = {
    "": "",
    "not": "not",
    "text": "text",
    "exact": "exact",
    "contains": "contains",
}
_SORTABLE: frozenset[str] = frozenset({"token", "uri", "date", "string", "id", "lastUpdated"})
_TOTAL: dict[str, Total] = {"none": "none", "estimate": "estimate", "accurate": "accurate"}
_PREFIX: dict[str, DatePrefix] = {p: p for p in DATE_PREFIXES}


def bad(parameter: str, diagnostics: str) -> FhirError:
    """A 400 for a malformed search parameter, with the parameter as the issue's expression."""
    return invalid(diagnostics, expression=parameter, forlop_code=Code.SEARCH_INVALID)


def parse_search(
    resource_type: str | None,
    params: Sequence[tuple[str, str]],
    *,
    parameters: SearchParameters | None = None,
    default_count: int = DEFAULT_COUNT,
    max_count: int = MAX_COUNT,
    now: datetime | None = None,
) -> ParsedSearch:
    """Parse ``(name, value)`` pairs (URL-decoded, in request order) for a type or system search."""
    registry = parameters if parameters is not None else default_parameters()
    if resource_type is not None and not is_resource_type(resource_type):
        raise not_supported(f"'{resource_type}' is not an R4 resource type.", status=404)
    types: tuple[str, ...] = (resource_type,) if resource_type else ()
    for name, value in params:
        if name == "_type":
            if resource_type is not None:
                raise bad("_type", "_type is only allowed in a system-level search.")
            types = _parse_types(value)
    parser = _Parser(registry, types, now or datetime.now(UTC))
    unknown: list[str] = []
    clauses: list[Clause] = []
    sort: tuple[SortKey, ...] = ()
    count = default_count
    total: Total | None = None
    includes: list[Include] = []
    revincludes: list[Include] = []
    cursor: str | None = None
    for name, value in params:
        code, _, modifier = name.partition(":")
        if code == "_type":
            continue
        if code == "_count":
            count = min(_parse_count(value), max_count)
        elif code == "_sort":
            sort = parser.sort(value)
        elif code == "_total":
            if value not in _TOTAL:
                raise bad("_total", f"_total must be none, estimate or accurate, not '{value}'.")
            total = _TOTAL[value]
        elif code in ("_include", "_revinclude"):
            if modifier not in ("", "iterate"):
                raise bad(name, f"{code} takes only the :iterate modifier.")
            spec = parser.include(
                name, value, reverse=code == "_revinclude", iterate=bool(modifier)
            )
            (revincludes if code == "_revinclude" else includes).append(spec)
        elif code == "_cursor":
            cursor = value
        else:
            clause = parser.clause(name, code, modifier, value)
            if clause is None:
                unknown.append(name)
            else:
                clauses.append(clause)
    query = SearchQuery(
        types=types,
        clauses=tuple(clauses),
        sort=sort,
        count=count,
        total=total,
        includes=tuple(includes),
        revincludes=tuple(revincludes),
        cursor=cursor,
    )
    return ParsedSearch(query, tuple(unknown))


def _parse_types(value: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in value.split(",") if t.strip())
    for name in types:
        if not is_resource_type(name):
            raise bad("_type", f"'{name}' is not an R4 resource type.")
    if not types:
        raise bad("_type", "_type needs at least one resource type.")
    return types


def _parse_count(value: str) -> int:
    # isdigit() alone accepts '²' and other digits int() refuses.
    if not (value.isascii() and value.isdigit()):
        raise bad("_count", f"_count must be a whole number of 0 or more, not '{value}'.")
    return int(value)


class _Parser:
    def __init__(self, registry: SearchParameters, types: tuple[str, ...], now: datetime) -> None:
        self.registry = registry
        self.types = types
        self.now_us = to_microseconds(now.replace(hour=0, minute=0, second=0, microsecond=0))

    # -- which parameter a code names -------------------------------------------------------

    def definitions(self, code: str) -> list[SearchParameter] | None:
        """The definitions of ``code`` for every searched type; None when a type lacks it."""
        scope = self.types or ("Resource",)
        found = [self.registry.get(t, code) for t in scope]
        if any(d is None for d in found):
            return None
        definitions = [d for d in found if d is not None]
        if len({d.type for d in definitions}) > 1:
            raise bad(code, f"'{code}' has different types on {', '.join(scope)}.")
        return definitions

    def kind(self, code: str) -> tuple[ClauseKind, list[SearchParameter]] | None:
        definitions = self.definitions(code)
        if definitions is None:
            return None
        if code == "_id":
            return "id", definitions
        if code == "_lastUpdated":
            return "lastUpdated", definitions
        return definitions[0].type, definitions

    # -- clauses ------------------------------------------------------------------------------

    def clause(self, name: str, code: str, modifier: str, value: str) -> Clause | None:
        if "." in code or code.startswith("_has"):
            base = code.split(".", 1)[0]
            if code.startswith("_has") or self.definitions(base) is not None:
                raise not_supported(f"Chained search ('{name}') is not supported by this server.")
            return None
        resolved = self.kind(code)
        if resolved is None:
            return None
        kind, definitions = resolved
        if modifier == "missing":
            if kind in ("id", "lastUpdated"):
                raise bad(name, f"{code} is always present; :missing does not apply.")
            if value not in ("true", "false"):
                raise bad(name, f":missing takes true or false, not '{value}'.")
            return Clause(code, kind, missing=value == "true")
        type_modifier: str | None = None
        if kind == "reference" and modifier and RESOURCE_TYPE_NAME.fullmatch(modifier):
            targets = {t for d in definitions for t in d.target}
            if targets and modifier not in targets:
                raise bad(
                    name,
                    f"{code} cannot refer to {modifier}; it refers to "
                    f"{', '.join(sorted(targets))}.",
                )
            type_modifier, modifier = modifier, ""
        if modifier not in _MODIFIERS[kind]:
            raise not_supported(f"The modifier ':{modifier}' is not supported on '{code}'.")
        raw_terms = split_unescaped(value, ",")
        if any(not t for t in raw_terms):
            raise bad(name, f"'{name}' has an empty value.")
        terms = tuple(self.term(name, kind, modifier, t, type_modifier) for t in raw_terms)
        return Clause(code, kind, _MODIFIER[modifier], terms)

    def term(
        self, name: str, kind: ClauseKind, modifier: str, raw: str, type_modifier: str | None
    ) -> Term:
        if kind in ("token", "id"):
            if modifier == "text":
                return TextTerm(normalize_string(unescape(raw)))
            return _token(name, raw) if kind == "token" else TokenTerm(cut(unescape(raw)))
        if kind == "uri":
            return TokenTerm(cut(unescape(raw)))
        if kind == "string":
            text = unescape(raw)
            value = cut(text) if modifier == "exact" else normalize_string(text)
            if not value:
                raise bad(name, f"'{name}' has an empty value.")
            return StringTerm(value)
        if kind == "reference":
            return _reference(name, unescape(raw), type_modifier)
        return self.date(name, raw)

    def date(self, name: str, raw: str) -> DateTerm:
        prefix: DatePrefix = "eq"
        text = raw
        if raw[:2] in _PREFIX and raw[2:3].isdigit():
            prefix, text = _PREFIX[raw[:2]], raw[2:]
        try:
            low, high = date_range(text)
        except ValueError as exc:
            raise bad(name, f"'{raw}' is not a valid date search value: {exc}.") from None
        if prefix == "ap":
            # Approximately: widen by 10% of the distance from today (FHIR R4 §3.1.1.4.6).
            slack = abs(self.now_us - (low + high) // 2) // 10
            low, high = low - slack, high + slack
        return DateTerm(prefix, low, high)

    # -- result parameters --------------------------------------------------------------------

    def sort(self, value: str) -> tuple[SortKey, ...]:
        keys: list[SortKey] = []
        for item in value.split(","):
            item = item.strip()
            descending = item.startswith("-")
            code = item[1:] if descending else item
            resolved = self.kind(code) if code else None
            if resolved is None or resolved[0] not in _SORTABLE:
                raise bad("_sort", f"Cannot sort by '{code}' here.")
            keys.append(SortKey(code, resolved[0], descending))
        return tuple(keys)

    def include(self, name: str, value: str, *, reverse: bool, iterate: bool) -> Include:
        parts = value.split(":")
        if len(parts) not in (2, 3) or not is_resource_type(parts[0]):
            raise bad(name, f"'{value}' is not of the form SourceType:parameter[:TargetType].")
        source, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if target is not None and not is_resource_type(target):
            raise bad(name, f"'{target}' is not an R4 resource type.")
        if not iterate and self.types:
            if reverse and target is not None and target not in self.types:
                raise bad(name, f"The target type of '{value}' is not a searched type.")
            if not reverse and source not in self.types:
                raise bad(name, f"The source type of '{value}' is not a searched type.")
        if code == "*":
            return Include(source, None, target, iterate)
        definition = self.registry.get(source, code)
        if definition is None or definition.type != "reference":
            raise bad(name, f"{source} has no reference search parameter '{code}'.")
        if target is not None and definition.target and target not in definition.target:
            raise bad(name, f"{source}:{code} cannot refer to {target}.")
        return Include(source, code, target, iterate)


def _token(name: str, raw: str) -> TokenTerm:
    parts = split_unescaped(raw, "|")
    if len(parts) == 1:
        return TokenTerm(cut(unescape(raw)))
    system, code = unescape(parts[0]), unescape("|".join(parts[1:]))
    if not system and not code:
        raise bad(name, f"'{raw}' names neither a system nor a code.")
    return TokenTerm(cut(code) if code else None, cut(system) if system else None, True)


def _reference(name: str, raw: str, type_modifier: str | None) -> ReferenceTerm:
    base = raw.partition("/_history/")[0]
    if "://" in base or base.startswith("urn:"):
        return ReferenceTerm(url=cut(base))
    if "/" in base:
        target_type, _, target_id = base.partition("/")
        if not RESOURCE_TYPE_NAME.fullmatch(target_type) or not FHIR_ID.fullmatch(target_id):
            raise bad(name, f"'{raw}' is not a reference of the form Type/id.")
        if type_modifier is not None and type_modifier != target_type:
            raise bad(name, f"'{raw}' contradicts the :{type_modifier} modifier.")
        return ReferenceTerm(target_type, target_id)
    if not FHIR_ID.fullmatch(base):
        raise bad(name, f"'{raw}' is not a resource id.")
    return ReferenceTerm(type_modifier, base)
