"""Hypothesis strategies for FHIR R4 resources in their JSON form (FHIR R4 §2.6.2).

Everything generated is base-structurally valid R4: required elements are present, every value has
the JSON type its element needs, codes come from the element's value set, and primitives follow the
R4 datatype regexes. Beyond that the data is deliberately awkward for codecs and validators:
- repeating elements, nested backbone elements (Questionnaire items and QuestionnaireResponse
  answers several levels deep) and choice types (``value[x]``, ``detail[x]``, ``effective[x]``);
- extensions, nested extensions, and primitive extensions through the ``_name`` companion, also on
  repeating primitives (``given`` with ``null`` placeholders aligned with ``_given``);
- decimals as :class:`~decimal.Decimal` with trailing zeros and exponents, 32-bit integers,
  booleans;
- text with Norwegian letters, characters XML must escape (``<``, ``&``, ``"``), line breaks and
  characters outside the Basic Multilingual Plane;
- narratives with an XHTML div (in the form lxml writes it), contained resources, and transaction
  Bundles whose entries refer to each other through ``urn:uuid`` full URLs.

Public strategies: :func:`resources` (any of :data:`RESOURCE_STRATEGIES`), :func:`bundles`, and
the building blocks (:func:`fhir_strings`, :func:`decimals`, :func:`codeable_concepts`,
:func:`references`, :func:`extensions`, :func:`narratives`, ...). All identifiers are synthetic;
fødselsnummer come from :func:`synthetic_fnr` (month + 80, valid mod-11 control digits).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from adapter.domain.psfs import (
    Activity,
    Assessment,
    Direction,
    Respondent,
    RespondentKind,
    Series,
)

JSON = dict[str, Any]

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"
XHTML_NS = "http://www.w3.org/1999/xhtml"

# Text that real Norwegian care documentation contains, including what XML must escape.
_WORDS = (
    "Gå tur til butikken",
    "Gå i trapper",
    "Dusje selv",
    "Lage middag på kjøkkenet",
    "Bære handleposer <5 kg>",
    "Ærlig & åpen samtale",
    'Sønnen sier "det går bra"',
    "Øvelser for balanse/styrke",
    "Kari Nordmann",
    "Ola Åsmund Ødegård",
    "ÆØÅ æøå",
    "a < b && c > d",
    "Linje 1\nLinje 2",
)
_EXTRA_CHARACTERS = "æøåÆØÅéü<>&\"' \n\t\r"
# Every Unicode character XML 1.0 can carry except control characters (Cc) and surrogates (Cs);
# unassigned (Cn) and private-use (Co) code points are left out too (U+FFFE and U+FFFF are Cn).
_CHARACTERS = st.characters(exclude_categories=("Cc", "Cs", "Cn", "Co")) | st.sampled_from(
    _EXTRA_CHARACTERS
)


@cache
def fhir_strings(max_size: int = 12) -> SearchStrategy[str]:
    """A FHIR ``string``: at least one non-whitespace character, any XML-compatible Unicode.

    Two in three are realistic phrases: random text costs one draw per character.
    """
    random_text = st.text(_CHARACTERS, min_size=1, max_size=max_size).filter(str.strip)
    return st.one_of(st.sampled_from(_WORDS), st.sampled_from(_WORDS[::-1]), random_text)


@cache
def markdown() -> SearchStrategy[str]:
    """A FHIR ``markdown`` value: strings with some markup characters."""
    return st.builds(lambda a, b: f"**{a}**\n\n* {b}", fhir_strings(), fhir_strings())


@cache
def ids() -> SearchStrategy[str]:
    """A FHIR ``id`` (``[A-Za-z0-9\\-\\.]{1,64}``)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-."
    return st.text(alphabet, min_size=1, max_size=16)


@cache
def codes(*values: str) -> SearchStrategy[str]:
    """A FHIR ``code`` from ``values``, or any token when none are given."""
    if values:
        return st.sampled_from(values)
    return st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@cache
def uris() -> SearchStrategy[str]:
    """A FHIR ``uri``: our own systems, HL7 systems, OIDs and urn:uuid."""
    return st.sampled_from(
        (
            "http://forlop.no/fhir/CodeSystem/psfs",
            "http://forlop.no/fhir/sid/psfs-activity",
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "http://loinc.org",
            "http://snomed.info/sct",
            "urn:oid:2.16.578.1.12.4.1.4.1",
        )
    ) | st.uuids().map(lambda u: f"urn:uuid:{u}")


@cache
def integers() -> SearchStrategy[int]:
    """A FHIR ``integer``: signed 32 bits."""
    return st.integers(-(2**31), 2**31 - 1)


@cache
def decimals() -> SearchStrategy[Decimal]:
    """A FHIR ``decimal`` as the exact ``Decimal`` of its text: trailing zeros, exponents, -0."""
    whole = st.sampled_from(("0", "1", "7", "10", "42")) | st.integers(1, 10**12).map(str)
    fraction = st.sampled_from(("", ".0", ".5", ".50", ".500", ".25", ".001")) | st.integers(
        0, 10**6
    ).map(lambda n: f".{n}")
    exponent = st.sampled_from(("", "", "", "e3", "E-2", "e+10", "E-7"))
    sign = st.sampled_from(("", "", "-"))
    return st.builds(lambda s, w, f, e: Decimal(f"{s}{w}{f}{e}"), sign, whole, fraction, exponent)


_TIMEZONES = st.sampled_from(
    (UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)))
)
_MOMENTS = st.datetimes(datetime(1900, 1, 1), datetime(2099, 12, 31), timezones=_TIMEZONES)


def _timestamp(moment: datetime, fraction: bool) -> str:
    text = moment.isoformat(timespec="milliseconds" if fraction else "seconds")
    return text.replace("+00:00", "Z")


@cache
def dates() -> SearchStrategy[str]:
    """A FHIR ``date``: year, year-month or full date."""
    return st.builds(
        lambda m, precision: m.date().isoformat()[:precision],
        _MOMENTS,
        st.sampled_from((4, 7, 10, 10, 10)),
    )


@cache
def instants() -> SearchStrategy[str]:
    """A FHIR ``instant``: seconds (optionally milliseconds) and a time zone."""
    return st.builds(_timestamp, _MOMENTS, st.booleans())


@cache
def date_times() -> SearchStrategy[str]:
    """A FHIR ``dateTime``: a partial date or a full timestamp with time zone."""
    return dates() | instants()


@cache
def times() -> SearchStrategy[str]:
    """A FHIR ``time`` (hh:mm:ss)."""
    return st.times().map(lambda t: t.isoformat(timespec="seconds"))


@cache
def synthetic_fnr() -> SearchStrategy[str]:
    """A synthetic fødselsnummer born 1920-2015: month + 80, the individual number in the birth
    century's range and valid mod-11 control digits (never a real person's number)."""
    return st.builds(_fnr, st.dates(date(1920, 1, 1), date(2015, 12, 31)), st.integers(0, 499))


def _fnr(born: date, start: int) -> str:
    # Individual numbers 000-499 belong to births 1900-1999 and 500-999 to 2000-2039. About one
    # in six gives a control digit of 10; the search takes the next one that works.
    first = 0 if born.year < 2000 else 500
    stem = f"{born.day:02d}{born.month + 80:02d}{born.year % 100:02d}"
    for step in range(500):
        nine = [int(c) for c in f"{stem}{first + (start + step) % 500:03d}"]
        k1 = _mod11(nine, (3, 7, 6, 1, 8, 9, 4, 5, 2))
        k2 = None if k1 is None else _mod11([*nine, k1], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        if k1 is not None and k2 is not None:
            return "".join(map(str, [*nine, k1, k2]))
    raise AssertionError(f"no valid control digits for {born}")


def _mod11(digits: list[int], weights: tuple[int, ...]) -> int | None:
    check = 11 - sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return None if check == 10 else check % 11


# --- extensions and primitive companions ---------------------------------------------------------


def _rarely(draw: DrawFn, one_in: int) -> bool:
    return draw(st.integers(0, one_in - 1)) == 0


def put(
    draw: DrawFn, target: JSON, name: str, values: SearchStrategy[Any], *, one_in: int = 5
) -> None:
    """Set a primitive ``name``; now and then add a ``_name`` companion, sometimes in its place."""
    companion = draw(companions()) if _rarely(draw, one_in) else None
    if companion is None or "extension" not in companion or draw(st.booleans()):
        target[name] = draw(values)
    if companion is not None:
        target["_" + name] = companion


def put_list(
    draw: DrawFn,
    target: JSON,
    name: str,
    values: SearchStrategy[Any],
    *,
    max_size: int = 3,
    one_in: int = 4,
) -> None:
    """Set a repeating primitive; some positions get companions, some only a companion (null)."""
    size = draw(st.integers(1, max_size))
    items: list[Any] = []
    extras: list[JSON | None] = []
    for _ in range(size):
        companion = draw(companions()) if _rarely(draw, one_in) else None
        only_extension = companion is not None and "extension" in companion and _rarely(draw, 2)
        items.append(None if only_extension else draw(values))
        extras.append(companion)
    target[name] = items
    if any(extra is not None for extra in extras):
        target["_" + name] = extras


@cache
@st.composite
def companions(draw: DrawFn) -> JSON:
    """The ``_name`` object of a primitive: an id, extensions, or both."""
    companion: JSON = {}
    if _rarely(draw, 3):
        companion["id"] = draw(ids())
    if not companion or draw(st.booleans()):
        companion["extension"] = draw(st.lists(extensions(depth=1), min_size=1, max_size=2))
    return companion


_EXTENSION_URLS = (
    "http://forlop.no/fhir/StructureDefinition/psfs-activity-key",
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
    "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden",
    "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode",
    "http://example.org/fhir/StructureDefinition/ukjent-æøå",
)

_EXTENSION_PRIMITIVES: tuple[tuple[str, Callable[[], SearchStrategy[Any]]], ...] = (
    ("valueString", fhir_strings),
    ("valueInteger", integers),
    ("valueDecimal", decimals),
    ("valueBoolean", st.booleans),
    ("valueCode", codes),
    ("valueDateTime", date_times),
    ("valueUri", uris),
)


@cache
@st.composite
def extensions(draw: DrawFn, depth: int = 2) -> JSON:
    """An Extension: a url and either one value[x] or (when depth allows) nested extensions."""
    extension: JSON = {"url": draw(st.sampled_from(_EXTENSION_URLS))}
    if _rarely(draw, 6):
        extension["id"] = draw(ids())
    if depth > 0 and _rarely(draw, 4):
        extension["extension"] = draw(st.lists(extensions(depth=depth - 1), min_size=1, max_size=2))
        return extension
    choice = draw(st.integers(0, len(_EXTENSION_PRIMITIVES) + 1))
    if choice < len(_EXTENSION_PRIMITIVES):
        # No "_valueString" companions here: R4 allows them, but the R4B models forlop validates
        # with refuse them, so generated resources would not pass structural validation.
        name, values = _EXTENSION_PRIMITIVES[choice]
        extension[name] = draw(values())
    elif choice == len(_EXTENSION_PRIMITIVES):
        extension["valueCoding"] = draw(codings())
    else:
        extension["valueQuantity"] = draw(quantities())
    return extension


def _with_extensions(draw: DrawFn, target: JSON, one_in: int = 5) -> JSON:
    if _rarely(draw, one_in):
        target["extension"] = draw(st.lists(extensions(), min_size=1, max_size=2))
    return target


# --- datatypes -----------------------------------------------------------------------------------


@cache
@st.composite
def codings(draw: DrawFn, system: str | None = None, code_values: tuple[str, ...] = ()) -> JSON:
    """A Coding with system and code, sometimes display, version and userSelected."""
    coding: JSON = {}
    if _rarely(draw, 8):
        coding["id"] = draw(ids())
    coding["system"] = system or draw(uris())
    if _rarely(draw, 6):
        coding["version"] = draw(st.sampled_from(("1.0.0", "4.0.1")))
    put(draw, coding, "code", codes(*code_values), one_in=10)
    if draw(st.booleans()):
        put(draw, coding, "display", fhir_strings(), one_in=8)
    if _rarely(draw, 6):
        coding["userSelected"] = draw(st.booleans())
    return coding


@cache
@st.composite
def codeable_concepts(
    draw: DrawFn, system: str | None = None, code_values: tuple[str, ...] = ()
) -> JSON:
    """A CodeableConcept with one or two codings, text, or both."""
    concept: JSON = {}
    if not _rarely(draw, 5):
        concept["coding"] = draw(st.lists(codings(system, code_values), min_size=1, max_size=2))
    if "coding" not in concept or draw(st.booleans()):
        put(draw, concept, "text", fhir_strings())
    return _with_extensions(draw, concept, 10)


@cache
@st.composite
def references(draw: DrawFn, *targets: str) -> JSON:
    """A Reference to one of ``targets`` (relative, urn:uuid or logical), sometimes with display."""
    kind = draw(st.sampled_from(targets or ("Patient",)))
    reference: JSON = {}
    style = draw(st.integers(0, 5))
    if style <= 3:
        reference["reference"] = f"{kind}/{draw(ids())}"
    elif style == 4:
        reference["reference"] = f"urn:uuid:{draw(st.uuids())}"
    else:
        reference["identifier"] = draw(identifiers())
        reference["type"] = kind
    if _rarely(draw, 3):
        put(draw, reference, "display", fhir_strings())
    return reference


@cache
@st.composite
def identifiers(draw: DrawFn) -> JSON:
    """An Identifier: a synthetic fødselsnummer, an HPR number or a forlop uuid identifier."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        identifier: JSON = {"system": FNR_SYSTEM, "value": draw(synthetic_fnr())}
    elif kind == 1:
        identifier = {"system": HPR_SYSTEM, "value": str(draw(st.integers(1000000, 9999999)))}
    else:
        identifier = {
            "system": "http://forlop.no/fhir/sid/psfs-activity",
            "value": str(draw(st.uuids())),
        }
    if _rarely(draw, 5):
        identifier["use"] = draw(codes("usual", "official", "temp", "secondary", "old"))
    if _rarely(draw, 8):
        identifier["period"] = draw(periods())
    return identifier


@cache
@st.composite
def periods(draw: DrawFn) -> JSON:
    """A Period with start, end or both (start before end, per-1)."""
    start, end = sorted(draw(st.lists(_MOMENTS, min_size=2, max_size=2)))
    shape = draw(st.integers(0, 2))
    period: JSON = {}
    if shape != 1:
        put(draw, period, "start", st.just(_timestamp(start, False)))
    if shape != 0:
        period["end"] = _timestamp(end, draw(st.booleans()))
    return period


@cache
@st.composite
def quantities(draw: DrawFn) -> JSON:
    """A Quantity with a Decimal value, sometimes a comparator, and a UCUM unit or a unit text."""
    quantity: JSON = {}
    put(draw, quantity, "value", decimals(), one_in=8)
    if _rarely(draw, 6):
        quantity["comparator"] = draw(codes("<", "<=", ">=", ">"))
    if draw(st.booleans()):
        unit = draw(st.sampled_from(("kg", "mm[Hg]", "{score}", "/min", "Cel")))
        quantity.update(unit=unit, system="http://unitsofmeasure.org", code=unit)
    else:
        quantity["unit"] = draw(fhir_strings())
    return quantity


@cache
@st.composite
def ranges(draw: DrawFn) -> JSON:
    """A Range with low and/or high: low <= high, one unit, no comparator (rng-2, rng-3)."""
    low_value, high_value = sorted(draw(st.lists(decimals(), min_size=2, max_size=2)))
    unit = draw(st.sampled_from(("kg", "{score}", "/min")))
    low: JSON = {
        "value": low_value,
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": unit,
    }
    high = {**low, "value": high_value}
    return draw(st.sampled_from(({"low": low}, {"high": high}, {"low": low, "high": high})))


@cache
@st.composite
def human_names(draw: DrawFn) -> JSON:
    """A HumanName: family, repeating given names (with companions), sometimes use and text."""
    name: JSON = {}
    if _rarely(draw, 3):
        name["use"] = draw(codes("usual", "official", "nickname", "maiden"))
    put(draw, name, "family", fhir_strings())
    put_list(draw, name, "given", fhir_strings())
    if _rarely(draw, 5):
        name["text"] = draw(fhir_strings())
    return name


@cache
@st.composite
def notes(draw: DrawFn) -> JSON:
    """An Annotation: markdown text, sometimes an author and time."""
    note: JSON = {"text": draw(markdown())}
    if draw(st.booleans()):
        if draw(st.booleans()):
            note["authorString"] = draw(fhir_strings())
        else:
            note["authorReference"] = draw(references("Practitioner", "Patient", "RelatedPerson"))
    if draw(st.booleans()):
        note["time"] = draw(date_times())
    return note


@cache
@st.composite
def addresses(draw: DrawFn) -> JSON:
    """A Norwegian Address: lines, postal code, city, a district with a municipality code."""
    address: JSON = {"use": draw(codes("home", "temp"))}
    put_list(draw, address, "line", fhir_strings(), max_size=2)
    address["postalCode"] = f"{draw(st.integers(1, 9999)):04d}"
    address["city"] = draw(st.sampled_from(("Trondheim", "Orkanger", "Ålesund", "Bodø")))
    if draw(st.booleans()):
        address["district"] = draw(st.sampled_from(("Trøndelag", "Møre og Romsdal")))
        address["_district"] = {
            "extension": [
                {
                    "url": "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode",
                    "valueCoding": {
                        "system": "urn:oid:2.16.578.1.12.4.1.1.3402",
                        "code": draw(st.sampled_from(("5001", "5059", "1507", "1804"))),
                    },
                }
            ]
        }
    return address


@cache
@st.composite
def contact_points(draw: DrawFn) -> JSON:
    """A ContactPoint: phone or email."""
    if draw(st.booleans()):
        return {"system": "phone", "value": f"+47 {draw(st.integers(40000000, 99999999))}"}
    return {
        "system": "email",
        "value": draw(st.sampled_from(("kari@example.no", "pårørende@eksempel.no"))),
    }


@cache
@st.composite
def metas(draw: DrawFn) -> JSON:
    """A Meta with lastUpdated, source or tags (no profile claims: those would invite checks)."""
    meta: JSON = {}
    if draw(st.booleans()):
        meta["lastUpdated"] = draw(instants())
    if not meta or draw(st.booleans()):
        meta["source"] = f"urn:uuid:{draw(st.uuids())}"
    if _rarely(draw, 4):
        meta["tag"] = [draw(codings())]
    return meta


# --- narrative -----------------------------------------------------------------------------------


@cache
def _div_text() -> SearchStrategy[str]:
    # The XML parser turns a carriage return into a line feed, so narrative text has none.
    return fhir_strings().map(lambda text: escape(text.replace("\r", "")))


@cache
@st.composite
def _xhtml_block(draw: DrawFn) -> str:
    text = draw(_div_text())
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return f"<p>{text}</p>"
    if kind == 1:
        return f'<p class="{draw(codes())}"><b>{text}</b> {draw(_div_text())}</p>'
    if kind == 2:
        items = draw(st.lists(_div_text(), min_size=1, max_size=3))
        return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
    if kind == 3:
        return f"{text}<br/>"
    return f"<table><tr><td>{text}</td></tr></table>"


@cache
def xhtml_divs() -> SearchStrategy[str]:
    """A Narrative.div string exactly as lxml serialises it (so the XML round trip is exact)."""
    return st.lists(_xhtml_block(), min_size=1, max_size=3).map(
        lambda blocks: f'<div xmlns="{XHTML_NS}">' + "".join(blocks) + "</div>"
    )


@cache
@st.composite
def narratives(draw: DrawFn) -> JSON:
    """A Narrative: status and an XHTML div."""
    narrative: JSON = {"status": draw(codes("generated", "extensions", "additional"))}
    narrative["div"] = draw(xhtml_divs())
    return narrative


# --- resources -----------------------------------------------------------------------------------


def _domain_resource(draw: DrawFn, resource_type: str) -> JSON:
    resource: JSON = {"resourceType": resource_type}
    if draw(st.booleans()):
        # Resource.id is a System.String in R4: it never has a "_id" companion.
        resource["id"] = draw(ids())
    if _rarely(draw, 3):
        resource["meta"] = draw(metas())
    if _rarely(draw, 10):
        resource["language"] = draw(codes("nb", "nn", "en"))
    if _rarely(draw, 3):
        resource["text"] = draw(narratives())
    return _with_extensions(draw, resource)


def _contained_reference(draw: DrawFn, resource: JSON, *targets: str) -> JSON:
    """Now and then a new contained Practitioner and a local reference to it, else a reference.

    Contained resources are created only where they are referenced (invariant dom-3), so every
    ``targets`` given here must allow Practitioner.
    """
    if not _rarely(draw, 3):
        return draw(references(*targets))
    contained = resource.setdefault("contained", [])
    practitioner = {**draw(practitioners()), "id": f"prac{len(contained) + 1}"}
    contained.append(practitioner)
    return {"reference": f"#{practitioner['id']}"}


@cache
@st.composite
def practitioners(draw: DrawFn) -> JSON:
    """A small Practitioner with an HPR number, a name and sometimes telecom."""
    resource: JSON = {"resourceType": "Practitioner", "id": draw(ids())}
    resource["identifier"] = [
        {"system": HPR_SYSTEM, "value": str(draw(st.integers(1000000, 9999999)))}
    ]
    resource["name"] = [draw(human_names())]
    if draw(st.booleans()):
        resource["telecom"] = draw(st.lists(contact_points(), min_size=1, max_size=2))
    return resource


@cache
@st.composite
def patients(draw: DrawFn) -> JSON:
    """A Patient with Norwegian identifiers, names, address, contacts and choice elements."""
    patient = _domain_resource(draw, "Patient")
    patient["identifier"] = [{"system": FNR_SYSTEM, "value": draw(synthetic_fnr())}]
    if draw(st.booleans()):
        put(draw, patient, "active", st.booleans())
    patient["name"] = draw(st.lists(human_names(), min_size=1, max_size=2))
    if draw(st.booleans()):
        patient["telecom"] = draw(st.lists(contact_points(), min_size=1, max_size=2))
    if draw(st.booleans()):
        put(draw, patient, "gender", codes("male", "female", "other", "unknown"))
    put(draw, patient, "birthDate", dates())
    if _rarely(draw, 3):
        if draw(st.booleans()):
            patient["deceasedBoolean"] = draw(st.booleans())
        else:
            patient["deceasedDateTime"] = draw(date_times())
    if draw(st.booleans()):
        patient["address"] = [draw(addresses())]
    if _rarely(draw, 4):
        if draw(st.booleans()):
            patient["multipleBirthBoolean"] = draw(st.booleans())
        else:
            patient["multipleBirthInteger"] = draw(st.integers(1, 4))
    if _rarely(draw, 3):
        contact: JSON = {"relationship": [draw(codeable_concepts())], "name": draw(human_names())}
        if draw(st.booleans()):
            contact["telecom"] = [draw(contact_points())]
        patient["contact"] = [contact]
    if _rarely(draw, 4):
        patient["communication"] = [
            {
                "language": draw(codeable_concepts("urn:ietf:bcp:47", ("nb", "nn", "se"))),
                "preferred": True,
            }
        ]
    if _rarely(draw, 3):
        patient["generalPractitioner"] = [draw(references("Practitioner", "Organization"))]
    return patient


_PSFS = "http://forlop.no/fhir/CodeSystem/psfs"


@cache
@st.composite
def goals(draw: DrawFn) -> JSON:
    """A Goal (PSFS style): lifecycle, description, subject, targets with detail[x] and due[x]."""
    goal = _domain_resource(draw, "Goal")
    if draw(st.booleans()):
        goal["extension"] = [
            {
                "url": "http://forlop.no/fhir/StructureDefinition/psfs-activity-key",
                "valueString": draw(fhir_strings()),
            },
            *goal.get("extension", []),
        ]
    goal["identifier"] = [
        {"system": "http://forlop.no/fhir/sid/psfs-activity", "value": str(draw(st.uuids()))}
    ]
    put(
        draw,
        goal,
        "lifecycleStatus",
        codes("proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled"),
    )
    if draw(st.booleans()):
        goal["achievementStatus"] = draw(
            codeable_concepts(
                "http://terminology.hl7.org/CodeSystem/goal-achievement",
                ("in-progress", "improving", "worsening", "no-change", "achieved", "sustaining"),
            )
        )
    goal["category"] = [draw(codeable_concepts(_PSFS, ("psfs-activity",)))]
    goal["description"] = {"text": draw(fhir_strings())}
    goal["subject"] = draw(references("Patient"))
    if draw(st.booleans()):
        put(draw, goal, "startDate", dates())
    if draw(st.booleans()):
        goal["target"] = draw(st.lists(goal_targets(), min_size=1, max_size=2))
    if draw(st.booleans()):
        goal["expressedBy"] = _contained_reference(
            draw, goal, "Patient", "RelatedPerson", "Practitioner"
        )
    if _rarely(draw, 3):
        goal["note"] = [draw(notes())]
    if _rarely(draw, 3):
        goal["outcomeReference"] = draw(st.lists(references("Observation"), min_size=1, max_size=3))
    return goal


@cache
@st.composite
def goal_targets(draw: DrawFn) -> JSON:
    """A Goal.target: a measure with one detail[x] and, sometimes, a due[x]."""
    target: JSON = {"measure": draw(codeable_concepts(_PSFS, ("activity-score",)))}
    detail = draw(st.integers(0, 5))
    if detail == 0:
        put(draw, target, "detailInteger", st.integers(0, 10))
    elif detail == 1:
        target["detailQuantity"] = draw(quantities())
    elif detail == 2:
        target["detailString"] = draw(fhir_strings())
    elif detail == 3:
        target["detailBoolean"] = draw(st.booleans())
    elif detail == 4:
        target["detailCodeableConcept"] = draw(codeable_concepts())
    else:
        target["detailRange"] = draw(ranges())
    if draw(st.booleans()):
        target["dueDate"] = draw(dates())
    elif _rarely(draw, 3):
        target["dueDuration"] = {
            "value": draw(decimals()),
            "unit": "wk",
            "system": "http://unitsofmeasure.org",
            "code": "wk",
        }
    return target


def _put_value(draw: DrawFn, target: JSON, prefix: str = "value") -> None:
    """One value[x] as Observation and its components allow."""
    kind = draw(st.integers(0, 7))
    if kind == 0:
        put(draw, target, f"{prefix}Integer", integers())
    elif kind == 1:
        target[f"{prefix}Quantity"] = draw(quantities())
    elif kind == 2:
        put(draw, target, f"{prefix}String", fhir_strings())
    elif kind == 3:
        put(draw, target, f"{prefix}Boolean", st.booleans())
    elif kind == 4:
        target[f"{prefix}CodeableConcept"] = draw(codeable_concepts())
    elif kind == 5:
        target[f"{prefix}Range"] = draw(ranges())
    elif kind == 6:
        put(draw, target, f"{prefix}DateTime", date_times())
    else:
        target[f"{prefix}Period"] = draw(periods())


@cache
@st.composite
def observations(draw: DrawFn) -> JSON:
    """An Observation: status, category, code, subject, effective[x], value[x], components."""
    observation = _domain_resource(draw, "Observation")
    if draw(st.booleans()):
        observation["identifier"] = [draw(identifiers())]
    put(
        draw,
        observation,
        "status",
        codes("registered", "preliminary", "final", "amended", "corrected", "cancelled"),
    )
    observation["category"] = [
        draw(
            codeable_concepts(
                "http://terminology.hl7.org/CodeSystem/observation-category", ("survey",)
            )
        )
    ]
    observation["code"] = draw(codeable_concepts(_PSFS, ("activity-score", "mean-score")))
    observation["subject"] = draw(references("Patient"))
    if draw(st.booleans()):
        observation["focus"] = [draw(references("Goal"))]
    effective = draw(st.integers(0, 2))
    if effective == 0:
        put(draw, observation, "effectiveDateTime", date_times())
    elif effective == 1:
        observation["effectivePeriod"] = draw(periods())
    if _rarely(draw, 3):
        observation["issued"] = draw(instants())
    if draw(st.booleans()):
        observation["performer"] = [
            _contained_reference(draw, observation, "Practitioner", "Patient")
        ]
    if _rarely(draw, 5):
        observation["dataAbsentReason"] = draw(
            codeable_concepts(
                "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                ("unknown", "asked-declined"),
            )
        )
    else:
        _put_value(draw, observation)
    if _rarely(draw, 3):
        observation["note"] = draw(st.lists(notes(), min_size=1, max_size=2))
    if _rarely(draw, 3):
        low = draw(quantities())
        low.pop("comparator", None)
        observation["referenceRange"] = [{"low": low, "text": draw(fhir_strings())}]
    if draw(st.booleans()):
        observation["derivedFrom"] = [draw(references("QuestionnaireResponse"))]
    if draw(st.booleans()):
        observation["component"] = draw(st.lists(observation_components(), min_size=1, max_size=3))
    return observation


@cache
@st.composite
def observation_components(draw: DrawFn) -> JSON:
    """An Observation.component: a code and a value[x]."""
    component: JSON = {"code": draw(codeable_concepts(_PSFS, ("original-score", "direction")))}
    _put_value(draw, component)
    return _with_extensions(draw, component, 6)


@cache
@st.composite
def care_plans(draw: DrawFn) -> JSON:
    """A CarePlan for a care transition: status, intent, subject, goals and activities."""
    plan = _domain_resource(draw, "CarePlan")
    if draw(st.booleans()):
        plan["identifier"] = [draw(identifiers())]
    put(
        draw, plan, "status", codes("draft", "active", "on-hold", "revoked", "completed", "unknown")
    )
    put(draw, plan, "intent", codes("proposal", "plan", "order", "option"))
    plan["category"] = [
        draw(
            codeable_concepts(
                "http://forlop.no/fhir/CodeSystem/care-transition", ("transition-plan",)
            )
        )
    ]
    if draw(st.booleans()):
        plan["title"] = draw(fhir_strings())
    if _rarely(draw, 3):
        plan["description"] = draw(fhir_strings())
    plan["subject"] = draw(references("Patient"))
    if draw(st.booleans()):
        plan["encounter"] = draw(references("Encounter"))
    plan["period"] = draw(periods())
    if draw(st.booleans()):
        plan["author"] = _contained_reference(draw, plan, "Practitioner", "Organization")
    if _rarely(draw, 3):
        plan["careTeam"] = [draw(references("CareTeam"))]
    if draw(st.booleans()):
        plan["supportingInfo"] = draw(
            st.lists(references("QuestionnaireResponse"), min_size=1, max_size=3)
        )
    if draw(st.booleans()):
        plan["goal"] = draw(st.lists(references("Goal"), min_size=1, max_size=3))
    if draw(st.booleans()):
        plan["activity"] = draw(st.lists(care_plan_activities(), min_size=1, max_size=3))
    if _rarely(draw, 3):
        plan["note"] = [draw(notes())]
    return plan


@cache
@st.composite
def care_plan_activities(draw: DrawFn) -> JSON:
    """A CarePlan.activity: a detail (kind, code, status, scheduled[x], goals) or a reference."""
    activity: JSON = {}
    if _rarely(draw, 4):
        activity["reference"] = draw(references("ServiceRequest", "Appointment", "Task"))
        return activity
    detail: JSON = {}
    if draw(st.booleans()):
        detail["kind"] = draw(
            codes("Appointment", "ServiceRequest", "Task", "CommunicationRequest")
        )
    if draw(st.booleans()):
        detail["code"] = draw(codeable_concepts())
    if draw(st.booleans()):
        detail["goal"] = [draw(references("Goal"))]
    put(
        draw,
        detail,
        "status",
        codes(
            "not-started",
            "scheduled",
            "in-progress",
            "on-hold",
            "completed",
            "cancelled",
            "stopped",
        ),
    )
    if _rarely(draw, 3):
        put(draw, detail, "doNotPerform", st.booleans())
    scheduled = draw(st.integers(0, 2))
    if scheduled == 0:
        detail["scheduledPeriod"] = draw(periods())
    elif scheduled == 1:
        detail["scheduledString"] = draw(fhir_strings())
    if _rarely(draw, 3):
        detail["performer"] = [draw(references("Practitioner", "Organization", "CareTeam"))]
    if draw(st.booleans()):
        detail["description"] = draw(fhir_strings())
    activity["detail"] = detail
    if _rarely(draw, 3):
        activity["progress"] = [draw(notes())]
    return _with_extensions(draw, activity, 6)


_ITEM_TYPES = (
    "display", "boolean", "decimal", "integer", "date", "dateTime", "time",
    "string", "text", "url", "choice", "open-choice", "reference", "quantity",
)  # fmt: skip


@cache
@st.composite
def questionnaire_items(draw: DrawFn, link_id: str = "1", depth: int = 2) -> JSON:
    """A Questionnaire.item; groups (while ``depth`` allows) hold nested items."""
    is_group = depth > 0 and draw(st.booleans())
    item_type = "group" if is_group else draw(st.sampled_from(_ITEM_TYPES))
    item: JSON = {"linkId": link_id}
    if _rarely(draw, 4):
        item["prefix"] = f"{link_id})"
    put(draw, item, "text", fhir_strings(), one_in=6)
    item["type"] = item_type
    if item_type != "display":
        if draw(st.booleans()):
            item["required"] = draw(st.booleans())
        if draw(st.booleans()):
            item["repeats"] = draw(st.booleans())
    if _rarely(draw, 3) and link_id != "1":
        # que-7: 'exists' takes a boolean answer; codings compare only with = and !=.
        answer = draw(st.integers(0, 2))
        if answer == 0:
            when: JSON = {"question": "1", "operator": "exists"}
            when["answerBoolean"] = draw(st.booleans())
        elif answer == 1:
            when = {"question": "1", "operator": draw(codes("=", "!=", ">", "<", ">=", "<="))}
            when["answerDecimal"] = draw(decimals())
        else:
            when = {"question": "1", "operator": draw(codes("=", "!="))}
            when["answerCoding"] = draw(codings())
        item["enableWhen"] = [when]
    if item_type in ("choice", "open-choice"):
        item["answerOption"] = draw(st.lists(answer_options(), min_size=1, max_size=4))
    if item_type in ("string", "text") and _rarely(draw, 3):
        item["maxLength"] = draw(st.integers(1, 5000))
    if item_type == "integer" and draw(st.booleans()):
        item["extension"] = [
            {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
            {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 10},
        ]
    if item_type == "decimal" and _rarely(draw, 3):
        item["initial"] = [{"valueDecimal": draw(decimals())}]
    if is_group:
        count = draw(st.integers(1, 3))
        item["item"] = [
            draw(questionnaire_items(f"{link_id}.{index}", depth - 1))
            for index in range(1, count + 1)
        ]
    return item


@cache
@st.composite
def answer_options(draw: DrawFn) -> JSON:
    """A Questionnaire.item.answerOption: valueCoding, valueInteger or valueString."""
    option: JSON = {}
    kind = draw(st.integers(0, 2))
    if kind == 0:
        option["valueCoding"] = draw(
            codings(
                "http://forlop.no/fhir/CodeSystem/path-answer",
                ("yes", "no", "not-needed", "partly"),
            )
        )
    elif kind == 1:
        option["valueInteger"] = draw(st.integers(0, 10))
    else:
        option["valueString"] = draw(fhir_strings())
    if _rarely(draw, 4):
        option["initialSelected"] = True
    return option


@cache
@st.composite
def questionnaires(draw: DrawFn) -> JSON:
    """A Questionnaire with canonical url, version, status and nested items."""
    questionnaire = _domain_resource(draw, "Questionnaire")
    name = draw(st.sampled_from(("psfs", "path-discharge-call", "path-gp-consultation")))
    questionnaire["url"] = f"http://forlop.no/fhir/Questionnaire/{name}"
    questionnaire["version"] = "1.0.0"
    if draw(st.booleans()):
        questionnaire["name"] = name.replace("-", "_").upper()
    put(draw, questionnaire, "title", fhir_strings())
    put(draw, questionnaire, "status", codes("draft", "active", "retired", "unknown"))
    if draw(st.booleans()):
        put_list(draw, questionnaire, "subjectType", codes("Patient", "RelatedPerson"), max_size=2)
    if draw(st.booleans()):
        questionnaire["date"] = draw(date_times())
    questionnaire["publisher"] = "forlop"
    if _rarely(draw, 3):
        questionnaire["description"] = draw(markdown())
    count = draw(st.integers(1, 3))
    questionnaire["item"] = [draw(questionnaire_items(str(index))) for index in range(1, count + 1)]
    return questionnaire


def _put_answer_value(draw: DrawFn, answer: JSON) -> None:
    kind = draw(st.integers(0, 8))
    if kind == 0:
        put(draw, answer, "valueBoolean", st.booleans())
    elif kind == 1:
        put(draw, answer, "valueDecimal", decimals())
    elif kind == 2:
        put(draw, answer, "valueInteger", st.integers(0, 10))
    elif kind == 3:
        put(draw, answer, "valueDate", dates())
    elif kind == 4:
        put(draw, answer, "valueTime", times())
    elif kind == 5:
        put(draw, answer, "valueString", fhir_strings())
    elif kind == 6:
        answer["valueCoding"] = draw(codings())
    elif kind == 7:
        answer["valueQuantity"] = draw(quantities())
    else:
        answer["valueReference"] = draw(references("Patient", "Goal", "QuestionnaireResponse"))


@cache
@st.composite
def questionnaire_response_items(draw: DrawFn, link_id: str = "1", depth: int = 2) -> JSON:
    """A QuestionnaireResponse.item with answers; answers and groups nest further items."""
    item: JSON = {"linkId": link_id}
    if draw(st.booleans()):
        put(draw, item, "text", fhir_strings(), one_in=8)
    shape = draw(st.integers(0, 2)) if depth > 0 else 0
    if shape in (0, 2):
        answers = []
        for index in range(draw(st.integers(1, 2))):
            answer: JSON = {}
            _put_answer_value(draw, answer)
            if shape == 2 and index == 0:
                answer["item"] = [draw(questionnaire_response_items(f"{link_id}.1", depth - 1))]
            answers.append(_with_extensions(draw, answer, 8))
        item["answer"] = answers
    else:
        count = draw(st.integers(1, 3))
        item["item"] = [
            draw(questionnaire_response_items(f"{link_id}.{index}", depth - 1))
            for index in range(1, count + 1)
        ]
    return item


@cache
@st.composite
def questionnaire_responses(draw: DrawFn) -> JSON:
    """A QuestionnaireResponse with questionnaire, status, subject, author and nested answers."""
    response = _domain_resource(draw, "QuestionnaireResponse")
    if draw(st.booleans()):
        response["identifier"] = {
            "system": "http://forlop.no/fhir/sid/response",
            "value": str(draw(st.uuids())),
        }
    if _rarely(draw, 3):
        response["basedOn"] = [draw(references("CarePlan"))]
    response["questionnaire"] = "http://forlop.no/fhir/Questionnaire/psfs|1.0.0"
    put(draw, response, "status", codes("in-progress", "completed", "amended", "stopped"))
    response["subject"] = draw(references("Patient"))
    if draw(st.booleans()):
        response["encounter"] = draw(references("Encounter"))
    put(draw, response, "authored", date_times())
    if draw(st.booleans()):
        response["author"] = _contained_reference(draw, response, "Practitioner", "Patient")
    if draw(st.booleans()):
        response["source"] = draw(references("Patient", "RelatedPerson"))
    count = draw(st.integers(1, 3))
    response["item"] = [
        draw(questionnaire_response_items(str(index))) for index in range(1, count + 1)
    ]
    return response


RESOURCE_STRATEGIES: dict[str, Callable[[], SearchStrategy[JSON]]] = {
    "Patient": patients,
    "Goal": goals,
    "Observation": observations,
    "CarePlan": care_plans,
    "Questionnaire": questionnaires,
    "QuestionnaireResponse": questionnaire_responses,
    "Practitioner": practitioners,
}


def resources(*resource_types: str) -> SearchStrategy[JSON]:
    """Any resource this module generates, or only those of ``resource_types``."""
    chosen = resource_types or tuple(RESOURCE_STRATEGIES)
    return st.one_of([RESOURCE_STRATEGIES[name]() for name in chosen])


@cache
@st.composite
def bundles(draw: DrawFn, max_entries: int = 4) -> JSON:
    """A transaction Bundle: urn:uuid fullUrls, POST/PUT requests, entries that refer to a Patient.

    The first entry is a Patient; later entries point their subject at it through its urn:uuid.
    """
    patient_url = f"urn:uuid:{draw(st.uuids())}"
    entries: list[JSON] = [
        {
            "fullUrl": patient_url,
            "resource": draw(patients()),
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    others = draw(
        st.lists(
            resources("Goal", "Observation", "CarePlan", "QuestionnaireResponse"),
            max_size=max_entries - 1,
        )
    )
    for resource in others:
        if "subject" in resource:
            resource["subject"] = {"reference": patient_url}
        if draw(st.booleans()):
            entries.append(
                {
                    "fullUrl": f"urn:uuid:{uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))}",
                    "resource": resource,
                    "request": {"method": "POST", "url": resource["resourceType"]},
                }
            )
        else:
            resource["id"] = resource.get("id") or draw(ids())
            url = f"{resource['resourceType']}/{resource['id']}"
            entries.append(
                {
                    "fullUrl": f"http://forlop.no/fhir/{url}",
                    "resource": resource,
                    "request": {"method": "PUT", "url": url},
                }
            )
    bundle: JSON = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    if draw(st.booleans()):
        bundle["timestamp"] = draw(instants())
    return bundle


# --- domain: PSFS series, PaTH checklist responses ---------------------------------------------

_REF_ID = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_ACTIVITY_TEXTS = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs", "P")),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s != "")


def reference_strings(resource_type: str) -> st.SearchStrategy[str]:
    """Plain references like 'Patient/abc'."""
    return _REF_ID.map(lambda rid: f"{resource_type}/{rid}")


@st.composite
def psfs_series(draw: DrawFn, max_assessments: int = 4) -> Series:
    """A valid PSFS series: 1-5 activities per assessment, keys reused across reassessments."""
    patient = draw(reference_strings("Patient"))
    keys = draw(st.lists(_REF_ID, min_size=1, max_size=7, unique=True))
    count = draw(st.integers(1, max_assessments))
    start = draw(st.dates(date(2020, 1, 1), date(2030, 1, 1)))
    days = sorted(draw(st.lists(st.integers(0, 400), min_size=count, max_size=count, unique=True)))
    texts = {key: draw(_ACTIVITY_TEXTS) for key in keys}
    caregiver = draw(reference_strings("RelatedPerson"))
    assessments = []
    for n, offset in enumerate(days):
        chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=5, unique=True))
        by_caregiver = draw(st.booleans())
        respondent = (
            Respondent(RespondentKind.CAREGIVER, caregiver)
            if by_caregiver
            else Respondent(RespondentKind.PATIENT, patient)
        )
        activities = tuple(
            Activity(
                key=key,
                text=texts[key],
                score=draw(st.integers(0, 10)),
                target=draw(st.none() | st.integers(0, 10)),
            )
            for key in chosen
        )
        assessments.append(
            Assessment(
                id=f"a{n}-" + draw(_REF_ID),
                patient=patient,
                date=start + timedelta(days=offset),
                direction=draw(st.sampled_from(Direction)),
                respondent=respondent,
                activities=activities,
                assessor=draw(st.none() | reference_strings("Practitioner")),
                encounter=draw(st.none() | reference_strings("Encounter")),
            )
        )
    return Series.of(assessments)
