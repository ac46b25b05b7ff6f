"""Paging cursors: damaged or hostile cursors are a 400, never a database error."""

from __future__ import annotations

import base64
import json

import pytest

from adapter.fhir.errors import FhirError
from adapter.search.paging import decode_cursor, encode_cursor
from adapter.search.parser import parse_search
from adapter.store.records import decode_history_cursor


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_cursor_round_trips() -> None:
    query = parse_search("Goal", [("_sort", "-_lastUpdated")]).query
    cursor = encode_cursor(query, [123, "id-1", "Goal"])
    again = parse_search("Goal", [("_sort", "-_lastUpdated"), ("_cursor", cursor)]).query
    assert decode_cursor(again) == (123, "id-1", "Goal")


@pytest.mark.parametrize("position", [[2**70, "a", "Goal"], [1, "a\x00", "Goal"]])
def test_values_no_database_can_compare_are_refused(position: list[object]) -> None:
    query = parse_search("Goal", [("_sort", "-_lastUpdated")]).query
    fingerprint = query.fingerprint()
    cursor = _cursor({"f": fingerprint, "p": position})
    hostile = parse_search("Goal", [("_sort", "-_lastUpdated"), ("_cursor", cursor)]).query
    with pytest.raises(FhirError) as caught:
        decode_cursor(hostile)
    assert caught.value.status == 400


def test_history_cursor_with_a_huge_number_is_refused() -> None:
    with pytest.raises(FhirError) as caught:
        decode_history_cursor(_cursor([2**64, 1]))
    assert caught.value.status == 400
