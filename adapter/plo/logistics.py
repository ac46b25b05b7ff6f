"""Pasientlogistikk v1.6 (``http://www.kith.no/xmlstds/po/Pasientlogistikk/2012-04-01``).

One message has one use (meldingsanvendelse), and the MsgInfo type names which: LOG_INNLAGT
(MeldingInnlagtPasient), LOG_UTSKRIVNINGSKLAR (MeldingUtskrivningsklarPasient), LOG_AVMELDING
(AvmeldingUtskrivningsklarPasient), LOG_UTSKREVET (MeldingOmUtskrevetPasient) and LOG_DOD
(OrienteringOmDod). Each holds timed events (TidsfestetHendelse, KITH 9121 codes: 1 admitted,
3 ready for discharge, 4 ready-for-discharge withdrawn, 2 discharged, 13 died); a discharge also
says where to (UtskrevetTil), which forlop attaches to the discharge event.
"""

from __future__ import annotations

from dataclasses import replace

from lxml import etree

from adapter.plo.components import read_event, read_header
from adapter.plo.errors import reject
from adapter.plo.kith import Taken, kid, kids, read_code, read_text
from adapter.plo.model import Event, Logistics

__all__ = ["DISCHARGE_EVENT", "read_logistics"]

Element = etree._Element
DISCHARGE_EVENT = "2"  # KITH 9121: Pasient utskrevet


def read_logistics(taken: Taken, root: Element, usage: str) -> Logistics:
    """The header and the events of the use ``usage`` (from the message type)."""
    header = read_header(taken, root)
    node = kid(root, usage)
    if node is None:
        raise reject(
            "T02",
            f"This Pasientlogistikk message needs the element {usage} for its MsgInfo type.",
            f"Pasientlogistikk/{usage}",
        )
    events: list[Event] = []
    for timed in kids(node, "TidsfestetHendelse"):
        event = read_event(taken, timed)
        if event is not None:
            events.append(event)
    discharge = kid(node, "UtskrevetTil")
    target = next(
        (i for i, e in enumerate(events) if e.code and e.code.v == DISCHARGE_EVENT),
        0 if len(events) == 1 else None,
    )
    if discharge is not None and target is not None:
        events[target] = replace(
            events[target],
            discharge_state=read_code(taken, kid(discharge, "Uttilstand")),
            discharged_to=read_code(taken, kid(discharge, "UtTil")),
            discharge_remark=read_text(taken, kid(discharge, "Merknad")),
        )
    return Logistics(header=header, usage=usage, events=tuple(events))
