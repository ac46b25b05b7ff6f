"""FHIR JSON parsing: duplicates, depth, size, exact decimals, and clear OperationOutcomes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.fhir.errors import Code, FhirError
from adapter.fhir.json_codec import dump_json, parse_json


def failure(body: bytes | str, **limits: int) -> tuple[int, Code | None, str]:
    with pytest.raises(FhirError) as caught:
        parse_json(body, **limits)
    issue = caught.value.issues[0]
    return caught.value.status, issue.forlop_code, issue.diagnostics


def test_duplicate_keys_are_refused_and_named() -> None:
    status, code, message = failure(b'{"resourceType": "Goal", "a": {"x": 1, "x": 2}}')
    assert (status, code) == (400, Code.JSON_DUPLICATE_KEY)
    assert "'x'" in message


def test_depth_limit() -> None:
    body = '{"resourceType":"Basic","a":' + "[" * 70 + "]" * 70 + "}"
    assert failure(body)[:2] == (400, Code.JSON_TOO_DEEP)
    assert parse_json(body, max_depth=80)["resourceType"] == "Basic"


def test_absurd_depth_does_not_crash_the_parser() -> None:
    body = "[" * 200_000 + "]" * 200_000
    assert failure(body, max_bytes=10**6)[:2] == (400, Code.JSON_TOO_DEEP)


def test_size_limit_is_413() -> None:
    assert failure(b'{"resourceType": "Basic"}', max_bytes=10)[:2] == (413, Code.TOO_LARGE)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", Code.JSON_SYNTAX),
        (b'{"value": NaN}', Code.JSON_SYNTAX),
        (b'{"value": Infinity}', Code.JSON_SYNTAX),
        (b"[1, 2]", Code.JSON_NOT_OBJECT),
        (b'"text"', Code.JSON_NOT_OBJECT),
        (b'{"a": "\xff"}', Code.JSON_SYNTAX),
    ],
)
def test_malformed_bodies(body: bytes, code: Code) -> None:
    assert failure(body)[:2] == (400, code)


def test_decimals_are_kept_exactly() -> None:
    body = b'{"resourceType":"Observation","valueQuantity":{"value":1.50},"x":[1e3,0.10,-0.0]}'
    parsed = parse_json(body)
    assert parsed["valueQuantity"]["value"] == Decimal("1.50")
    assert str(parsed["valueQuantity"]["value"]) == "1.50"
    assert dump_json(parsed) == (
        b'{"resourceType":"Observation","valueQuantity":{"value":1.50},"x":[1E+3,0.10,-0.0]}'
    )


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_decimal_survives_a_round_trip_with_its_precision(value: Decimal) -> None:
    again = parse_json(dump_json({"v": value}))["v"]
    assert again == value
    assert (
        isinstance(again, int) or str(again) == str(value) or again.as_tuple() == value.as_tuple()
    )
