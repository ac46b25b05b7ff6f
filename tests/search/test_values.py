"""Index value forms: date ranges, string normalisation, references, escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.search.values import (
    cut,
    date_range,
    format_instant,
    normalize_string,
    parse_reference,
    prefix_upper_bound,
    split_unescaped,
    to_datetime,
    to_microseconds,
    unescape,
)


def us(*args: int) -> int:
    return to_microseconds(datetime(*args, tzinfo=UTC))  # type: ignore[arg-type, misc]


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2024", us(2024, 1, 1), us(2025, 1, 1) - 1),
        ("2024-02", us(2024, 2, 1), us(2024, 3, 1) - 1),
        ("2024-02-29", us(2024, 2, 29), us(2024, 3, 1) - 1),
        ("2024-03-01T10:15", us(2024, 3, 1, 10, 15), us(2024, 3, 1, 10, 16) - 1),
        ("2024-03-01T10:15:30Z", us(2024, 3, 1, 10, 15, 30), us(2024, 3, 1, 10, 15, 31) - 1),
        (
            "2024-03-01T10:15:30.12+01:00",
            us(2024, 3, 1, 9, 15, 30, 120000),
            us(2024, 3, 1, 9, 15, 30, 130000) - 1,
        ),
        ("2024-03-01T00:30:00-02:30", us(2024, 3, 1, 3, 0), us(2024, 3, 1, 3, 0, 1) - 1),
        ("9999", us(9999, 1, 1), us(9999, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_date_ranges(text: str, low: int, high: int) -> None:
    assert date_range(text) == (low, high)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "24",
        "2024-13",
        "2023-02-29",
        "2024-01-01T25:00",
        "2024-1-1",
        "0000",
        "soon",
        "2024-01-01T10:00:00+15:00",
    ],
)
def test_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        date_range(text)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_formatted_instants_cover_the_moment_to_the_millisecond(moment: datetime) -> None:
    moment = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000)
    value = to_microseconds(moment)
    assert to_datetime(value) == moment
    low, high = date_range(format_instant(value))
    assert low == value and high == value + 999


def test_strings_ignore_case_and_accents() -> None:
    assert normalize_string("Åse ØSTBY-Müller") == "ase østby-muller"
    assert normalize_string("Straße") == "strasse"
    assert normalize_string("x" * 1000) == "x" * 256


@given(st.text(min_size=1, max_size=20), st.text(max_size=5))
def test_prefix_upper_bound_bounds_every_extension(prefix: str, tail: str) -> None:
    bound = prefix_upper_bound(prefix)
    assert prefix + tail < bound
    assert prefix < bound


def test_references() -> None:
    local = parse_reference("Patient/123/_history/4")
    assert local is not None and (local.target_type, local.target_id) == ("Patient", "123")
    assert local.literal == "Patient/123"
    absolute = parse_reference("https://other.no/fhir/Patient/9")
    assert absolute is not None and absolute.target_id is None
    assert absolute.resolved_type == "Patient"
    canonical = parse_reference("http://forlop.no/fhir/Questionnaire/psfs|1.0.0")
    assert canonical is not None and canonical.literal.endswith("|1.0.0")
    assert parse_reference("#contained") is None
    assert parse_reference("urn:uuid:2f5d") is not None


def test_escaping() -> None:
    assert split_unescaped(r"a\,b,c", ",") == [r"a\,b", "c"]
    assert [unescape(p) for p in split_unescaped(r"sys\|x|code", "|")] == ["sys|x", "code"]
    assert unescape(r"a\\b\$") == "a\\b$"
    assert to_datetime(0) + timedelta(days=1) == datetime(1970, 1, 2, tzinfo=UTC)


def test_indexed_text_has_no_nul_and_a_bounded_length() -> None:
    assert cut("a\x00b" + "c" * 400) == "ab" + "c" * 254


def test_prefix_upper_bound_of_nothing_is_above_everything() -> None:
    assert prefix_upper_bound("") == "\U0010ffff"
