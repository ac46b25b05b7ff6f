"""Norwegian identifiers: mod-11 control digits, D-numbers, synthetic numbers, centuries."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.domain.identifiers import (
    Problem,
    birth_date_of,
    dnr_problem,
    fnr_problem,
    hpr_problem,
    is_synthetic_fnr,
    is_valid_dnr,
    is_valid_fnr,
    is_valid_hpr,
    is_valid_orgnr,
    mod11,
    orgnr_problem,
    synthetic_fnr,
)

# Synthetic (month + 80) numbers made by hand from the mod-11 rule, never real people.
FNR_1938 = "15833800024"  # 15 Mar 1938, individual 000
BIRTH_DATES = st.dates(min_value=date(1854, 1, 1), max_value=date(2039, 12, 31))


def _with_controls(nine: str) -> str:
    k1 = mod11(nine, (3, 7, 6, 1, 8, 9, 4, 5, 2))
    assert k1 is not None
    k2 = mod11(nine + str(k1), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    assert k2 is not None
    return f"{nine}{k1}{k2}"


def test_mod11_rule() -> None:
    # 1*3+5*2+8*7+3*6+3*5+8*4+1*3+2*2 = 141; 141 mod 11 = 9; 11 - 9 = 2
    assert mod11("15833812", (3, 2, 7, 6, 5, 4, 3, 2)) == 2
    # remainder 0 gives 11, which becomes 0
    assert mod11("00000000", (3, 2, 7, 6, 5, 4, 3, 2)) == 0
    # remainder 1 gives 10: no valid control digit
    assert mod11("10000000", (1, 2, 7, 6, 5, 4, 3, 2)) is None


def test_known_synthetic_fnr() -> None:
    assert is_valid_fnr(FNR_1938)
    assert is_synthetic_fnr(FNR_1938)
    assert birth_date_of(FNR_1938) == date(1938, 3, 15)
    assert fnr_problem(FNR_1938) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1583380002", Problem.LENGTH),
        ("158338000245", Problem.LENGTH),
        ("15833800O24", Problem.DIGITS),
        ("1583 380002", Problem.DIGITS),
        ("١٥٨٣٣٨٠٠٠٢٤", Problem.DIGITS),  # Arabic-Indic digits are digits to str.isdigit
        ("15833800025", Problem.CONTROL_DIGIT),
        ("15833800014", Problem.CONTROL_DIGIT),
        (_with_controls("309338000"), Problem.DATE),  # 30 Feb (month 93 - 80 = 13)
        (_with_controls("300238000"), Problem.DATE),  # 30 Feb 1938
        (_with_controls("158345800"), Problem.CENTURY),  # year 45 with individual 800
        (_with_controls("558338000"), Problem.DATE),  # a D-number is not a fødselsnummer
    ],
)
def test_fnr_problems(value: str, problem: Problem) -> None:
    assert fnr_problem(value) is problem
    assert not is_valid_fnr(value)
    assert not is_synthetic_fnr(value)


def test_real_month_is_valid_but_not_synthetic() -> None:
    number = _with_controls("150338000")
    assert is_valid_fnr(number)
    assert not is_synthetic_fnr(number)
    assert birth_date_of(number) == date(1938, 3, 15)


@pytest.mark.parametrize(
    ("nine", "born"),
    [
        ("010160499", date(1960, 1, 1)),
        ("010160900", date(1960, 1, 1)),
        ("010199600", date(1899, 1, 1)),
        ("010154500", date(1854, 1, 1)),
        ("010105500", date(2005, 1, 1)),
        ("010139999", date(2039, 1, 1)),
        ("010105000", date(1905, 1, 1)),
    ],
)
def test_century_from_individual_number(nine: str, born: date) -> None:
    number = _with_controls(nine)
    assert birth_date_of(number) == born


def test_dnumber() -> None:
    dnr = _with_controls("558338000")  # day 15 + 40, synthetic month 83
    assert is_valid_dnr(dnr)
    assert dnr_problem(dnr) is None
    assert birth_date_of(dnr) == date(1938, 3, 15)
    assert dnr_problem(FNR_1938) is Problem.DATE  # day 15 has no + 40
    assert dnr_problem(_with_controls("728338000")) is Problem.DATE  # day 32 is no date


def test_birth_date_of_refuses_invalid() -> None:
    with pytest.raises(ValueError):
        birth_date_of("15833800025")


def test_orgnr() -> None:
    assert is_valid_orgnr("974760673")  # Brønnøysundregistrene
    assert orgnr_problem("974760674") is Problem.CONTROL_DIGIT
    assert orgnr_problem("97476067") is Problem.LENGTH
    assert orgnr_problem("97476067x") is Problem.DIGITS
    # first 8 digits whose control would be 10 can never be valid
    eight = next(
        f"{n:08d}"
        for n in range(10**7, 10**8)
        if mod11(f"{n:08d}", (3, 2, 7, 6, 5, 4, 3, 2)) is None
    )
    assert not any(is_valid_orgnr(eight + str(d)) for d in range(10))


def test_hpr() -> None:
    assert is_valid_hpr("1")
    assert is_valid_hpr("123456789")
    assert hpr_problem("1234567890") is Problem.LENGTH
    assert hpr_problem("") is Problem.DIGITS
    assert hpr_problem("12a") is Problem.DIGITS


def test_synthetic_fnr_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        synthetic_fnr(date(1850, 1, 1), 0)
    with pytest.raises(ValueError):
        synthetic_fnr(date(1938, 3, 15), 1000)


@given(BIRTH_DATES, st.integers(0, 999))
def test_synthetic_fnr_round_trip(born: date, individual: int) -> None:
    number = synthetic_fnr(born, individual)
    assert is_valid_fnr(number)
    assert is_synthetic_fnr(number)
    assert birth_date_of(number) == born


@given(BIRTH_DATES, st.integers(0, 999), st.integers(0, 10), st.integers(1, 9))
def test_one_changed_digit_is_caught(born: date, individual: int, pos: int, delta: int) -> None:
    number = synthetic_fnr(born, individual)
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert not is_valid_fnr(changed)


@given(st.text(max_size=14))
def test_never_raises(text: str) -> None:
    for check in (fnr_problem, dnr_problem, orgnr_problem, hpr_problem):
        problem = check(text)
        assert problem is None or isinstance(problem, Problem)
