"""Reading one PLO message: bytes -> :class:`Message` (envelope, content, text leftovers).

The steps, each of which can refuse the message with the AppRec error code that says why:
read the XML through the hardened parser (T01); validate it against the KITH schemas when a schema
folder is configured (T02); read the MsgHead envelope (T02, E10, E30); look the MsgInfo type up in
``mappings/plo-message-type.json`` and check that the content is the document that type carries
(T10); read the content by its family (reports, Pasientlogistikk, Dialogmelding); and check the
patient's identity number (E30 missing, E31 wrong control digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from adapter.domain.identifiers import dnr_problem, fnr_problem
from adapter.fhir.xml_codec import DEFAULT_MAX_BYTES
from adapter.plo.dialog import read_dialog
from adapter.plo.envelope import original_of, read_envelope
from adapter.plo.errors import PloError, reject
from adapter.plo.kith import Taken
from adapter.plo.leftovers import Leftover, leftovers
from adapter.plo.logistics import read_logistics
from adapter.plo.model import Dialog, Envelope, Ident, Logistics, Report
from adapter.plo.reader import read_xml
from adapter.plo.reports import read_report
from adapter.plo.terminology import MessageType, Terminology
from adapter.plo.xsd import Schemas

__all__ = ["FNR", "DNR", "Message", "parse_message", "patient_ident"]

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
HNR = "urn:oid:2.16.578.1.12.4.1.4.3"

Content = Report | Logistics | Dialog


@dataclass(frozen=True)
class Message:
    """A PLO message as forlop understood it."""

    raw: bytes
    envelope: Envelope
    type: MessageType
    content: Content
    leftovers: tuple[Leftover, ...]
    patient_system: str  # the FHIR system of the patient's identity number
    patient_id: str
    warnings: tuple[str, ...] = ()
    # The element tree and which of its elements the readers took (the rest is in leftovers).
    tree: etree._Element | None = field(default=None, compare=False, repr=False)
    taken: Taken | None = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> str:
        """Forsendelsesstatus (N, M, C); a Dialogmelding is always new."""
        if isinstance(self.content, Dialog):
            return "N"
        return self.content.header.status.v or "N"


def patient_ident(
    terminology: Terminology, idents: tuple[Ident, ...]
) -> tuple[str, str, list[str]]:
    """(system, value, warnings) of the patient's fødselsnummer, D-number or hjelpenummer.

    Raises E30 when the patient has none and E31 when it fails its control digits. A D-number sent
    with TypeId FNR is accepted as the D-number it is, with a warning.
    """
    for ident in idents:
        system = terminology.translate("plo-identifier-system", None, ident.type.v or "")
        if system not in (FNR, DNR, HNR):
            continue
        value = ident.id
        if system == HNR:
            return system, value, []
        problem = (fnr_problem if system == FNR else dnr_problem)(value)
        if problem is None:
            return system, value, []
        if system == FNR and dnr_problem(value) is None:
            return DNR, value, ["The patient's FNR is a D-number; it is stored as a D-number."]
        label = "fødselsnummer" if system == FNR else "D-number"
        raise reject(
            "E31",
            f"The patient's {label} (ending {value[-2:]}) is not valid: {problem}.",
            "MsgHead/MsgInfo/Patient/Ident",
        )
    raise reject(
        "E30",
        "The patient has no fødselsnummer, D-number or hjelpenummer (MsgInfo/Patient/Ident).",
        "MsgHead/MsgInfo/Patient/Ident",
    )


def _message_type(
    terminology: Terminology, envelope: Envelope, root: etree._Element
) -> MessageType:
    code = envelope.type.v or ""
    kind = terminology.message_types.get(code)
    if kind is None:
        raise reject(
            "T10",
            f"forlop does not take messages of type '{code}' ({envelope.type.dn or 'no name'}).",
            "MsgHead/MsgInfo/Type",
        )
    if root.tag not in kind.contents:
        raise reject(
            "T10",
            f"A {code} message must carry {' or '.join(kind.contents)}; this one carries "
            f"{root.tag}.",
            "MsgHead/Document/RefDoc/Content",
        )
    return kind


def _content(taken: Taken, kind: MessageType, root: etree._Element) -> Content:
    if kind.family == "dialog":
        return read_dialog(taken, root)
    if kind.family == "logistics":
        return read_logistics(taken, root, kind.usage or "")
    return read_report(taken, root)


def parse_message(
    data: bytes,
    terminology: Terminology | None = None,
    *,
    schemas: Schemas | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Message:
    """Read and check one message; raises :class:`PloError` with the receipt's error codes."""
    terminology = terminology or Terminology()
    root = read_xml(data, max_bytes=max_bytes)
    try:
        return _parse(data, root, terminology, schemas)
    except PloError as error:
        raise PloError(error.problems, original_of(root)) from None


def _parse(
    data: bytes, root: etree._Element, terminology: Terminology, schemas: Schemas | None
) -> Message:
    if schemas is not None:
        problems = schemas.validate(root)
        if problems:
            raise PloError(problems)
    taken = Taken()
    envelope, content_root = read_envelope(taken, root)
    kind = _message_type(terminology, envelope, content_root)
    system, value, warnings = patient_ident(terminology, envelope.patient.idents)
    content = _content(taken, kind, content_root)
    if not isinstance(content, Dialog):
        status = content.header.status.v
        if status not in ("N", "M", "C"):
            raise reject(
                "X99",
                f"Forsendelsesstatus '{status}' is not N (new), M (change) or C (cancellation).",
                f"{etree.QName(content_root).localname}/InformasjonOmForsendelsen",
            )
    rest = leftovers(root, taken, skip=content_root) + leftovers(content_root, taken)
    return Message(
        raw=data,
        envelope=envelope,
        type=kind,
        content=content,
        leftovers=tuple(rest),
        patient_system=system,
        patient_id=value,
        warnings=tuple(warnings),
        tree=root,
        taken=taken,
    )
