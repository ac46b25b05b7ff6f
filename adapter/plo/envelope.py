"""The MsgHead v1.2 envelope (KITH "Hodemelding", ``http://www.kith.no/xmlstds/msghead/2006-05-24``).

``MsgInfo`` names the message type (``Type/@V``), when it was generated (``GenDate``), its unique
id (``MsgId``), an optional ``ConversationRef``, the sending and receiving organisations (each an
``Organisation`` chain down to the communicating unit, sometimes ending in a
``HealthcareProfessional``) and the patient. The one ``Document/RefDoc`` carries ``IssueDate`` (the
date of the document, kept through change and cancellation) and the content as an XML instance.

forlop needs all of these to act on a message, so a missing one refuses it: T02 for missing
structure, E10 for a missing MsgId, E30 for a missing patient, T10 for a document forlop cannot
read (several documents, a file reference, a non-XML instance). The XML signature is not verified
(transport security is the message exchange's job); like everything else it stays in the stored
original.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from adapter.plo.errors import reject
from adapter.plo.kith import (
    DATETIME,
    Taken,
    is_moment,
    kid,
    kids,
    local,
    read_code,
    read_organisation,
    read_person,
    read_text,
    read_ts,
)
from adapter.plo.model import Code, Conversation, Envelope, Organisation

__all__ = ["MSGHEAD_NS", "Original", "original_of", "read_envelope"]

MSGHEAD_NS = "http://www.kith.no/xmlstds/msghead/2006-05-24"
_XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"

Element = etree._Element


def _required(element: Element | None, path: str) -> Element:
    if element is None:
        raise reject("T02", f"The message has no {path.rsplit('/', 1)[-1]}.", path)
    return element


def _party(info: Element, role: str) -> Element:
    wrapper = _required(kid(info, role), f"MsgHead/MsgInfo/{role}")
    return _required(kid(wrapper, "Organisation"), f"MsgHead/MsgInfo/{role}/Organisation")


def read_envelope(taken: Taken, root: Element) -> tuple[Envelope, Element]:
    """The envelope and the content's root element; raises PloError when either is unusable."""
    if root.tag != f"{{{MSGHEAD_NS}}}MsgHead":
        raise reject(
            "T10",
            f"The root element is {root.tag}; forlop reads MsgHead v1.2 ({MSGHEAD_NS}).",
            "/",
        )
    info = _required(kid(root, "MsgInfo"), "MsgHead/MsgInfo")
    msg_type = read_code(taken, kid(info, "Type"))
    if msg_type is None or msg_type.v is None:
        raise reject("T02", "MsgInfo/Type has no V attribute.", "MsgHead/MsgInfo/Type")
    msg_id = read_text(taken, kid(info, "MsgId"))
    if msg_id is None:
        raise reject("E10", "MsgInfo/MsgId is missing or empty.", "MsgHead/MsgInfo/MsgId")
    gen_node = kid(info, "GenDate")
    gen_date = read_text(taken, gen_node)
    if gen_date is None or not DATETIME.fullmatch(gen_date) or not is_moment(gen_date):
        raise reject("T02", "MsgInfo/GenDate is not a date and time.", "MsgHead/MsgInfo/GenDate")
    sender = _party(info, "Sender")
    receiver = _party(info, "Receiver")
    patient = kid(info, "Patient")
    if patient is None:
        raise reject("E30", "The message names no patient (MsgInfo/Patient).", "MsgHead/MsgInfo")
    conversation = None
    ref = kid(info, "ConversationRef")
    if ref is not None:
        parent = read_text(taken, kid(ref, "RefToParent"))
        whole = read_text(taken, kid(ref, "RefToConversation"))
        if parent and whole:
            conversation = Conversation(parent, whole)
    for signature in kids(root, "Signature"):
        if etree.QName(signature).namespace == _XMLDSIG_NS:
            taken.take(signature)
    issue_date, content = _document(taken, root)
    envelope = Envelope(
        type=msg_type,
        gen_date=gen_date,
        msg_id=msg_id,
        sender=read_organisation(taken, sender),
        receiver=read_organisation(taken, receiver),
        patient=read_person(taken, patient, nationality=True),
        mig_version=read_text(taken, kid(info, "MIGversion")),
        conversation=conversation,
        issue_date=issue_date,
    )
    return envelope, content


def _document(taken: Taken, root: Element) -> tuple[str | None, Element]:
    documents = kids(root, "Document")
    if len(documents) != 1:
        raise reject(
            "T10",
            f"The message has {len(documents)} Document elements; forlop reads messages with "
            "exactly one.",
            "MsgHead/Document",
        )
    refdoc = _required(kid(documents[0], "RefDoc"), "MsgHead/Document/RefDoc")
    kind = read_code(taken, kid(refdoc, "MsgType"))
    if kind is None or kind.v != "XML":
        raise reject(
            "T10",
            "RefDoc/MsgType must be XML: forlop reads the document as an XML instance in Content.",
            "MsgHead/Document/RefDoc/MsgType",
        )
    content = _required(kid(refdoc, "Content"), "MsgHead/Document/RefDoc/Content")
    elements = [child for child in content if local(child)]
    if len(elements) != 1:
        raise reject(
            "T02",
            f"RefDoc/Content holds {len(elements)} elements; exactly one document was expected.",
            "MsgHead/Document/RefDoc/Content",
        )
    return read_ts(taken, kid(refdoc, "IssueDate")), elements[0]


@dataclass(frozen=True)
class Original:
    """What a receipt must name about the message it answers, as far as it could be read."""

    type: Code | None = None
    msg_id: str | None = None
    gen_date: str | None = None
    sender: Organisation | None = None
    receiver: Organisation | None = None


def original_of(root: Element) -> Original:
    """The parts of MsgInfo a receipt needs, read leniently from any tree (never raises)."""
    taken = Taken()
    info = kid(root, "MsgInfo")
    if info is None:
        return Original()
    gen_date = read_text(taken, kid(info, "GenDate"))
    parties = []
    for role in ("Sender", "Receiver"):
        node = kid(kid(info, role), "Organisation")
        parties.append(read_organisation(taken, node) if node is not None else None)
    return Original(
        type=read_code(taken, kid(info, "Type")),
        msg_id=read_text(taken, kid(info, "MsgId")),
        gen_date=gen_date
        if gen_date and DATETIME.fullmatch(gen_date) and is_moment(gen_date)
        else None,
        sender=parties[0],
        receiver=parties[1],
    )
