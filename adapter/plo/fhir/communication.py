"""Dialogmelding -> Communication (FHIR R4), one per request (Foresporsel) or note (Notat).

- category: the message type (``plo-message-type``: forespørsel, svar, avvik) and the request type
  (TypeForesp, KITH 9152) or note theme (TemaKodet, KITH 9069 / 8117);
- payload: the question or the note's text; an answer also repeats the question it answers;
- sender: the health personnel in RollerRelatertNotat when there is one, else the sending unit;
  recipient: the receiving unit (and its professional);
- inResponseTo: the Communications of the message named by ``ConversationRef/RefToParent`` when
  forlop has it; otherwise a note names that MsgId;
- everything else (purpose, reason, urgency, period, record types, case type, roles) as notes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapter.plo.fhir.clinical import item, notes_of
from adapter.plo.fhir.datatypes import Datatypes
from adapter.plo.fhir.labels import Label, line, lines
from adapter.plo.model import Dialog, DialogNote, DialogRequest, DialogRole, Professional

__all__ = ["Communications"]

Reference = dict[str, str]
MESSAGE_TYPES = "http://forlop.no/fhir/CodeSystem/plo-message-type"


class Communications:
    def __init__(
        self,
        types: Datatypes,
        put: Callable[[dict[str, Any], str], Reference],
        *,
        document: str,
        message_type: tuple[str, str],
        patient: Reference,
        sent: str,
        sender: Reference,
        recipients: list[Reference],
        practitioner: Callable[[Professional], Reference],
        organisation: Callable[[Any], Reference],
        answered: list[Reference],
        parent_msg_id: str | None,
    ) -> None:
        self.types = types
        self._put = put
        self.document = document
        self.message_type = message_type
        self.patient = patient
        self.sent = sent
        self.sender = sender
        self.recipients = recipients
        self.practitioner = practitioner
        self.organisation = organisation
        self.answered = answered
        self.parent_msg_id = parent_msg_id

    def build(self, dialog: Dialog) -> list[Reference]:
        refs = []
        for i, request in enumerate(dialog.requests, 1):
            refs.append(self._item(self._request(request, dialog), "request", str(i)))
        for i, note in enumerate(dialog.notes, 1):
            refs.append(self._item(self._note(note, dialog), "note", str(i)))
        return refs

    def _item(self, resource: dict[str, Any], *key: str) -> Reference:
        return self._put(*item(resource, self.document, *key))

    def _base(self, kind: dict[str, Any] | None, roles: tuple[DialogRole, ...]) -> dict[str, Any]:
        code, display = self.message_type
        categories = [{"coding": [{"system": MESSAGE_TYPES, "code": code, "display": display}]}]
        if kind:
            categories.append(kind)
        resource: dict[str, Any] = {
            "resourceType": "Communication",
            "status": "completed",
            "category": categories,
            "subject": self.patient,
        }
        if self.answered:
            resource["inResponseTo"] = self.answered
        resource["sent"] = self.sent
        resource["recipient"] = self.recipients
        senders = [self.practitioner(r.professional) for r in roles if r.professional]
        resource["sender"] = senders[0] if senders else self.sender
        return resource

    def _role_lines(self, roles: tuple[DialogRole, ...]) -> list[str]:
        found = []
        for role in roles:
            labels = [
                self._label(role.role),
                self._label(role.role_to_patient),
            ]
            people = []
            if role.professional is not None:
                people.append(self._person(role.professional.person))
            if role.person is not None:
                people.append(self._person(role.person))
            if role.unit is not None:
                self.organisation(role.unit)
                people.append(role.unit.name or "-")
            what = ", ".join(label for label in labels if label) or "Rolle"
            found.append(f"{what}: {', '.join(people) or '-'}")
        return found

    @staticmethod
    def _label(code: Any) -> str | None:
        return (code.dn or code.v) if code is not None else None

    def _person(self, person: Any) -> str:
        name = self.types.name(person) or {}
        return " ".join([*name.get("given", []), name.get("family", "")]).strip() or "-"

    def _request_lines(self, request: DialogRequest) -> list[str]:
        text = lines(
            (Label.SUBJECT, request.subject),
            (Label.PURPOSE, self._label(request.purpose)),
            (Label.REASON, request.reason),
            (Label.URGENCY, self._label(request.urgency)),
            (Label.FROM, request.start),
            (Label.UNTIL, request.end),
            *((Label.RECORDS, self._label(c)) for c in request.record_types),
            (Label.CODED, self._label(request.coded_info)),
            (Label.DOCUMENT_ID, request.document_id),
        )
        return text.splitlines()

    def _request(self, request: DialogRequest, dialog: Dialog) -> dict[str, Any]:
        resource = self._base(self.types.concept(request.type), request.roles)
        if request.question:
            resource["payload"] = [{"contentString": request.question}]
        purpose = self.types.concept(request.purpose)
        if purpose:
            resource["reasonCode"] = [purpose]
        notes = self._case(dialog) + self._request_lines(request) + self._role_lines(request.roles)
        return self._finish(resource, notes)

    def _note(self, note: DialogNote, dialog: Dialog) -> dict[str, Any]:
        resource = self._base(self.types.concept(note.theme), note.roles)
        payload = []
        if note.text:
            payload.append({"contentString": note.text})
        if note.request is not None and note.request.question:
            payload.append({"contentString": line(Label.REQUEST, note.request.question)})
        if payload:
            resource["payload"] = payload
        if note.theme_text:
            resource["topic"] = {"text": note.theme_text}
        found = self._case(dialog)
        found += lines(
            (Label.REMARK, note.remark),
            (Label.DOCUMENT_ID, note.document_id),
            (Label.DATE, note.date),
        ).splitlines()
        if note.request is not None:
            found.append(line(Label.REQUEST_TYPE, self._label(note.request.type) or "-"))
            found += self._request_lines(note.request) + self._role_lines(note.request.roles)
        found += self._role_lines(note.roles)
        return self._finish(resource, found)

    def _case(self, dialog: Dialog) -> list[str]:
        return lines(
            (Label.CASE, self._label(dialog.case_type)), (Label.CASE, dialog.case_text)
        ).splitlines()

    def _finish(self, resource: dict[str, Any], found: list[str]) -> dict[str, Any]:
        if self.parent_msg_id and not self.answered:
            found.append(f"Svar på melding med MsgId {self.parent_msg_id}, som forlop ikke har.")
        if found:
            resource["note"] = notes_of(*found)
        return resource
