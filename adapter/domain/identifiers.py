"""Norwegian person, organisation and health-personnel numbers (pure Python, no FHIR).

Sources (restated in shared/DOMAIN.md): the tax authority's rules for fødselsnummer and D-numbers
and Brønnøysundregistrene's for organisation numbers.

- **Fødselsnummer** (11 digits ``DDMMYYIIIKK``): birth date, a three-digit individual number
  ``III`` that also fixes the century, and two mod-11 control digits:
  ``k1 = 11 - (d1..d9 · 3,7,6,1,8,9,4,5,2 mod 11)``,
  ``k2 = 11 - (d1..d10 · 5,4,3,2,7,6,5,4,3,2 mod 11)``; a result of 11 becomes 0 and a result
  of 10 means no valid number exists for those nine digits.
- **D-number**: as a fødselsnummer with 4 added to the first digit (day + 40).
- **Synthetic numbers** (the tax authority's test numbers, never a real person) add 80 to the
  month; forlop accepts that on D-numbers too.
- **Organisation number** (9 digits): one mod-11 control digit over the first 8 digits with
  weights 3,2,7,6,5,4,3,2, same 11 -> 0 and 10 -> invalid rule.
- **HPR number** (Helsepersonellregisteret): digits only, at most 9. No check digit algorithm is
  published, so only the form can be checked.

Each ``*_problem`` function names the first check a value fails (or returns None); the
``is_valid_*`` functions are their yes/no form.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

__all__ = [
    "Problem",
    "birth_date_of",
    "dnr_problem",
    "fnr_problem",
    "hpr_problem",
    "is_synthetic_fnr",
    "is_valid_dnr",
    "is_valid_fnr",
    "is_valid_hpr",
    "is_valid_orgnr",
    "mod11",
    "orgnr_problem",
    "synthetic_fnr",
]

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
SYNTHETIC_MONTH_OFFSET = 80
DNR_DAY_OFFSET = 40


class Problem(StrEnum):
    """Which check a number fails, in the order they are tried."""

    DIGITS = "it must contain digits only"
    LENGTH = "it has the wrong number of digits"
    DATE = "the first six digits are not a valid birth date"
    CENTURY = "the individual number does not fit the birth year"
    CONTROL_DIGIT = "a control digit does not match (mod 11)"


def mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    """The mod-11 control digit for ``digits`` (11 -> 0), or None when the result is 10.

    >>> mod11("15833812", (3, 2, 7, 6, 5, 4, 3, 2))
    2
    """
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    control = (11 - remainder) % 11
    return None if control == 10 else control


def _century(year2: int, individual: int) -> int | None:
    """The century of a fødselsnummer from its individual number (tax authority's table):
    000-499 -> 1900-1999; 500-749 with year 54-99 -> 1854-1899; 500-999 with year 00-39 ->
    2000-2039; 900-999 with year 40-99 -> 1940-1999."""
    if individual <= 499:
        return 1900
    if individual <= 749 and year2 >= 54:
        return 1800
    if year2 <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def _date_parts(number: str, *, dnr: bool) -> date | Problem:
    day = int(number[0:2])
    month = int(number[2:4])
    year2 = int(number[4:6])
    if dnr:
        if day <= DNR_DAY_OFFSET:
            return Problem.DATE
        day -= DNR_DAY_OFFSET
    if month > SYNTHETIC_MONTH_OFFSET:
        month -= SYNTHETIC_MONTH_OFFSET
    century = _century(year2, int(number[6:9]))
    if century is None:
        return Problem.CENTURY
    try:
        return date(century + year2, month, day)
    except ValueError:
        return Problem.DATE


def _person_problem(number: str, *, dnr: bool) -> Problem | None:
    if not number.isascii() or not number.isdigit():
        return Problem.DIGITS
    if len(number) != 11:
        return Problem.LENGTH
    born = _date_parts(number, dnr=dnr)
    if isinstance(born, Problem):
        return born
    k1 = mod11(number[:9], K1_WEIGHTS)
    if k1 is None or k1 != int(number[9]):
        return Problem.CONTROL_DIGIT
    k2 = mod11(number[:10], K2_WEIGHTS)
    if k2 is None or k2 != int(number[10]):
        return Problem.CONTROL_DIGIT
    return None


def fnr_problem(number: str) -> Problem | None:
    """Why ``number`` is not a fødselsnummer (mod-11 with weights 3,7,6,1,8,9,4,5,2 and
    5,4,3,2,7,6,5,4,3,2; 11 -> 0, 10 invalid), or None. Synthetic numbers (month + 80) pass."""
    return _person_problem(number, dnr=False)


def dnr_problem(number: str) -> Problem | None:
    """Why ``number`` is not a D-number (day + 40, same mod-11 control digits as a
    fødselsnummer), or None. Synthetic D-numbers (month + 80) pass."""
    return _person_problem(number, dnr=True)


def orgnr_problem(number: str) -> Problem | None:
    """Why ``number`` is not an organisation number (9 digits, mod-11 control digit over the
    first 8 with weights 3,2,7,6,5,4,3,2; 11 -> 0, 10 invalid), or None."""
    if not number.isascii() or not number.isdigit():
        return Problem.DIGITS
    if len(number) != 9:
        return Problem.LENGTH
    control = mod11(number[:8], ORGNR_WEIGHTS)
    if control is None or control != int(number[8]):
        return Problem.CONTROL_DIGIT
    return None


def hpr_problem(number: str) -> Problem | None:
    """Why ``number`` is not an HPR number (1-9 digits), or None. Helsepersonellregisteret
    publishes no check digit algorithm, so the form is all that can be checked."""
    if not number.isascii() or not number.isdigit():
        return Problem.DIGITS
    if not 1 <= len(number) <= 9:
        return Problem.LENGTH
    return None


def is_valid_fnr(number: str) -> bool:
    """True for a fødselsnummer with a real birth date, a fitting individual number and both
    mod-11 control digits right (synthetic numbers included)."""
    return fnr_problem(number) is None


def is_valid_dnr(number: str) -> bool:
    """True for a D-number (day + 40) that passes the fødselsnummer rules."""
    return dnr_problem(number) is None


def is_valid_orgnr(number: str) -> bool:
    """True for a 9-digit organisation number with a right mod-11 control digit."""
    return orgnr_problem(number) is None


def is_valid_hpr(number: str) -> bool:
    """True for 1-9 digits (HPR has no public check digit)."""
    return hpr_problem(number) is None


def is_synthetic_fnr(number: str) -> bool:
    """True for a valid synthetic fødselsnummer: the tax authority's test numbers, month + 80."""
    return is_valid_fnr(number) and int(number[2:4]) > SYNTHETIC_MONTH_OFFSET


def birth_date_of(number: str) -> date:
    """The birth date in a valid fødselsnummer or D-number (synthetic or not); the century comes
    from the individual number. Raises ValueError for anything else."""
    for dnr in (False, True):
        if _person_problem(number, dnr=dnr) is None:
            born = _date_parts(number, dnr=dnr)
            assert isinstance(born, date)
            return born
    raise ValueError("not a valid fødselsnummer or D-number")


def _individual_ranges(year: int) -> list[range]:
    """Individual numbers that give ``year`` its century (the inverse of :func:`_century`)."""
    year2 = year % 100
    if 1854 <= year <= 1899:
        return [range(500, 750)]
    if 1900 <= year <= 1999:
        return [range(0, 500)] + ([range(900, 1000)] if year2 >= 40 else [])
    if 2000 <= year <= 2039:
        return [range(500, 1000)]
    raise ValueError(f"fødselsnummer cover birth years 1854-2039, not {year}")


def synthetic_fnr(birth_date: date, individual: int) -> str:
    """A valid synthetic fødselsnummer (month + 80) for ``birth_date``, for tests and benchmarks.

    ``individual`` (0-999) is where the search for an individual number starts: the first one at
    or after it (wrapping round) that fits the birth year's century and whose mod-11 control
    digits exist (neither is 10) is used. Never a real person's number: real ones have month
    1-12.
    """
    if not 0 <= individual <= 999:
        raise ValueError("the individual number has three digits (0-999)")
    candidates = [n for r in _individual_ranges(birth_date.year) for n in r]
    start = next((i for i, n in enumerate(candidates) if n >= individual), 0)
    stem = (
        f"{birth_date.day:02d}{birth_date.month + SYNTHETIC_MONTH_OFFSET:02d}"
        f"{birth_date.year % 100:02d}"
    )
    for n in candidates[start:] + candidates[:start]:
        nine = f"{stem}{n:03d}"
        k1 = mod11(nine, K1_WEIGHTS)
        if k1 is None:
            continue
        k2 = mod11(f"{nine}{k1}", K2_WEIGHTS)
        if k2 is not None:
            return f"{nine}{k1}{k2}"
    raise ValueError(f"no synthetic fødselsnummer exists for {birth_date}")
