"""Labelled text lines: PLO values FHIR R4 has no element for, written as ``Label: value`` lines in
a comment, description or note, and read back by the export.

One table of labels serves both directions, so what the mapping writes, the export reads. Yes/no
values are Norwegian ``ja``/``nei``, as the rest of the text.
"""

from __future__ import annotations

__all__ = ["Label", "from_yes_no", "line", "lines", "read_lines", "yes_no"]


class Label:
    """The labels of lines the PLO mapping writes."""

    PLACE = "Sted"
    TIME = "Tidspunkt"
    DURATION = "Varighet"
    BOOKED = "Bestilt"
    BOOKS_SELF = "Pasient eller pårørende bestiller"
    PATIENT_INFORMED = "Pasient informert"
    RELATIVE_INFORMED = "Pårørende informert"
    PROVIDER = "Levert av"
    INSTITUTION = "Ved institusjon"
    PRIVATE = "Privat tjeneste"
    UNIT = "Enhet"
    KEYWORDS = "Stikkord"
    UNTIL = "Til dato"
    DETAILS = "Opplysninger"
    REMARK = "Merknad"
    SUBJECT = "Emne"
    PURPOSE = "Formål"
    REASON = "Begrunnelse"
    URGENCY = "Hastegrad"
    FROM = "Fra dato"
    RECORDS = "Journalinformasjon"
    CODED = "Kodet opplysning"
    DOCUMENT_ID = "Dokument-id"
    DATE = "Dato"
    REQUEST_TYPE = "Forespørselstype"
    REQUEST = "Forespørsel"
    CASE = "Sakstype"


_ALL = frozenset(v for k, v in vars(Label).items() if not k.startswith("_"))


def yes_no(value: bool) -> str:
    return "ja" if value else "nei"


def from_yes_no(value: str | None) -> bool | None:
    return {"ja": True, "nei": False}.get((value or "").strip())


def line(label: str, value: object) -> str:
    return f"{label}: {value}"


def lines(*pairs: tuple[str, object]) -> str:
    """The labelled lines of the pairs whose value is not None, in order."""
    return "\n".join(line(label, value) for label, value in pairs if value is not None)


def read_lines(text: str | None) -> tuple[dict[str, str], list[str]]:
    """(labelled values, the other lines) of a text the mapping wrote."""
    values: dict[str, str] = {}
    rest: list[str] = []
    for raw in (text or "").splitlines():
        label, colon, value = raw.partition(": ")
        if colon and label in _ALL and label not in values:
            values[label] = value
        else:
            rest.append(raw)
    return values, rest
