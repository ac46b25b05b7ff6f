"""The six pleie- og omsorgsmeldinger of v1.6 that are reports: Innleggelsesrapport,
Helseopplysninger (ved søknad), Helseopplysninger til lege (Konsultasjon), Medisinske
opplysninger, Orientering om tjenestetilbud and Utskrivningsrapport (TverrfagligEpikrise).

Their XSDs (``http://www.kith.no/xmlstds/po/<Name>/2012-04-01``) differ in which poKomponent parts
they allow and in what order, not in what the parts mean, so one reader serves all six: it takes
the parts :mod:`adapter.plo.components` can structure and leaves the rest (medication lists, journal
notes, nursing documentation, aids ...) to the text rendering.
"""

from __future__ import annotations

from lxml import etree

from adapter.plo.components import (
    read_appointments,
    read_diagnoses,
    read_event,
    read_functions,
    read_goals,
    read_header,
    read_history,
    read_services,
)
from adapter.plo.kith import Taken, kid, kids, read_code, read_text
from adapter.plo.model import Code, Report

__all__ = ["read_report"]

Element = etree._Element


def _content_type(taken: Taken, root: Element) -> tuple[Code | None, str | None]:
    """TypeInnholdIMelding/TypeInnhold, or InnholdKonsultasjon/TypeInnholdKonsultasjon."""
    for wrapper, name in (
        ("TypeInnholdIMelding", "TypeInnhold"),
        ("InnholdKonsultasjon", "TypeInnholdKonsultasjon"),
    ):
        node = kid(root, wrapper)
        code = read_code(taken, kid(node, name))
        if code is not None:
            return code, read_text(taken, kid(node, "Merknad"))
    return None, None


def read_report(taken: Taken, root: Element) -> Report:
    header = read_header(taken, root)
    content_type, remark = _content_type(taken, root)
    events = []
    for node in kids(root, "OpplysningOpphold"):
        timed = kid(node, "TidsfestetHendelse")
        event = read_event(taken, timed) if timed is not None else None
        if event is not None:
            events.append(event)
    return Report(
        header=header,
        content_type=content_type,
        content_remark=remark,
        events=tuple(events),
        diagnoses=tuple(read_diagnoses(taken, root) + read_history(taken, root)),
        functions=read_functions(taken, root),
        goals=tuple(read_goals(taken, root)),
        appointments=tuple(read_appointments(taken, root)),
        services=tuple(read_services(taken, root)),
    )
