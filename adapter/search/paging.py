"""Stable paging by keyset cursor (FHIR R4 §3.1.1.6 Paging; the cursor format is ours).

Every search is ordered by its ``_sort`` keys and then by resource id and type, a total order. A
page ends at a position (the sort values of its last resource); the next page starts strictly
after that position. The cursor carries the position and a fingerprint of the query, nothing
else, so it works in any forlop process and stays stable while resources are written: a resource
that did not change is never skipped nor repeated.

Sort values of a resource with several values are the lowest (ascending) or highest
(descending); a resource without a value sorts last in both directions.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from adapter.fhir.errors import Code, invalid
from adapter.search.query import SearchQuery, SortKey

SortValue = int | str

# Missing values sort last: above every real value ascending, below every one descending.
MISSING_HIGH_INT = 2**62 + 1
MISSING_LOW_INT = -(2**62) - 1
MISSING_HIGH_TEXT = "\U0010ffff"
MISSING_LOW_TEXT = ""


def missing_value(key: SortKey) -> SortValue:
    numeric = key.kind in ("date", "lastUpdated")
    if key.descending:
        return MISSING_LOW_INT if numeric else MISSING_LOW_TEXT
    return MISSING_HIGH_INT if numeric else MISSING_HIGH_TEXT


def directions(query: SearchQuery) -> tuple[bool, ...]:
    """``descending`` per position element: the sort keys, then id and type (ascending)."""
    return (*(key.descending for key in query.sort), False, False)


def is_after(
    values: Sequence[SortValue], position: Sequence[SortValue], desc: Sequence[bool]
) -> bool:
    """True when ``values`` comes strictly after ``position`` in the search order."""
    for value, last, descending in zip(values, position, desc, strict=True):
        if value != last:
            return (value < last) if descending else (value > last)  # type: ignore[operator]
    return False


def encode_cursor(query: SearchQuery, position: Sequence[SortValue]) -> str:
    payload = json.dumps({"f": query.fingerprint(), "p": list(position)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _storable(value: SortValue) -> bool:
    """A value the databases can compare: a 64-bit integer, or text without NUL."""
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return "\x00" not in value


def decode_cursor(query: SearchQuery) -> tuple[SortValue, ...] | None:
    """The position in ``query.cursor`` (None for a first page); 400 when it does not fit."""
    if query.cursor is None:
        return None
    problem = "The paging cursor is damaged; start the search again."
    try:
        padded = query.cursor + "=" * (-len(query.cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise invalid(problem, expression="_cursor", forlop_code=Code.SEARCH_INVALID) from None
    if not isinstance(payload, dict) or payload.get("f") != query.fingerprint():
        raise invalid(
            "The paging cursor belongs to a different search; start the search again.",
            expression="_cursor",
            forlop_code=Code.SEARCH_INVALID,
        )
    position = payload.get("p")
    expected = [int if key.kind in ("date", "lastUpdated") else str for key in query.sort]
    expected += [str, str]
    if (
        not isinstance(position, list)
        or len(position) != len(expected)
        or not all(type(v) is kind for v, kind in zip(position, expected, strict=True))
        or not all(_storable(v) for v in position)
    ):
        raise invalid(problem, expression="_cursor", forlop_code=Code.SEARCH_INVALID)
    return tuple(position)
