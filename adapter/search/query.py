"""The typed search query (FHIR R4 §3.1 Search): what a parsed request asks for.

A query is a conjunction of :class:`Clause` objects (one per occurrence of a parameter); each
clause is a disjunction of terms (the comma-separated values). Terms carry values already
converted to index form (normalised strings, microsecond ranges), so the SQL planner and the
in-memory matcher never parse anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

DatePrefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]
DATE_PREFIXES: tuple[DatePrefix, ...] = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

ClauseKind = Literal["token", "uri", "reference", "date", "string", "id", "lastUpdated"]
Modifier = Literal["", "not", "text", "exact", "contains"]
Total = Literal["none", "estimate", "accurate"]


@dataclass(frozen=True, slots=True)
class TokenTerm:
    """``code``, ``system|code``, ``|code`` (no system) or ``system|`` (any code)."""

    code: str | None
    system: str | None = None
    system_given: bool = False


@dataclass(frozen=True, slots=True)
class TextTerm:
    """``:text`` on a token parameter: a normalised prefix of the display or text."""

    value: str


@dataclass(frozen=True, slots=True)
class ReferenceTerm:
    """``id``, ``Type/id`` (or ``:Type`` + ``id``) or an absolute/canonical ``url``."""

    target_type: str | None = None
    target_id: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class DateTerm:
    prefix: DatePrefix
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class StringTerm:
    """Normalised for the default and ``:contains`` matches, as given for ``:exact``."""

    value: str


Term = TokenTerm | TextTerm | ReferenceTerm | DateTerm | StringTerm


@dataclass(frozen=True, slots=True)
class Clause:
    """One parameter occurrence: OR over ``terms``, or a ``:missing`` test when ``missing``."""

    code: str
    kind: ClauseKind
    modifier: Modifier = ""
    terms: tuple[Term, ...] = ()
    missing: bool | None = None


@dataclass(frozen=True, slots=True)
class SortKey:
    code: str
    kind: ClauseKind
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Include:
    """``_include``/``_revinclude`` ``source:param[:target]``; ``param`` None means ``*``."""

    source_type: str
    param: str | None
    target_type: str | None = None
    iterate: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search over ``types`` (several for a system-level search with ``_type``).

    ``types`` empty means every resource type (system-level search without ``_type``).
    ``total`` None means "not asked": a total is reported only when it is free.
    """

    types: tuple[str, ...]
    clauses: tuple[Clause, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = 20
    total: Total | None = None
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    cursor: str | None = None

    def fingerprint(self) -> str:
        """Identifies what is searched and in which order; a paging cursor is bound to it."""
        text = repr((self.types, self.clauses, self.sort))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ParsedSearch:
    """The query, plus parameter names this server does not know (the caller decides whether
    to refuse them, strict, or ignore them, lenient)."""

    query: SearchQuery
    unknown: tuple[str, ...] = ()
