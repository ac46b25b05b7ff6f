"""Search: the query language of FHIR R4 §3.1 as a pipeline.

parse (:mod:`.parser`) -> typed query (:mod:`.query`) -> SQL over the index tables (:mod:`.sql`)
or in-memory matching (:mod:`.matcher`) -> ordering and keyset paging (:mod:`.paging`). The
parameters come from SearchParameter data (:mod:`.parameters`); index rows (:mod:`.index`) hold
values in the form :mod:`.values` defines.
"""

from adapter.search.index import DateRow, ReferenceRow, ResourceIndex, StringRow, TokenRow
from adapter.search.parameters import SearchParameter, SearchParameters, default_parameters
from adapter.search.parser import DEFAULT_COUNT, MAX_COUNT, parse_search
from adapter.search.query import (
    Clause,
    DateTerm,
    Include,
    ParsedSearch,
    ReferenceTerm,
    SearchQuery,
    SortKey,
    StringTerm,
    TextTerm,
    TokenTerm,
)

__all__ = [
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "Clause",
    "DateRow",
    "DateTerm",
    "Include",
    "ParsedSearch",
    "ReferenceRow",
    "ReferenceTerm",
    "ResourceIndex",
    "SearchParameter",
    "SearchParameters",
    "SearchQuery",
    "SortKey",
    "StringRow",
    "StringTerm",
    "TextTerm",
    "TokenRow",
    "TokenTerm",
    "default_parameters",
    "parse_search",
]
