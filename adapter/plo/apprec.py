"""Application receipts: AppRec v1.1 (``http://www.kith.no/xmlstds/apprec/2012-02-15``).

Every imported message is answered with an AppRec, as PLO senders expect. It is addressed back:
its ``Sender`` is the organisation the message was sent to (on whose behalf forlop received it),
its ``Receiver`` the organisation that sent it, each as ``HCP/Inst`` (the top organisation, its
HER-id) with the more specific units as ``Dept`` and a professional at the end of the chain as
``HCPerson``. ``Status`` is 1 "OK" or 2 "Avvist" (rejected; ``mappings/plo-settings.json``); a
rejection carries one ``Error`` per problem: ``V`` the code and ``S`` the OID of KITH code system
8221, ``DN`` its description (``mappings/plo-kith-8221.json``) and ``OT`` what exactly was wrong.
``OriginalMsgId`` names the message answered: its type, GenDate and MsgId.

When a message is so broken that its sender or MsgId cannot be read, the receipt still follows the
schema: the unknown parts are empty (``Inst`` has only optional children, ``Id`` is a string) and
``IssueDate``, which must be a date and time, is the time of the receipt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import version

from lxml import etree

from adapter.plo.envelope import Original
from adapter.plo.errors import Problem
from adapter.plo.model import Ident, Organisation, Professional
from adapter.plo.terminology import Terminology

__all__ = ["APPREC_NS", "ERROR_SYSTEM", "build_apprec"]

APPREC_NS = "http://www.kith.no/xmlstds/apprec/2012-02-15"
ERROR_SYSTEM = "2.16.578.1.12.4.1.1.8221"
MIG_VERSION = "v1.1 2012-02-15"
_HER = "HER"


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{APPREC_NS}}}{name}")
    if text is not None:
        node.text = text
    for key, value in attrs.items():
        if value:
            node.set(key, value)
    return node


def _preferred(idents: tuple[Ident, ...]) -> Ident | None:
    return next((i for i in idents if i.type.v == _HER), idents[0] if idents else None)


def _identify(parent: etree._Element, name: str | None, ident: Ident | None) -> None:
    if name:
        _el(parent, "Name", name)
    if ident is not None:
        _el(parent, "Id", ident.id)
        _el(parent, "TypeId", V=ident.type.v or "", DN=ident.type.dn or "")


def _person_name(professional: Professional) -> str:
    person = professional.person
    return " ".join(p for p in (person.given, person.middle, person.family) if p)


def _hcp(parent: etree._Element, role: str, organisation: Organisation | None) -> None:
    hcp = _el(_el(parent, role), "HCP")
    inst = _el(hcp, "Inst")
    if organisation is None:
        return
    _identify(inst, organisation.name, _preferred(organisation.idents))
    professional = organisation.professional
    unit = organisation.unit
    while unit is not None:
        dept = _el(inst, "Dept")
        _identify(dept, unit.name, _preferred(unit.idents))
        professional = unit.professional or professional
        unit = unit.unit
    if professional is not None:
        person = _el(inst, "HCPerson")
        _identify(
            person, _person_name(professional) or None, _preferred(professional.person.idents)
        )


def _datetime(value: str | None, fallback: str) -> str:
    """An xs:dateTime: KITH allows leaving out the seconds, the AppRec schema does not."""
    if value is None:
        return fallback
    date, _, time = value.partition("T")
    if len(time) >= 5 and (len(time) == 5 or time[5] != ":"):
        time = time[:5] + ":00" + time[5:]
    return f"{date}T{time}"


def build_apprec(
    original: Original,
    problems: Sequence[Problem],
    *,
    receipt_id: str,
    now: datetime,
    terminology: Terminology | None = None,
) -> bytes:
    """The AppRec for a message: OK without problems, rejected with them."""
    terminology = terminology or Terminology()
    status = terminology.settings["apprecStatus"]["rejected" if problems else "ok"]
    root = etree.Element(f"{{{APPREC_NS}}}AppRec", nsmap={None: APPREC_NS})  # type: ignore[dict-item]
    _el(root, "MsgType", V="APPREC", DN="Applikasjonskvittering")
    _el(root, "MIGversion", MIG_VERSION)
    _el(root, "SoftwareName", "forlop")
    _el(root, "SoftwareVersion", version("forlop"))
    generated = now.isoformat(timespec="seconds")
    _el(root, "GenDate", generated)
    _el(root, "Id", receipt_id)
    _hcp(root, "Sender", original.receiver)
    _hcp(root, "Receiver", original.sender)
    _el(root, "Status", V=str(status[0]), DN=str(status[1]))
    for problem in problems:
        detail = (
            f"{problem.description} ({problem.where})" if problem.where else problem.description
        )
        _el(
            root,
            "Error",
            V=problem.code,
            S=ERROR_SYSTEM,
            DN=terminology.error_description(problem.code),
            OT=detail,
        )
    ref = _el(root, "OriginalMsgId")
    kind = original.type
    _el(ref, "MsgType", V=(kind.v if kind else None) or "", DN=(kind.dn if kind else None) or "")
    _el(ref, "IssueDate", _datetime(original.gen_date, generated))
    _el(ref, "Id", original.msg_id or "")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
