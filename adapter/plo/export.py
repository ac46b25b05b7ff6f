"""FHIR -> PLO: an Innleggelsesrapport or Utskrivningsrapport for a stay (Encounter), and a
Dialogmelding for a Communication, from what the store holds, in the MsgHead envelope.

**A report for an Encounter** gathers what the current documents of the stay wrote (the
DocumentReferences whose ``context.encounter`` is the stay, through their Provenance): the
patient, next of kin, connected units and responsible professionals (CareTeam), diagnoses
(Condition), the IPLOS assessment (Observation panel), goals (Goal), services (CarePlan), control
appointments (Appointment) and, for an Utskrivningsrapport, the stay's timed events (Encounter).
Entered-in-error resources are left out. The parties are named by HER-id, or taken from the stay's
latest document: the institution of the stay (``Encounter.serviceProvider``) sends an
Utskrivningsrapport and receives an Innleggelsesrapport; the other party of that document is the
other end.

**A Dialogmelding for a Communication**: the request or note it holds, sent by its sender
(its organisation from the Communication's Provenance when the sender is a person), to its
recipients, answering the message of the Communication it responds to.

What comes back is what the import structured (the round trip keeps it; see
``tests/plo/test_export.py``). What the import kept only as text does not: medication lists,
journal notes, the headings of a goal's journal texts (their text comes back), remarks kept as
CareTeam notes, who assessed the functional level and when (the schema needs an "external"
flag the import does not keep), a diagnosis' period, and parts the target message type has no
place for (needed services in an Innleggelsesrapport, existing services in an
Utskrivningsrapport). A professional or unit without an identifier cannot be written (the schemas
require one) and is left out.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapter.plo.fhir.datatypes import Datatypes
from adapter.plo.fhir.keys import SID
from adapter.plo.fhir.reverse import Reverse
from adapter.plo.lookup import by_identifier, read, search, written_by
from adapter.plo.model import (
    Code,
    Conversation,
    Diagnosis,
    Envelope,
    Goal,
    Header,
    Professional,
    Relative,
    Report,
    Responsible,
    Unit,
)
from adapter.plo.terminology import Terminology
from adapter.plo.writer import write_message
from adapter.store.repository import Repository, Transaction

__all__ = ["ExportError", "export_communication", "export_encounter", "stay_of"]

Resource = dict[str, Any]
HER_ID = "urn:oid:2.16.578.1.12.4.1.2"
_CLOSED = ("entered-in-error",)


class ExportError(ValueError):
    """What forlop was asked to export does not exist or cannot become that message."""


def _ended(resource: Resource) -> bool:
    status = resource.get("status") or resource.get("lifecycleStatus")
    verification = (resource.get("verificationStatus") or {}).get("coding") or [{}]
    return status in _CLOSED or verification[0].get("code") in _CLOSED


def _unique(items: list[Any]) -> tuple[Any, ...]:
    found: list[Any] = []
    for item in items:
        if item not in found:
            found.append(item)
    return tuple(found)


class _Gathered:
    """Resources read from the store by ``Type/id``, with their Organization ancestors."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.resources: dict[str, Resource] = {}

    def add(self, reference: str) -> Resource | None:
        if reference in self.resources:
            return self.resources[reference]
        found = read(self.tx, reference)
        if found is None:
            return None
        self.resources[reference] = found.resource
        parent = (found.resource.get("partOf") or {}).get("reference")
        if found.type == "Organization" and isinstance(parent, str):
            self.add(parent)
        return found.resource

    def of_type(self, resource_type: str) -> list[Resource]:
        return [
            r
            for r in self.resources.values()
            if r.get("resourceType") == resource_type and not _ended(r)
        ]

    def organisation_by_her(self, her: str) -> str:
        found = by_identifier(self.tx, "Organization", HER_ID, her)
        if len(found) != 1:
            raise ExportError(f"forlop knows {len(found)} organisations with HER-id {her}.")
        self.add(found[0].ref)
        return found[0].ref

    def top(self, reference: str) -> str:
        seen = {reference}
        resource = self.resources.get(reference) or {}
        while isinstance(parent := (resource.get("partOf") or {}).get("reference"), str):
            if parent in seen or self.add(parent) is None:
                break
            seen.add(parent)
            reference, resource = parent, self.resources[parent]
        return reference


def _now(terminology: Terminology, now: datetime | None) -> str:
    zone = ZoneInfo(str(terminology.settings["timeZone"]))
    moment = (now or datetime.now(zone)).astimezone(zone)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


def _team(reverse: Reverse, gathered: _Gathered) -> Header:
    units: list[Unit] = []
    responsibles: list[Responsible] = []
    relatives: list[Relative] = []
    for team in gathered.of_type("CareTeam"):
        found = reverse.team(team)
        units += found[0]
        responsibles += found[1]
        relatives += found[2]
    return Header(
        status=Code(v="N", dn="Ny"),
        relatives=_unique(relatives),
        units=_unique(units),
        responsibles=_unique(responsibles),
    )


def _parties(
    gathered: _Gathered,
    documents: list[Resource],
    institution: str | None,
    institution_sends: bool,
    sender_her: str | None,
    receiver_her: str | None,
) -> tuple[str, str]:
    """(sender, receiver) Organization references."""
    if sender_her and receiver_her:
        return gathered.organisation_by_her(sender_her), gathered.organisation_by_her(receiver_her)
    for document in reversed(documents):
        author = next(
            (a["reference"] for a in document.get("author") or []
             if str(a.get("reference", "")).startswith("Organization/")),
            None,
        )  # fmt: skip
        custodian = (document.get("custodian") or {}).get("reference")
        if not isinstance(author, str) or not isinstance(custodian, str):
            continue
        gathered.add(author)
        gathered.add(custodian)
        ours, theirs = (author, custodian)
        if institution is not None and gathered.top(custodian) == institution:
            ours, theirs = custodian, author
        sender, receiver = (ours, theirs) if institution_sends else (theirs, ours)
        if sender_her:
            sender = gathered.organisation_by_her(sender_her)
        if receiver_her:
            receiver = gathered.organisation_by_her(receiver_her)
        return sender, receiver
    raise ExportError(
        "The stay has no document that names its parties; name them with their HER-ids."
    )


def export_encounter(
    repo: Repository,
    encounter_id: str,
    message_type: str,
    *,
    sender_her: str | None = None,
    receiver_her: str | None = None,
    now: datetime | None = None,
    msg_id: str | None = None,
    terminology: Terminology | None = None,
) -> bytes:
    """An INNLEGGELSESRAPPORT or UTSKRIVNINGSRAPPORT for the stay ``Encounter/encounter_id``."""
    terminology = terminology or Terminology()
    kind = terminology.message_types.get(message_type)
    if kind is None or kind.family != "report" or kind.stay == "none":
        raise ExportError(
            f"forlop exports INNLEGGELSESRAPPORT and UTSKRIVNINGSRAPPORT for a stay, not "
            f"{message_type}."
        )
    types = Datatypes(terminology, "")
    with repo.transaction(read_only=True) as tx:
        gathered = _Gathered(tx)
        encounter = gathered.add(f"Encounter/{encounter_id}")
        if encounter is None:
            raise ExportError(f"forlop has no Encounter/{encounter_id}.")
        patient = gathered.add(str((encounter.get("subject") or {}).get("reference", "")))
        if patient is None:
            raise ExportError(f"Encounter/{encounter_id} has no patient forlop knows.")
        documents = sorted(
            (
                k.resource
                for k in search(tx, "DocumentReference", f"encounter=Encounter/{encounter_id}")
                if k.resource.get("status") == "current"
            ),
            key=lambda d: str(d.get("date", "")),
        )
        for document in documents:
            master = (document.get("masterIdentifier") or {}).get("value")
            for known in written_by(tx, str(master)):
                gathered.add(known.ref)
        provider = (encounter.get("serviceProvider") or {}).get("reference")
        institution = gathered.top(provider) if isinstance(provider, str) else None
        sender, receiver = _parties(
            gathered,
            documents,
            institution,
            kind.institution != "receiver",
            sender_her,
            receiver_her,
        )
        reverse = Reverse(gathered.resources, types)
        report = _report(reverse, gathered, encounter, patient, documents, message_type)
        generated = _now(terminology, now)
        envelope = Envelope(
            type=Code(v=kind.code, dn=kind.display),
            gen_date=generated,
            msg_id=msg_id or str(uuid.uuid4()),
            sender=reverse.organisation(gathered.resources[sender]),
            receiver=reverse.organisation(gathered.resources[receiver]),
            patient=reverse.person(patient),
            issue_date=generated,
        )
    return write_message(envelope, kind, report)


def _report(
    reverse: Reverse,
    gathered: _Gathered,
    encounter: Resource,
    patient: Resource,
    documents: list[Resource],
    message_type: str,
) -> Report:
    header = _team(reverse, gathered)
    header = replace(
        header,
        civil_status=reverse.code(patient.get("maritalStatus")),
        language=reverse.code(((patient.get("communication") or [{}])[0]).get("language")),
    )
    diagnoses: list[Diagnosis] = [reverse.diagnosis(c) for c in gathered.of_type("Condition")]
    panels = sorted(
        (o for o in gathered.of_type("Observation") if o.get("hasMember")),
        key=lambda o: str(o.get("effectiveDateTime", "")),
    )
    goals: list[Goal] = [reverse.goal(g) for g in gathered.of_type("Goal")]
    services = [s for plan in gathered.of_type("CarePlan") for s in reverse.services(plan)]
    content_type = None
    for document in documents:
        codes = [c.get("code") for c in (document.get("type") or {}).get("coding") or []]
        if message_type in codes and document.get("category"):
            content_type = reverse.code(document["category"][0])
    return Report(
        header=header,
        content_type=content_type,
        events=tuple(reverse.events(encounter)) if message_type == "UTSKRIVNINGSRAPPORT" else (),
        diagnoses=_unique(diagnoses),
        functions=reverse.functions(panels[-1]) if panels else None,
        goals=_unique(goals),
        appointments=_unique([reverse.appointment(a) for a in gathered.of_type("Appointment")]),
        services=_unique(services),
    )


def _provenance_of(tx: Transaction, reference: str) -> Resource | None:
    found = search(tx, "Provenance", f"target={reference}")
    return found[0].resource if found else None


def export_communication(
    repo: Repository,
    communication_id: str,
    *,
    sender_her: str | None = None,
    receiver_her: str | None = None,
    now: datetime | None = None,
    msg_id: str | None = None,
    terminology: Terminology | None = None,
) -> bytes:
    """The Dialogmelding of ``Communication/communication_id``."""
    terminology = terminology or Terminology()
    types = Datatypes(terminology, "")
    with repo.transaction(read_only=True) as tx:
        gathered = _Gathered(tx)
        reference = f"Communication/{communication_id}"
        communication = gathered.add(reference)
        if communication is None:
            raise ExportError(f"forlop has no {reference}.")
        categories = communication.get("category") or [{}]
        code = next(
            (c.get("code") for c in categories[0].get("coding") or [] if c.get("code")), None
        )
        if code is None and communication.get("inResponseTo"):
            code = "DIALOG_SVAR"
        kind = terminology.message_types.get(code or "DIALOG_FORESPORSEL")
        if kind is None or kind.family != "dialog":
            raise ExportError(f"{reference} is not a Dialogmelding ({code}).")
        patient = gathered.add(str((communication.get("subject") or {}).get("reference", "")))
        if patient is None:
            raise ExportError(f"{reference} has no patient forlop knows.")
        provenance = _provenance_of(tx, reference)
        sender_ref = str((communication.get("sender") or {}).get("reference", ""))
        sender = gathered.add(sender_ref)
        professional: Professional | None = None
        sender_org = sender_ref if sender_ref.startswith("Organization/") else None
        reverse = Reverse(gathered.resources, types)
        if sender is not None and sender.get("resourceType") == "Practitioner":
            professional = reverse.professional(sender)
            for agent in (provenance or {}).get("agent") or []:
                who = str((agent.get("who") or {}).get("reference", ""))
                codes = [c.get("code") for c in (agent.get("type") or {}).get("coding") or []]
                if "author" in codes and who.startswith("Organization/"):
                    sender_org = who
                    gathered.add(who)
        receiver_org = None
        receiver_professional = None
        for recipient in communication.get("recipient") or []:
            who = str(recipient.get("reference", ""))
            found = gathered.add(who)
            if found is None:
                continue
            if found.get("resourceType") == "Organization" and receiver_org is None:
                receiver_org = who
            elif found.get("resourceType") == "Practitioner":
                candidate = reverse.professional(found)
                if any(i.type.v == "HER" for i in candidate.person.idents):
                    receiver_professional = Professional(candidate.person, candidate.category)
        if sender_her:
            sender_org = gathered.organisation_by_her(sender_her)
        if receiver_her:
            receiver_org = gathered.organisation_by_her(receiver_her)
        if sender_org is None or receiver_org is None:
            raise ExportError(f"{reference} does not name both parties; give their HER-ids.")
        conversation = None
        for answered in communication.get("inResponseTo") or []:
            earlier = _provenance_of(tx, str(answered.get("reference", "")))
            source = next(
                (e for e in (earlier or {}).get("entity") or [] if e.get("role") == "source"), None
            )
            document = gathered.add(str(((source or {}).get("what") or {}).get("reference", "")))
            parent = ((document or {}).get("masterIdentifier") or {}).get("value")
            if isinstance(parent, str):
                conversation = Conversation(parent, parent)
        dialog = reverse.dialog(communication, professional)
        receiver = reverse.organisation(gathered.resources[receiver_org], receiver_professional)
        generated = _now(terminology, now)
        envelope = Envelope(
            type=Code(v=kind.code, dn=kind.display),
            gen_date=generated,
            msg_id=msg_id or str(uuid.uuid4()),
            sender=reverse.organisation(gathered.resources[sender_org]),
            receiver=receiver,
            patient=reverse.person(patient),
            conversation=conversation,
            issue_date=generated,
        )
    return write_message(envelope, kind, dialog)


def stay_of(repo: Repository, msg_id: str) -> str | None:
    """The id of the Encounter the message ``msg_id`` belongs to, if any."""
    with repo.transaction(read_only=True) as tx:
        for document in by_identifier(tx, "DocumentReference", SID.MSGID, msg_id):
            for encounter in (document.resource.get("context") or {}).get("encounter") or []:
                return str(encounter.get("reference", "")).partition("/")[2] or None
    return None
