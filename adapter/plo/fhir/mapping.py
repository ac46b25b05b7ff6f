"""One PLO message -> one FHIR R4 transaction Bundle of conditional, idempotent entries.

:func:`to_bundle` is pure: what the store already holds comes in as a
:class:`~adapter.plo.fhir.assembly.Prior` (empty for a first import, and for golden files). Run it
once with an empty Prior to learn what to look up (:class:`Needs`), look those up, and run it again.

What a message writes, by forsendelsesstatus:

- **N** (new): the patient, organisations, practitioners and next of kin (merged into what is
  stored), the hospital stay, the document's clinical resources, its DocumentReference and
  Provenance. An N for a document forlop already has is taken as a change.
- **M** (change): the same, landing on the resources the earlier version created (their
  identifiers come from the document key, which a change keeps); what the earlier version created
  and the change no longer has becomes entered-in-error; the earlier DocumentReference is
  superseded. A change of a document forlop does not have is taken as new.
- **C** (cancellation): no clinical content; everything earlier versions created becomes
  entered-in-error, their DocumentReferences too, and the stay loses the document's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapter.plo.fhir.assembly import SHARED_TYPES, Assembly, Known, Prior, conditional_url
from adapter.plo.fhir.clinical import Clinical
from adapter.plo.fhir.communication import Communications
from adapter.plo.fhir.datatypes import Datatypes
from adapter.plo.fhir.keys import SID, document_key, party
from adapter.plo.fhir.parties import Parties
from adapter.plo.fhir.record import document_reference, entered_in_error, provenance
from adapter.plo.fhir.stay import (
    admission,
    event_text,
    message_entries,
    stay_encounter,
    stay_keys,
)
from adapter.plo.leftovers import render_leftovers
from adapter.plo.message import Message
from adapter.plo.model import Dialog, Event, Header, Organisation, Professional, Report
from adapter.plo.terminology import Terminology

__all__ = ["Mapped", "Needs", "to_bundle"]

DIED = "13"  # KITH 9121: Pasienten er død
Reference = dict[str, str]


@dataclass(frozen=True)
class Needs:
    """What the importer must look up in the store before mapping a message for real."""

    msg_id: str
    document: str
    shared_urls: tuple[str, ...]
    stay_of: str | None = None  # plo-stay-of: the patient at the stay's institution
    stay_key: str | None = None  # plo-stay: the stay, when the message says when it began
    parent_msg_id: str | None = None  # the message a Dialogmelding answers
    document_date: str = ""  # RefDoc/IssueDate (else GenDate)


@dataclass(frozen=True)
class Mapped:
    bundle: dict[str, Any]
    needs: Needs
    status: str  # the forsendelsesstatus acted on (N, M or C)
    warnings: tuple[str, ...]


def _deepest_professional(organisation: Organisation) -> Professional | None:
    node: Organisation | None = organisation
    found = None
    while node is not None:
        found = node.professional or found
        node = node.unit
    return found


def _death(events: tuple[Event, ...]) -> Event | None:
    for event in events:
        if event.code is not None and event.code.v == DIED and not event.estimated:
            return event
    return None


def _effective_status(message: Message, prior: Prior, warnings: list[str]) -> str:
    status = message.status
    if status == "N" and prior.documents:
        warnings.append("forlop has this document already; the new message is taken as a change.")
        return "M"
    if status == "M" and not prior.documents:
        warnings.append("forlop does not have the document this change is for; it is taken as new.")
        return "N"
    return status


class _Mapping:
    def __init__(self, message: Message, prior: Prior, terminology: Terminology) -> None:
        self.message = message
        self.prior = prior
        self.envelope = message.envelope
        self.types = Datatypes(terminology, party(message.envelope.sender))
        self.assembly = Assembly(prior)
        self.parties = Parties(self.assembly, self.types)
        self.warnings = list(message.warnings)
        self.document = document_key(
            self.envelope.sender,
            self.envelope.receiver,
            (message.patient_system, message.patient_id),
            message.type.code,
            self.envelope.document_date,
        )
        self.status = _effective_status(message, prior, self.warnings)
        self.patient_key = (message.patient_system, message.patient_id)
        content = message.content
        self.header: Header | None = None if isinstance(content, Dialog) else content.header
        self.events: tuple[Event, ...] = () if isinstance(content, Dialog) else content.events

    # --- the parts ------------------------------------------------------------------------------

    def patient(self) -> Reference:
        extra: dict[str, Any] = {}
        drop: tuple[str, ...] = ()
        if self.header is not None and self.status != "C":
            marital = self.types.concept(self.header.civil_status)
            if marital:
                extra["maritalStatus"] = marital
            language = self.types.concept(self.header.language)
            if language:
                extra["communication"] = [{"language": language}]
        death = _death(self.events)
        if death is not None:
            died = self.types.moment(death.time)
            if self.status != "C":
                extra["deceasedDateTime"] = died
            else:
                url = conditional_url("Patient", *self.patient_key)
                stored = self.prior.shared.get(url)
                if stored is not None and stored.resource.get("deceasedDateTime") == died:
                    drop = ("deceasedDateTime",)
        return self.parties.patient(self.envelope.patient, self.patient_key, extra, drop)

    def stay(
        self, patient: Reference, institution: list[Reference]
    ) -> tuple[Reference | None, Needs]:
        kind = self.message.type
        base = Needs(self.envelope.msg_id, self.document, ())
        if kind.stay == "none" or self.header is None:
            return None, base
        top = self.envelope.sender if kind.institution != "receiver" else self.envelope.receiver
        identifiers = self.types.identifiers(top.idents)
        key = (
            (str(identifiers[0]["system"]), str(identifiers[0]["value"]))
            if identifiers
            else ("name", top.name or "-")
        )
        admitted = admission(self.events)
        stay_of, stay_key = stay_keys(key, self.patient_key, admitted, self.document)
        needs = Needs(
            self.envelope.msg_id,
            self.document,
            (),
            stay_of=stay_of,
            stay_key=stay_key if admitted is not None else None,
        )
        stored = self.prior.stay
        if stored is None and kind.stay != "open":
            return None, needs
        entries = (
            []
            if self.status == "C"
            else message_entries(self.types, self.events, self.document, kind,
                                 self.envelope.document_date)
        )  # fmt: skip
        new_keys = [(SID.STAY_OF, stay_of)]
        if stored is None or admitted is not None:
            new_keys.append((SID.STAY, stay_key))
        resource = stay_encounter(
            self.types,
            stored=stored.resource if stored else None,
            entries=entries,
            document=self.document,
            patient=patient,
            provider=institution[0],
            new_keys=new_keys,
        )
        lookup = stay_key
        if stored is not None:
            lookup = next(
                (
                    str(i["value"])
                    for i in stored.resource.get("identifier") or []
                    if i.get("system") == SID.STAY
                ),
                stay_key,
            )
        return self.assembly.put(resource, SID.STAY, lookup, known=stored), needs

    def content(
        self,
        patient: Reference,
        encounter: Reference | None,
        sender: list[Reference],
        receiver: list[Reference],
    ) -> list[Reference]:
        """The clinical resources of a new or changed document."""
        content = self.message.content
        put = lambda resource, value: self.assembly.put(resource, SID.ITEM, value)  # noqa: E731
        if isinstance(content, Dialog):
            professional = _deepest_professional(self.envelope.receiver)
            recipients = [receiver[-1]]
            if professional is not None:
                recipients.append(self.parties.practitioner(professional))
            sender_professional = _deepest_professional(self.envelope.sender)
            conversation = self.envelope.conversation
            communications = Communications(
                self.types,
                put,
                document=self.document,
                message_type=(self.message.type.code, self.message.type.display),
                patient=patient,
                sent=self.types.moment(self.envelope.gen_date),
                sender=(
                    self.parties.practitioner(sender_professional)
                    if sender_professional is not None
                    else sender[-1]
                ),
                recipients=recipients,
                practitioner=self.parties.practitioner,
                organisation=lambda org: self.parties.organisations(org)[-1],
                answered=[{"reference": known.ref} for known in self.prior.answered],
                parent_msg_id=conversation.parent if conversation else None,
            )
            return communications.build(content)
        clinical = Clinical(
            self.types,
            put,
            document=self.document,
            patient=patient,
            encounter=encounter,
            document_date=self.envelope.document_date,
        )
        assert self.header is not None
        header = self.header
        patient_key = f"{self.patient_key[0]}|{self.patient_key[1]}"
        relatives = [
            self.parties.related_person(relative, patient, patient_key)
            for relative in header.relatives
        ]
        refs: list[Reference] = []
        assessor: tuple[Reference | None, Reference | None] = (None, None)
        if isinstance(content, Report):
            refs += clinical.conditions(content.diagnoses)
            functions = content.functions
            if functions is not None:
                assessor = (
                    self.parties.practitioner(functions.assessor) if functions.assessor else None,
                    self.parties.organisations(functions.assessor_unit)[-1]
                    if functions.assessor_unit
                    else None,
                )
                performers = [ref for ref in assessor if ref is not None]
                approved = next((r.approved for r in header.responsibles if r.approved), None)
                when = approved or self.envelope.document_date
                refs += clinical.observations(functions, performers, when)
            refs += clinical.goals(content.goals)
            refs += clinical.appointments(content.appointments)
            refs += clinical.care_plans(content.services, sender[-1])
        addressed = []
        for label, chain in (
            ("Avsender", self.envelope.sender),
            ("Mottaker", self.envelope.receiver),
        ):
            professional = _deepest_professional(chain)
            if professional is not None:
                addressed.append((label, self.parties.practitioner(professional)))
        team = clinical.care_team(
            header,
            title=f"{self.message.type.display}: kontakter",
            practitioner=self.parties.practitioner,
            organisation=lambda org: self.parties.organisations(org)[-1],
            relatives=relatives,
            assessor=assessor,
            addressed=addressed,
            manager=sender[0],
        )
        if team is not None:
            refs.append(team)
        return refs

    def earlier(self) -> tuple[list[Reference], list[Reference]]:
        """Marks on what earlier versions wrote: (replaced documents, earlier documents)."""
        written = {
            str(i.get("value"))
            for resource in self.assembly.resources()
            for i in resource.get("identifier") or []
            if isinstance(i, dict) and i.get("system") == SID.ITEM
        }
        for known in self.prior.owned:
            if known.type in SHARED_TYPES or known.type == "Encounter":
                continue
            if item_values(known) & written:
                continue
            marked = entered_in_error(known)
            if marked is not None:
                self.assembly.put_stored(known, marked)
        replaced: list[Reference] = []
        earlier: list[Reference] = []
        for known in self.prior.documents:
            current = known.resource.get("status") == "current"
            new_status = "entered-in-error" if self.status == "C" else "superseded"
            if known.resource.get("status") not in (new_status, "entered-in-error"):
                body = {k: v for k, v in known.resource.items() if k not in ("meta", "text")}
                ref = self.assembly.put_stored(known, {**body, "status": new_status})
            else:
                ref = {"reference": known.ref}
            earlier.append(ref)
            if current:
                replaced.append(ref)
        return replaced, earlier

    # --- the whole ------------------------------------------------------------------------------

    def run(self) -> Mapped:
        patient = self.patient()
        sender = self.parties.organisations(self.envelope.sender)
        receiver = self.parties.organisations(self.envelope.receiver)
        institution = receiver if self.message.type.institution == "receiver" else sender
        encounter, needs = self.stay(patient, institution)
        leftovers = render_leftovers(list(self.message.leftovers))
        if self.status != "C":
            self.content(patient, encounter, sender, receiver)
            if encounter is None and self.events:
                # No stay to hold the events: keep them with the document, as text.
                events = "\n".join(event_text(event) for event in self.events)
                heading = "Hendelser som ikke er knyttet til et opphold"
                leftovers = "\n\n".join(
                    part for part in (leftovers, f"{heading}\n{events}") if part
                )
        replaced, earlier = self.earlier()
        authors = [sender[-1]]
        if self.header is not None:
            authors += [
                self.parties.practitioner(r.professional)
                for r in self.header.responsibles
                if r.kind == "report"
            ]
        kind = self.message.type
        content = self.message.content
        category = None
        description = kind.display
        if isinstance(content, Report):
            category = self.types.concept(content.content_type)
            if content.content_remark:
                description = f"{kind.display}: {content.content_remark}"
        conversation = self.envelope.conversation
        related = []
        if conversation is not None:
            for label, msg_id in (
                ("RefToParent", conversation.parent),
                ("RefToConversation", conversation.conversation),
            ):
                related.append(
                    {"identifier": {"system": SID.MSGID, "value": msg_id}, "display": label}
                )
        gen_date = self.types.moment(self.envelope.gen_date)
        document = document_reference(
            raw=self.message.raw,
            envelope_version=self.envelope.mig_version,
            leftovers=leftovers,
            msg_id=self.envelope.msg_id,
            document=self.document,
            status=self.status,
            message_type=(kind.code, kind.display),
            category=category,
            description=description,
            date=gen_date,
            patient=patient,
            authors=authors,
            custodian=receiver[-1],
            encounter=encounter,
            replaces=replaced,
            related=related,
        )
        source = self.assembly.put(document, SID.MSGID, self.envelope.msg_id)
        activity = self.types.terminology.translate(
            "plo-forsendelsesstatus-activity",
            "http://forlop.no/fhir/CodeSystem/plo-forsendelsesstatus",
            self.status,
        )
        record = provenance(
            targets=self.assembly.references(),
            recorded=gen_date,
            occurred=self.types.moment(self.envelope.document_date),
            activity=activity or "CREATE",
            author=sender[-1],
            custodian=receiver[-1],
            source=source,
            earlier=earlier,
            status=self.status,
        )
        self.assembly.put(record, SID.MSGID, self.envelope.msg_id)
        conversation_parent = (
            conversation.parent if conversation and isinstance(content, Dialog) else None
        )
        needs = Needs(
            needs.msg_id,
            needs.document,
            tuple(self.assembly.shared_urls),
            needs.stay_of,
            needs.stay_key,
            conversation_parent,
            self.envelope.document_date,
        )
        warnings = tuple(dict.fromkeys(self.warnings + self.types.warnings))
        return Mapped(self.assembly.bundle(), needs, self.status, warnings)


def to_bundle(
    message: Message, prior: Prior | None = None, terminology: Terminology | None = None
) -> Mapped:
    """The transaction Bundle for ``message`` given what the store holds (``prior``)."""
    return _Mapping(message, prior or Prior(), terminology or Terminology()).run()


def item_values(known: Known) -> set[str]:
    """The plo-item identifiers of a stored resource."""
    return {
        str(i.get("value"))
        for i in known.resource.get("identifier") or []
        if i.get("system") == SID.ITEM
    }
