"""A :class:`SearchQuery` as SQL over the index tables (SQLAlchemy Core, SQLite and PostgreSQL).

Each clause becomes ``id IN (SELECT res_id FROM idx_<kind> WHERE res_type = ? AND param = ?
AND <term> OR <term> ...)`` (``NOT IN`` for ``:not`` and ``:missing=true``), so a search reads
only the composite indexes of the index tables and then the resource rows by primary key. The
same semantics as :mod:`adapter.search.matcher`, which the property tests check.

Ordering and paging follow :mod:`adapter.search.paging`: sort keys are computed per resource
(lowest value ascending, highest descending, missing last), the page continues strictly after
the cursor position, and one extra row tells whether a next page exists. ``_include`` and
``_revinclude`` are one semi-join per include per round, never one query per resource.

The store passes its tables in as :class:`IndexTables`, so this module depends on the columns it
names, not on the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from adapter.search.paging import SortValue, missing_value
from adapter.search.query import (
    Clause,
    DatePrefix,
    DateTerm,
    Include,
    ReferenceTerm,
    SearchQuery,
    SortKey,
    StringTerm,
    TextTerm,
    TokenTerm,
)
from adapter.search.values import prefix_upper_bound

ESTIMATE_LIMIT = 10_000


@dataclass(frozen=True)
class IndexTables:
    """The tables the planner reads, with the columns it names.

    resources(res_type, id, version, last_updated, deleted, body);
    token(res_type, res_id, param, system, code, text);
    reference(res_type, res_id, param, target_type, target_id, reference);
    date(res_type, res_id, param, low, high);
    string(res_type, res_id, param, norm, exact).
    """

    resources: sa.Table
    token: sa.Table
    reference: sa.Table
    date: sa.Table
    string: sa.Table


Condition = ColumnElement[bool]


def date_condition(
    prefix: DatePrefix, lo: int, hi: int, low: sa.ColumnElement[int], high: sa.ColumnElement[int]
) -> Condition:
    """The R4 prefix rule for a target range ``[low, high]`` and search range ``[lo, hi]``."""
    contained = sa.and_(low >= lo, high <= hi)
    rules: dict[str, Condition] = {
        "eq": contained,
        "ne": sa.not_(contained),
        "gt": high > hi,
        "lt": low < lo,
        "ge": sa.or_(high > hi, contained),
        "le": sa.or_(low < lo, contained),
        "sa": low > hi,
        "eb": high < lo,
        "ap": sa.and_(low <= hi, high >= lo),
    }
    return rules[prefix]


class Planner:
    """Builds the statements of one search."""

    def __init__(self, tables: IndexTables, query: SearchQuery) -> None:
        self.t = tables
        self.query = query
        self.r = tables.resources

    # -- filtering -------------------------------------------------------------------------------

    def _owned(self, table: sa.Table, conditions: Sequence[Condition]) -> Condition:
        """Resources with a row in ``table`` meeting ``conditions``."""
        types = self.query.types
        if len(types) == 1:
            inner = sa.select(table.c.res_id).where(table.c.res_type == types[0], *conditions)
            return self.r.c.id.in_(inner)
        inner2 = sa.select(table.c.res_type, table.c.res_id).where(*conditions)
        if types:
            inner2 = inner2.where(table.c.res_type.in_(types))
        return sa.tuple_(self.r.c.res_type, self.r.c.id).in_(inner2)

    def _clause(self, clause: Clause) -> Condition:
        r = self.r
        if clause.kind == "id":
            ids = [t.code for t in clause.terms if isinstance(t, TokenTerm) and t.code]
            return r.c.id.not_in(ids) if clause.modifier == "not" else r.c.id.in_(ids)
        if clause.kind == "lastUpdated":
            return sa.or_(
                *(
                    date_condition(t.prefix, t.low, t.high, r.c.last_updated, r.c.last_updated)
                    for t in clause.terms
                    if isinstance(t, DateTerm)
                )
            )
        table = self._table(clause)
        owned_param = table.c.param == clause.code
        if clause.missing is not None:
            present = self._owned(table, [owned_param])
            return sa.not_(present) if clause.missing else present
        terms = sa.or_(*(self._term(table, clause, term) for term in clause.terms))
        conditions = [owned_param, terms]
        codes = [t.code for t in clause.terms if isinstance(t, TokenTerm) and t.code]
        if len(codes) > 1 and len(codes) == len(clause.terms):
            # Implied by the terms, but it lets the index seek each code: SQLite reads every row
            # of the parameter to test an OR of (code, system) pairs.
            conditions.append(table.c.code.in_(sorted(set(codes))))
        hit = self._owned(table, conditions)
        return sa.not_(hit) if clause.modifier == "not" else hit

    def _table(self, clause: Clause) -> sa.Table:
        if clause.kind in ("token", "uri"):
            return self.t.token
        if clause.kind == "reference":
            return self.t.reference
        if clause.kind == "date":
            return self.t.date
        return self.t.string

    @staticmethod
    def _term(table: sa.Table, clause: Clause, term: object) -> Condition:
        c = table.c
        if isinstance(term, TokenTerm):
            parts: list[Condition] = [c.code == term.code if term.code else c.code.is_not(None)]
            if term.system_given:
                parts.append(c.system == term.system if term.system else c.system.is_(None))
            return sa.and_(*parts)
        if isinstance(term, TextTerm):
            return sa.and_(c.text >= term.value, c.text < prefix_upper_bound(term.value))
        if isinstance(term, ReferenceTerm):
            if term.url is not None:  # never a relative literal: the partial index applies
                return sa.and_(
                    c.target_id.is_(None),
                    sa.or_(
                        c.reference == term.url,
                        sa.and_(c.reference >= term.url + "|", c.reference < term.url + "}"),
                    ),
                )
            same = c.target_id == term.target_id
            return sa.and_(same, c.target_type == term.target_type) if term.target_type else same
        if isinstance(term, DateTerm):
            return date_condition(term.prefix, term.low, term.high, c.low, c.high)
        if isinstance(term, StringTerm):
            if clause.modifier == "exact":
                return c.exact == term.value
            if clause.modifier == "contains":
                return c.norm.contains(term.value, autoescape=True)
            return sa.and_(c.norm >= term.value, c.norm < prefix_upper_bound(term.value))
        raise TypeError(f"unexpected search term {term!r}")

    def where(self) -> list[Condition]:
        conditions: list[Condition] = [self.r.c.deleted.is_(False)]
        if len(self.query.types) == 1:
            conditions.append(self.r.c.res_type == self.query.types[0])
        elif self.query.types:
            conditions.append(self.r.c.res_type.in_(self.query.types))
        conditions.extend(self._clause(clause) for clause in self.query.clauses)
        return conditions

    # -- ordering and paging -----------------------------------------------------------------

    def _sort_value(self, key: SortKey) -> sa.ColumnElement[SortValue]:
        r = self.r
        if key.kind == "id":
            return r.c.id
        if key.kind == "lastUpdated":
            return r.c.last_updated
        aggregate = sa.func.max if key.descending else sa.func.min
        if key.kind == "date":
            table, column = (
                self.t.date,
                (self.t.date.c.high if key.descending else self.t.date.c.low),
            )
        elif key.kind == "string":
            table, column = self.t.string, self.t.string.c.norm
        else:
            table, column = self.t.token, self.t.token.c.code
        value = (
            sa.select(aggregate(column))
            .where(
                table.c.res_type == r.c.res_type,
                table.c.res_id == r.c.id,
                table.c.param == key.code,
            )
            .scalar_subquery()
        )
        return sa.func.coalesce(value, missing_value(key))

    def page(self, position: Sequence[SortValue] | None) -> sa.Select[Any]:
        """Resource rows of the page (one more than ``count``) with their sort values
        ``k0 .. kN`` after the usual columns."""
        r = self.r
        keys = [self._sort_value(key).label(f"k{i}") for i, key in enumerate(self.query.sort)]
        inner = (
            sa.select(r.c.res_type, r.c.id, r.c.version, r.c.last_updated, r.c.body, *keys)
            .where(*self.where())
            .subquery("page")
        )
        ordered = [inner.c[f"k{i}"] for i in range(len(keys))] + [inner.c.id, inner.c.res_type]
        descending = [key.descending for key in self.query.sort] + [False, False]
        statement = sa.select(inner)
        if position is not None:
            statement = statement.where(_after(ordered, position, descending))
        order = [
            col.desc() if desc else col.asc() for col, desc in zip(ordered, descending, strict=True)
        ]
        return statement.order_by(*order).limit(self.query.count + 1)

    def count(self, limit: int | None = None) -> sa.Select[int]:
        matched = sa.select(self.r.c.id).where(*self.where())
        if limit is not None:
            matched = matched.limit(limit)
        return sa.select(sa.func.count()).select_from(matched.subquery("matched"))

    # -- includes -------------------------------------------------------------------------------

    def _resources(self, keys: sa.Select[Any], limit: int) -> sa.Select[Any]:
        r = self.r
        return (
            sa.select(r.c.res_type, r.c.id, r.c.version, r.c.last_updated, r.c.body)
            .where(sa.tuple_(r.c.res_type, r.c.id).in_(keys), r.c.deleted.is_(False))
            .order_by(r.c.res_type, r.c.id)
            .limit(limit)
        )

    def include(self, spec: Include, source_ids: Sequence[str], limit: int) -> sa.Select[Any]:
        """Resources that ``spec`` reaches from the given sources (all of ``spec.source_type``)."""
        x = self.t.reference.c
        keys = sa.select(x.target_type, x.target_id).where(
            x.res_type == spec.source_type, x.res_id.in_(source_ids)
        )
        if spec.param is not None:
            keys = keys.where(x.param == spec.param)
        if spec.target_type is not None:
            keys = keys.where(x.target_type == spec.target_type)
        return self._resources(keys, limit)

    def revinclude(
        self, spec: Include, targets: Sequence[tuple[str, str]], limit: int
    ) -> sa.Select[Any]:
        """Resources of ``spec.source_type`` that refer to any of ``targets`` through ``spec``."""
        x = self.t.reference.c
        by_type: dict[str, list[str]] = {}
        for target_type, target_id in targets:
            if spec.target_type is None or spec.target_type == target_type:
                by_type.setdefault(target_type, []).append(target_id)
        refers = sa.or_(
            sa.false(),
            *(sa.and_(x.target_type == t, x.target_id.in_(ids)) for t, ids in by_type.items()),
        )
        keys = sa.select(x.res_type, x.res_id).where(x.res_type == spec.source_type, refers)
        if spec.param is not None:
            keys = keys.where(x.param == spec.param)
        return self._resources(keys, limit)


def _after(
    columns: Sequence[sa.ColumnElement[SortValue]],
    position: Sequence[SortValue],
    descending: Sequence[bool],
) -> Condition:
    """Rows strictly after ``position`` in the (mixed-direction) order of ``columns``."""
    alternatives: list[Condition] = []
    for i, (column, value, desc) in enumerate(zip(columns, position, descending, strict=True)):
        equal_before = [columns[j] == position[j] for j in range(i)]
        beyond = column < value if desc else column > value
        alternatives.append(sa.and_(*equal_before, beyond))
    return sa.or_(*alternatives)
