"""Evaluate a :class:`SearchQuery` against one resource's index rows, in memory.

This is the reference semantics of search (FHIR R4 §3.1.1.4): the in-memory repository uses it
directly and the property tests hold the SQL planner to it. Clauses are ANDed, the terms of a
clause ORed; a resource matches a term when any of its index rows for the parameter does.

Date comparisons follow the R4 prefix table, with ``[low, high]`` the target's range and
``[lo, hi]`` the search value's: ``eq`` lo<=low and high<=hi; ``ne`` not eq; ``gt`` high>hi;
``lt`` low<lo; ``ge`` gt or eq; ``le`` lt or eq; ``sa`` low>hi; ``eb`` high<lo; ``ap`` overlap
with the widened search range.
"""

from __future__ import annotations

from adapter.search.index import ResourceIndex
from adapter.search.paging import SortValue, missing_value
from adapter.search.query import (
    Clause,
    DatePrefix,
    DateTerm,
    ReferenceTerm,
    SearchQuery,
    StringTerm,
    TextTerm,
    TokenTerm,
)


def date_matches(prefix: DatePrefix, lo: int, hi: int, low: int, high: int) -> bool:
    """Whether target range ``[low, high]`` satisfies ``prefix`` for search range ``[lo, hi]``."""
    contained = lo <= low and high <= hi
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return not contained
    if prefix == "gt":
        return high > hi
    if prefix == "lt":
        return low < lo
    if prefix == "ge":
        return high > hi or contained
    if prefix == "le":
        return low < lo or contained
    if prefix == "sa":
        return low > hi
    if prefix == "eb":
        return high < lo
    return low <= hi and high >= lo  # ap: overlap with the widened range


def matches(query: SearchQuery, resource_id: str, last_updated: int, index: ResourceIndex) -> bool:
    """True when the resource satisfies every clause of ``query``."""
    return all(_clause(clause, resource_id, last_updated, index) for clause in query.clauses)


def _clause(clause: Clause, resource_id: str, last_updated: int, index: ResourceIndex) -> bool:
    if clause.kind == "id":
        hit = any(isinstance(t, TokenTerm) and t.code == resource_id for t in clause.terms)
        return not hit if clause.modifier == "not" else hit
    if clause.kind == "lastUpdated":
        return any(
            isinstance(t, DateTerm)
            and date_matches(t.prefix, t.low, t.high, last_updated, last_updated)
            for t in clause.terms
        )
    if clause.missing is not None:
        return index.has(clause.code) != clause.missing
    if clause.kind in ("token", "uri"):
        hit = _token(clause, index)
        return not hit if clause.modifier == "not" else hit
    if clause.kind == "reference":
        return _reference(clause, index)
    if clause.kind == "date":
        rows = index.dates_of(clause.code)
        return any(
            isinstance(t, DateTerm) and date_matches(t.prefix, t.low, t.high, r.low, r.high)
            for t in clause.terms
            for r in rows
        )
    return _string(clause, index)


def _token(clause: Clause, index: ResourceIndex) -> bool:
    rows = index.tokens_of(clause.code)
    for term in clause.terms:
        for row in rows:
            if isinstance(term, TextTerm):
                if row.text is not None and row.text.startswith(term.value):
                    return True
            elif isinstance(term, TokenTerm) and row.code is not None:
                if term.system_given and row.system != term.system:
                    continue
                if term.code is None or row.code == term.code:
                    return True
    return False


def _reference(clause: Clause, index: ResourceIndex) -> bool:
    rows = index.references_of(clause.code)
    for term in clause.terms:
        if not isinstance(term, ReferenceTerm):
            continue
        for row in rows:
            if term.url is not None:
                if row.reference == term.url or row.reference.startswith(term.url + "|"):
                    return True
            elif row.target_id == term.target_id and (
                term.target_type is None or row.target_type == term.target_type
            ):
                return True
    return False


def _string(clause: Clause, index: ResourceIndex) -> bool:
    rows = index.strings_of(clause.code)
    for term in clause.terms:
        if not isinstance(term, StringTerm):
            continue
        for row in rows:
            if clause.modifier == "exact":
                if row.exact == term.value:
                    return True
            elif clause.modifier == "contains":
                if term.value in row.norm:
                    return True
            elif row.norm.startswith(term.value):
                return True
    return False


def sort_position(
    query: SearchQuery,
    resource_type: str,
    resource_id: str,
    last_updated: int,
    index: ResourceIndex,
) -> tuple[SortValue, ...]:
    """The resource's place in the search order (see :mod:`adapter.search.paging`)."""
    values: list[SortValue] = []
    for key in query.sort:
        candidates: list[SortValue]
        if key.kind == "id":
            candidates = [resource_id]
        elif key.kind == "lastUpdated":
            candidates = [last_updated]
        elif key.kind == "date":
            rows = index.dates_of(key.code)
            candidates = [r.high for r in rows] if key.descending else [r.low for r in rows]
        elif key.kind == "string":
            candidates = [r.norm for r in index.strings_of(key.code)]
        else:
            candidates = [r.code for r in index.tokens_of(key.code) if r.code is not None]
        if not candidates:
            values.append(missing_value(key))
        else:
            values.append(max(candidates) if key.descending else min(candidates))
    return (*values, resource_id, resource_type)
