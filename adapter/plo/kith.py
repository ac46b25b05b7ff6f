"""Reading KITH datatypes (kith.xsd, felleskomponent1.xsd, MsgHead v1.2) from an element tree.

Children are found by local name: MsgHead, felleskomponent1, poKomponent and Dialogmelding define
the same shapes (Ident, Address, TeleCom, Person, HealthcareProfessional, Organisation) in several
namespaces, and strict namespace checking is the XSD's job when a schema folder is configured
(:mod:`adapter.plo.xsd`). Each reader *takes* the elements it understands into a :class:`Taken`
set; values that do not parse (a ``boolean`` that is neither true nor false, a date that is not a
date) are left untaken, so :mod:`adapter.plo.leftovers` keeps them as text instead of losing them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from adapter.plo.model import Address, Code, Ident, Organisation, Person, Professional, Telecom

__all__ = [
    "Taken",
    "is_moment",
    "local",
    "read_address",
    "read_bool",
    "read_code",
    "read_date",
    "read_datetime",
    "read_decimal",
    "read_int",
    "read_mixed",
    "read_organisation",
    "read_person",
    "read_professional",
    "read_telecoms",
    "read_text",
    "read_ts",
    "read_year",
    "kid",
    "kids",
]

Element = etree._Element

# Lexical forms of xs:date, xs:dateTime, xs:gYear and xs:gYearMonth (the KITH TS union), with an
# optional time zone. xs:time alone says nothing FHIR can hold as a moment, so it stays text.
_TZ = r"(Z|[+-]\d{2}:\d{2})?"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}" + _TZ)
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?" + _TZ)
YEAR = re.compile(r"\d{4}" + _TZ)
TS = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?)?)?" + _TZ)
_INTEGER = re.compile(r"[+-]?\d{1,9}")
_MUNICIPALITY = re.compile(r"\d{4}")


class Taken:
    """The elements of one message that readers have turned into values."""

    def __init__(self) -> None:
        self._taken: set[Element] = set()

    def take(self, element: Element) -> None:
        self._taken.add(element)

    def __contains__(self, element: Element) -> bool:
        return element in self._taken


def local(element: Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def kids(element: Element | None, name: str) -> list[Element]:
    """The children named ``name`` (any namespace); none for a missing parent."""
    if element is None:
        return []
    return [child for child in element if local(child) == name]


def kid(element: Element | None, name: str) -> Element | None:
    """The first child named ``name`` (any namespace), or None."""
    if element is None:
        return None
    for child in element:
        if local(child) == name:
            return child
    return None


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = text.strip()
    return stripped or None


def read_text(taken: Taken, element: Element | None) -> str | None:
    """The element's text (outer whitespace removed); None for a missing or empty element."""
    value = _leaf(element)
    if element is not None and value is not None:
        taken.take(element)
    return value


def read_mixed(taken: Taken, element: Element | None) -> str | None:
    """All text of an ``anyType`` element (Dialogmelding 1.1 Sporsmal, TekstNotatInnhold)."""
    if element is None:
        return None
    value = _clean("".join(str(part) for part in element.itertext()))
    if value is not None:
        taken.take(element)
    return value


def read_code(taken: Taken, element: Element | None) -> Code | None:
    """A CV or CS element: its V, S, DN and OT attributes."""
    if element is None:
        return None
    values = [_clean(element.get(name)) for name in ("V", "S", "DN", "OT")]
    if not any(values):
        return None
    taken.take(element)
    return Code(*values)


def _attr(element: Element | None, name: str) -> str:
    return (element.get(name) or "").strip() if element is not None else ""


def _leaf(element: Element | None) -> str | None:
    return _clean(element.text) if element is not None and not len(element) else None


def is_moment(value: str) -> bool:
    """True for a real calendar date or date and time in one of the TS lexical forms."""
    if not TS.fullmatch(value):
        return False
    plain = re.sub(_TZ + r"\Z", "", value)
    try:
        if "T" in plain:
            datetime.fromisoformat(plain if plain.count(":") == 2 else plain + ":00")
        elif len(plain) == 10:
            date.fromisoformat(plain)
        elif len(plain) == 7:
            date.fromisoformat(plain + "-01")
    except ValueError:
        return False
    return True


def _matching(
    taken: Taken, element: Element | None, value: str | None, form: re.Pattern[str]
) -> str | None:
    if element is None or value is None or not form.fullmatch(value) or not is_moment(value):
        return None
    taken.take(element)
    return value


def read_ts(taken: Taken, element: Element | None) -> str | None:
    """A KITH TS element's V attribute, when it is a date, dateTime, gYear or gYearMonth."""
    value = _clean(element.get("V")) if element is not None else None
    return _matching(taken, element, value, TS)


def read_date(taken: Taken, element: Element | None) -> str | None:
    return _matching(taken, element, _leaf(element), DATE)


def read_datetime(taken: Taken, element: Element | None) -> str | None:
    return _matching(taken, element, _leaf(element), DATETIME)


def read_year(taken: Taken, element: Element | None) -> str | None:
    """An xs:gYear element's year (without a time zone, as FHIR dates have none)."""
    value = _matching(taken, element, _leaf(element), YEAR)
    return value[:4] if value else None


def read_bool(taken: Taken, element: Element | None) -> bool | None:
    value = _leaf(element)
    if element is None or value not in ("true", "false", "1", "0"):
        return None
    taken.take(element)
    return value in ("true", "1")


def read_int(taken: Taken, element: Element | None) -> int | None:
    value = _leaf(element)
    if element is None or value is None or not _INTEGER.fullmatch(value):
        return None
    taken.take(element)
    return int(value)


def read_decimal(taken: Taken, element: Element | None) -> Decimal | None:
    value = _leaf(element)
    if element is None or value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    taken.take(element)
    return number


# --- felleskomponent1 / MsgHead shapes ----------------------------------------------------------


def _idents(taken: Taken, element: Element) -> tuple[Ident, ...]:
    found = []
    for node in kids(element, "Ident"):
        value_node, type_node = kid(node, "Id"), kid(node, "TypeId")
        value = _clean(value_node.text) if value_node is not None else None
        kind = read_code(taken, type_node)
        if value is None or kind is None or kind.v is None:
            continue
        assert value_node is not None
        taken.take(value_node)
        found.append(Ident(value, kind))
    return tuple(found)


def read_address(taken: Taken, element: Element | None) -> Address | None:
    if element is None:
        return None
    county = kid(element, "County")
    address = Address(
        street=read_text(taken, kid(element, "StreetAdr")),
        postal_code=read_text(taken, kid(element, "PostalCode")),
        city=read_text(taken, kid(element, "City")),
        postbox=read_text(taken, kid(element, "Postbox")),
        # A four-digit County is a municipality number; a county (fylke) code stays text.
        county=read_code(taken, county) if _MUNICIPALITY.fullmatch(_attr(county, "V")) else None,
        country=read_code(taken, kid(element, "Country")),
    )
    return None if address == Address() else address


def read_telecoms(taken: Taken, element: Element) -> tuple[Telecom, ...]:
    found = []
    for node in kids(element, "TeleCom"):
        address_node = kid(node, "TeleAddress")
        address = _clean(address_node.get("V")) if address_node is not None else None
        if address is None or address_node is None:
            continue
        taken.take(address_node)
        found.append(Telecom(address, read_code(taken, kid(node, "TypeTelecom"))))
    return tuple(found)


def read_person(taken: Taken, element: Element, *, nationality: bool = False) -> Person:
    """Person (fk1, MsgHead Patient, Dialogmelding Person): names, birth, sex, ids, contact.

    FHIR holds a nationality for patients only, so it is read only when ``nationality`` is set.
    """
    return Person(
        family=read_text(taken, kid(element, "FamilyName")),
        middle=read_text(taken, kid(element, "MiddleName")),
        given=read_text(taken, kid(element, "GivenName")),
        birth_date=read_date(taken, kid(element, "DateOfBirth")),
        sex=read_code(taken, kid(element, "Sex")),
        nationality=read_code(taken, kid(element, "Nationality")) if nationality else None,
        idents=_idents(taken, element),
        address=read_address(taken, kid(element, "Address")),
        telecoms=read_telecoms(taken, element),
    )


def read_professional(taken: Taken, element: Element) -> Professional:
    return Professional(
        person=read_person(taken, element),
        category=read_code(taken, kid(element, "TypeHealthcareProfessional")),
        role=read_code(taken, kid(element, "RoleToPatient")),
    )


def read_organisation(taken: Taken, element: Element) -> Organisation:
    """An Organisation with its nested Organisation chain and an optional professional."""
    unit = kid(element, "Organisation")
    professional = kid(element, "HealthcareProfessional")
    return Organisation(
        name=read_text(taken, kid(element, "OrganisationName")),
        idents=_idents(taken, element),
        type=read_code(taken, kid(element, "TypeOrganisation")),
        address=read_address(taken, kid(element, "Address")),
        telecoms=read_telecoms(taken, element),
        unit=read_organisation(taken, unit) if unit is not None else None,
        professional=read_professional(taken, professional) if professional is not None else None,
    )
