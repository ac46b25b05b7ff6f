"""Search values as the index stores them (FHIR R4 §3.1.1.4 "Search parameter types").

One place decides how a FHIR value becomes something a database can compare, so that index rows
written with a resource and values parsed from a query always agree:

- dates become closed ranges ``[low, high]`` of UTC microseconds since the epoch; a value is the
  whole interval its precision covers (``2024-03`` is all of March), a date without a time zone is
  read as UTC, and an open end of a Period is ``DATE_MIN``/``DATE_MAX``;
- strings are compared case-, accent- and spacing-insensitively (NFKD, combining marks dropped,
  casefold, whitespace runs collapsed);
- references are split into type and id when they are relative (``Patient/123``), and kept as a
  literal otherwise (absolute URLs, canonicals, ``urn:uuid:``).

Every indexed text is cut to :data:`MAX_INDEXED_CHARS` characters (B-tree entries are bounded);
query values are cut the same way so equality still means equality.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MAX_INDEXED_CHARS = 256

DATE_MIN = -(2**62)
DATE_MAX = 2**62

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_US_PER_DAY = 86_400_000_000
_US_PER_SECOND = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<hh>\d{2}):(?P<mm>\d{2})(?::(?P<ss>\d{2})(?:\.(?P<frac>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)

RESOURCE_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def cut(text: str) -> str:
    """The text as the index stores it: bounded length, no NUL (PostgreSQL text cannot hold it;
    FHIR strings never should)."""
    return text.replace("\x00", "")[:MAX_INDEXED_CHARS]


def normalize_string(text: str) -> str:
    """Case-, accent- and spacing-insensitive form: NFKD, combining marks removed, casefolded,
    runs of whitespace as one space and none at the ends."""
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    decomposed = unicodedata.normalize("NFKD", decomposed)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return cut(" ".join(plain.split()))


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (code point order).

    Lets a prefix match run as a range scan on a B-tree (``x >= p AND x < bound``) in both SQLite
    (binary collation) and PostgreSQL (collation "C").
    """
    if not prefix:
        return "\U0010ffff"
    last = prefix[-1]
    if ord(last) >= 0x10FFFF:
        return prefix_upper_bound(prefix[:-1]) if len(prefix) > 1 else "\U0010ffff"
    return prefix[:-1] + chr(ord(last) + 1)


# --- dates and instants ------------------------------------------------------------------------


def _day_us(ordinal: int) -> int:
    return (ordinal - _EPOCH_ORDINAL) * _US_PER_DAY


def date_range(text: str) -> tuple[int, int]:
    """The closed UTC-microsecond interval a FHIR date, dateTime or instant covers.

    Raises ``ValueError`` for anything that is not such a value.
    """
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a FHIR date, dateTime or instant")
    year = int(match["y"])
    if year < 1:
        raise ValueError(f"'{text}' has year 0000")
    month = int(match["m"] or 1)
    day = int(match["d"] or 1)
    start_day = date(year, month, day).toordinal()  # ValueError on an impossible date
    if match["m"] is None:
        end_day = date(year, 12, 31).toordinal() + 1
        return _day_us(start_day), _day_us(end_day) - 1
    if match["d"] is None:
        end_day = start_day + calendar.monthrange(year, month)[1]
        return _day_us(start_day), _day_us(end_day) - 1
    if match["hh"] is None:
        return _day_us(start_day), _day_us(start_day + 1) - 1
    hour, minute = int(match["hh"]), int(match["mm"])
    second = int(match["ss"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"'{text}' has an impossible time of day")
    offset = 0
    if match["tz"] not in (None, "Z"):
        sign = -1 if match["tz"][0] == "-" else 1
        tz_hours, tz_minutes = int(match["tz"][1:3]), int(match["tz"][4:6])
        if tz_hours > 14 or tz_minutes > 59:
            raise ValueError(f"'{text}' has an impossible time zone")
        offset = sign * (tz_hours * 3600 + tz_minutes * 60) * _US_PER_SECOND
    start = _day_us(start_day) + ((hour * 60 + minute) * 60 + second) * _US_PER_SECOND - offset
    if match["ss"] is None:
        width = 60 * _US_PER_SECOND
    elif match["frac"] is None:
        width = _US_PER_SECOND
    else:
        digits = match["frac"][:6]
        start += int(digits.ljust(6, "0"))
        width = 10 ** (6 - len(digits))
    return start, start + width - 1


def to_datetime(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def to_microseconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def format_instant(microseconds: int) -> str:
    """FHIR ``instant`` text, milliseconds, UTC: e.g. ``2024-03-01T10:15:00.123Z``."""
    m = to_datetime(microseconds)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


# --- references ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedReference:
    """A reference literal: ``target_type``/``target_id`` only for a relative local reference."""

    literal: str
    target_type: str | None
    target_id: str | None

    @property
    def resolved_type(self) -> str | None:
        """The type ``resolve()`` would find, also for absolute ``.../Type/id`` URLs."""
        if self.target_type is not None:
            return self.target_type
        parts = self.literal.rstrip("/").split("/")
        if len(parts) >= 2 and RESOURCE_TYPE_NAME.fullmatch(parts[-2]):
            return parts[-2]
        return None


def parse_reference(literal: str) -> ParsedReference | None:
    """Split a Reference.reference / canonical; ``None`` for a contained (``#id``) reference."""
    if not literal or literal.startswith("#"):
        return None
    base, _, _ = literal.partition("/_history/")
    if "://" in base or base.startswith("urn:"):
        return ParsedReference(cut(base), None, None)
    parts = base.split("/")
    if len(parts) == 2 and RESOURCE_TYPE_NAME.fullmatch(parts[0]) and FHIR_ID.fullmatch(parts[1]):
        return ParsedReference(cut(base), parts[0], parts[1])
    return ParsedReference(cut(base), None, None)


# --- query value syntax (FHIR R4 §3.1.1.5.7 escaping) -------------------------------------------


def split_unescaped(value: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not escaped with a backslash; escapes are kept."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """Remove the search-syntax escapes ``\\,`` ``\\|`` ``\\$`` ``\\\\``."""
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append(nxt if nxt in (",", "|", "$", "\\") else "\\" + nxt)
        else:
            out.append(char)
    return "".join(out)
