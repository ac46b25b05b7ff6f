"""The searches forlop runs all day, as statements built once and bound per call.

Building a SQLAlchemy statement and computing its cache key costs more than running it on an
indexed table: about 1 ms of a 1.5 ms care-plan pull. The shapes that dominate real traffic are
few: a municipal system's ``CarePlan?patient=...`` (reference clauses), the identifier lookups
of every conditional create and update in a discharge Bundle (token clauses), and
``_include``. For those, this module splits a query into its *shape* (which clauses, which term
forms) and its *values*, builds the statement of a shape once with named bind parameters, and
binds the values on each call.

The SQL is the same the general :class:`adapter.search.sql.Planner` writes for that query, so
the semantics (and the in-memory oracle the property tests hold it to) are unchanged; a query of
any other shape (several types, sorting, ``:missing``, text, dates, strings, URLs) returns None
here and goes to the planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from adapter.search.paging import SortValue
from adapter.search.query import Clause, Include, ReferenceTerm, SearchQuery, TokenTerm

# Statements kept per shape: a client inventing shapes must not grow the process without bound.
SHAPES = 256

# A bound statement: the cached statement and the values of this call.
Bound = tuple[sa.Select[Any], dict[str, Any]]

# Term shapes: ("token", has_code, system_given, system_is_none), ("ref", has_target_type).
TermShape = tuple[Any, ...]
ClauseShape = tuple[str, str, tuple[TermShape, ...]]  # (table kind, modifier, terms)


def _term_shape(kind: str, term: object) -> tuple[TermShape, list[Any]] | None:
    if kind in ("token", "uri") and isinstance(term, TokenTerm):
        values: list[Any] = [] if term.code is None else [term.code]
        if term.system_given and term.system is not None:
            values.append(term.system)
        shape = ("token", term.code is not None, term.system_given, term.system is None)
        return shape, values
    if kind == "reference" and isinstance(term, ReferenceTerm) and term.url is None:
        if term.target_id is None:
            return None
        values = (
            [term.target_id] if term.target_type is None else [term.target_id, term.target_type]
        )
        return ("ref", term.target_type is not None), values
    return None


def _codes_listed(terms: tuple[TermShape, ...]) -> bool:
    """Several token terms, each with a code: their codes are also listed for the index."""
    return len(terms) > 1 and all(t[0] == "token" and t[1] for t in terms)


def _clause_shape(clause: Clause) -> tuple[ClauseShape, list[Any]] | None:
    if clause.missing is not None or clause.modifier not in ("", "not") or not clause.terms:
        return None
    if clause.kind not in ("token", "uri", "reference"):
        return None
    values: list[Any] = [clause.code]
    terms: list[TermShape] = []
    for term in clause.terms:
        found = _term_shape(clause.kind, term)
        if found is None:
            return None
        terms.append(found[0])
        values.extend(found[1])
    if _codes_listed(tuple(terms)):
        values.extend(t.code for t in clause.terms if isinstance(t, TokenTerm))
    table = "reference" if clause.kind == "reference" else "token"
    return (table, clause.modifier, tuple(terms)), values


def page(tables: Any, query: SearchQuery, position: Sequence[SortValue] | None) -> Bound | None:
    """The page statement of ``query`` when it has a prepared shape, else None.

    ``tables`` is the store's :class:`adapter.search.sql.IndexTables`.
    """
    if len(query.types) != 1 or query.sort:
        return None
    clauses: list[ClauseShape] = []
    values: list[Any] = [query.types[0]]
    for clause in query.clauses:
        found = _clause_shape(clause)
        if found is None:
            return None
        clauses.append(found[0])
        values.extend(found[1])
    if position is not None:
        values.extend(position)
    values.append(query.count + 1)
    statement = _page_statement(tables, tuple(clauses), position is not None)
    return statement, {f"v{i}": value for i, value in enumerate(values)}


class _Names:
    """v0, v1, ... in the order :func:`page` lists the values."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> sa.BindParameter[Any]:
        param: sa.BindParameter[Any] = sa.bindparam(f"v{self.n}")
        self.n += 1
        return param


@lru_cache(maxsize=SHAPES)
def _page_statement(tables: Any, clauses: tuple[ClauseShape, ...], after: bool) -> sa.Select[Any]:
    r = tables.resources.c
    names = _Names()
    res_type = names.next()
    conditions: list[sa.ColumnElement[bool]] = [r.deleted.is_(False), r.res_type == res_type]
    for kind, modifier, terms in clauses:
        table = tables.reference if kind == "reference" else tables.token
        c = table.c
        param = c.param == names.next()
        alternatives: list[sa.ColumnElement[bool]] = []
        for term in terms:
            if term[0] == "token":
                _, has_code, system_given, system_is_none = term
                parts = [c.code == names.next() if has_code else c.code.is_not(None)]
                if system_given:
                    parts.append(c.system.is_(None) if system_is_none else c.system == names.next())
                alternatives.append(sa.and_(*parts))
            else:
                same = c.target_id == names.next()
                alternatives.append(
                    sa.and_(same, c.target_type == names.next()) if term[1] else same
                )
        conditions_of_row = [c.res_type == res_type, param, sa.or_(*alternatives)]
        if _codes_listed(terms):  # as the planner does (adapter.search.sql.Planner._clause)
            conditions_of_row.append(c.code.in_([names.next() for _ in terms]))
        owned = r.id.in_(sa.select(c.res_id).where(*conditions_of_row))
        conditions.append(sa.not_(owned) if modifier == "not" else owned)
    if after:
        last_id, last_type = names.next(), names.next()
        conditions.append(sa.or_(r.id > last_id, sa.and_(r.id == last_id, r.res_type > last_type)))
    return (
        sa.select(r.res_type, r.id, r.version, r.last_updated, r.body)
        .where(*conditions)
        .order_by(r.id.asc(), r.res_type.asc())
        .limit(names.next())
    )


def include(tables: Any, spec: Include, source_ids: Sequence[str], limit: int) -> Bound:
    """Resources ``spec`` reaches from the sources (all of ``spec.source_type``)."""
    values: dict[str, Any] = {
        "source_type": spec.source_type,
        "source_ids": list(source_ids),
        "limit": limit,
    }
    if spec.param is not None:
        values["param"] = spec.param
    if spec.target_type is not None:
        values["target_type"] = spec.target_type
    return _include_statement(tables, spec.param is not None, spec.target_type is not None), values


@lru_cache(maxsize=SHAPES)
def _include_statement(tables: Any, by_param: bool, by_target: bool) -> sa.Select[Any]:
    x = tables.reference.c
    r = tables.resources.c
    keys = sa.select(x.target_type, x.target_id).where(
        x.res_type == sa.bindparam("source_type"),
        x.res_id.in_(sa.bindparam("source_ids", expanding=True)),
    )
    if by_param:
        keys = keys.where(x.param == sa.bindparam("param"))
    if by_target:
        keys = keys.where(x.target_type == sa.bindparam("target_type"))
    return (
        sa.select(r.res_type, r.id, r.version, r.last_updated, r.body)
        .where(sa.tuple_(r.res_type, r.id).in_(keys), r.deleted.is_(False))
        .order_by(r.res_type, r.id)
        .limit(sa.bindparam("limit"))
    )
