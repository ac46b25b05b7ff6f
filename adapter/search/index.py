"""Index rows: what a resource contributes to search (FHIR R4 §3.1.1.4, one row per value).

The store writes these rows in the same database transaction as the resource; the SQL planner
queries them; the in-memory matcher evaluates queries against them. Both sides therefore see
exactly the same values, which is what makes the in-memory repository a trustworthy oracle.

- ``TokenRow``: a code with an optional system (Coding, CodeableConcept, Identifier, code,
  boolean, ...); ``text`` holds the normalised display/text for ``:text``. A CodeableConcept's
  ``text`` is a row of its own with no code. ``uri`` parameters are token rows without a system.
- ``ReferenceRow``: ``target_type``/``target_id`` for relative local references, ``reference``
  for the literal (absolute URL, canonical with optional ``|version``, or ``Type/id``).
- ``DateRow``: closed range of UTC microseconds (see :mod:`adapter.search.values`).
- ``StringRow``: normalised value for the default and ``:contains`` matches, the exact value for
  ``:exact``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TokenRow:
    param: str
    system: str | None
    code: str | None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    param: str
    target_type: str | None
    target_id: str | None
    reference: str


@dataclass(frozen=True, slots=True)
class DateRow:
    param: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class StringRow:
    param: str
    norm: str
    exact: str


@dataclass
class ResourceIndex:
    """All index rows of one resource version (duplicates removed, order kept)."""

    tokens: list[TokenRow] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)
    dates: list[DateRow] = field(default_factory=list)
    strings: list[StringRow] = field(default_factory=list)

    def tokens_of(self, param: str) -> list[TokenRow]:
        return [row for row in self.tokens if row.param == param]

    def references_of(self, param: str) -> list[ReferenceRow]:
        return [row for row in self.references if row.param == param]

    def dates_of(self, param: str) -> list[DateRow]:
        return [row for row in self.dates if row.param == param]

    def strings_of(self, param: str) -> list[StringRow]:
        return [row for row in self.strings if row.param == param]

    def has(self, param: str) -> bool:
        return any(
            row.param == param
            for rows in (self.tokens, self.references, self.dates, self.strings)
            for row in rows
        )
