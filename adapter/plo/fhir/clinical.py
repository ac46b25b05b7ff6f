"""A report's clinical content -> Condition, Observation, Goal, Appointment, CareTeam, CarePlan.

- **Condition** per diagnosis (InfoMedisinskDiagnose, category encounter-diagnosis; Hoveddiagnose
  as a category text) and per earlier illness (TidligereSykdomFragment, category
  problem-list-item; chronic -> active, not chronic -> resolved, unknown -> inactive). A code
  keeps its code system OID (ICD-10 7110, ICPC-2 7170 ...); a description beside a code is a note.
- **Observation** per IPLOS functional variable (KITH 9111, category survey, the score as
  valueInteger) and one panel for the assessment (``hasMember``, care dependency and its
  assessment as components).
- **Goal** per InfoMaalForventetRes: the goal code and description, the expected degree of
  achievement as the target (measure named in text), the due date, start date, keywords and
  journal texts as notes.
- **Appointment** per InfoKontrolltime: ``booked`` when the time and duration are known and the
  hospital booked it, else ``proposed`` with what is known in the comment.
- **CareTeam**: the contacts and responsible people and units of the document (KontaktpersonHelse-
  personell, AnsvarForRapport, TilknyttetEnhet, the assessor, next of kin), roles from KITH 9034.
- **CarePlan**: the services the patient has (EksisterendeTjeneste, intent plan) and needs
  (TjenesteBehov, intent proposal), each an activity coded with its IPLOS service type (KITH 9151).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapter.plo.fhir.datatypes import Datatypes
from adapter.plo.fhir.keys import SID, stable_id
from adapter.plo.fhir.labels import Label, line, lines, yes_no
from adapter.plo.model import (
    Appointment,
    Diagnosis,
    FunctionAssessment,
    Goal,
    Header,
    JournalText,
    Service,
)

__all__ = ["APPOINTMENT_KINDS", "Clinical", "item", "journal_note", "notes_of"]

Reference = dict[str, str]
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
APPOINTMENT_KINDS = {
    "booked": "Kontrolltime",
    "self-booked": "Kontrolltime som pasient eller pårørende bestiller selv",
    "tentative": "Foreløpig kontrolltime",
}
# Each put() returns a Reference to the entry it wrote.
Put = Callable[[dict[str, Any], str], Reference]


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else yes_no(value)


def notes_of(*texts: str | None) -> list[dict[str, str]]:
    return [{"text": text} for text in texts if text]


def item(resource: dict[str, Any], document: str, *key: str) -> tuple[dict[str, Any], str]:
    """The resource with its plo-item identifier (placed first, as FHIR orders elements) and
    that identifier's value."""
    value = stable_id("item", document, *key)
    rtype = resource.pop("resourceType")
    identified = {"resourceType": rtype, "identifier": [{"system": SID.ITEM, "value": value}]}
    identified.update(resource)
    return identified, value


def journal_note(text: JournalText) -> str:
    heading = text.heading.dn or text.heading.v if text.heading else None
    body = f"{heading}: {text.text}" if heading else text.text
    return f"{body} ({text.remark})" if text.remark else body


class Clinical:
    """Builds one report's clinical resources through ``put(resource, item-key)``."""

    def __init__(
        self,
        types: Datatypes,
        put: Put,
        *,
        document: str,
        patient: Reference,
        encounter: Reference | None,
        document_date: str,
    ) -> None:
        self.types = types
        self._put = put
        self.document = document
        self.patient = patient
        self.encounter = encounter
        self.document_date = document_date

    def _item(self, resource: dict[str, Any], *key: str) -> Reference:
        return self._put(*item(resource, self.document, *key))

    def _context(self, resource: dict[str, Any], field: str = "encounter") -> None:
        if self.encounter is not None:
            resource[field] = self.encounter

    # --- Condition ------------------------------------------------------------------------------

    def conditions(self, diagnoses: tuple[Diagnosis, ...]) -> list[Reference]:
        seen: Counter[str] = Counter()
        refs = []
        for diagnosis in diagnoses:
            what = (
                f"{diagnosis.code.s}|{diagnosis.code.v}"
                if diagnosis.code is not None and diagnosis.code.v
                else diagnosis.text or ""
            )
            kind = "history" if diagnosis.history else "diagnosis"
            seen[kind + what] += 1
            refs.append(self._item(self.condition(diagnosis), kind, what, str(seen[kind + what])))
        return refs

    def condition(self, diagnosis: Diagnosis) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "Condition"}
        if diagnosis.history:
            status = {True: "active", False: "resolved", None: "inactive"}[diagnosis.chronic]
            resource["clinicalStatus"] = {
                "coding": [{"system": CONDITION_CLINICAL, "code": status}]
            }
        elif diagnosis.end:
            resource["clinicalStatus"] = {
                "coding": [{"system": CONDITION_CLINICAL, "code": "resolved"}]
            }
        resource["verificationStatus"] = {
            "coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]
        }
        category = "problem-list-item" if diagnosis.history else "encounter-diagnosis"
        resource["category"] = [{"coding": [{"system": CONDITION_CATEGORY, "code": category}]}]
        if diagnosis.main is not None:
            resource["category"].append(
                {"text": "Hoveddiagnose" if diagnosis.main else "Bidiagnose"}
            )
        code = self.types.concept(diagnosis.code)
        note = diagnosis.text
        if code is None:
            code, note = {"text": diagnosis.text or ""}, None
        resource["code"] = code
        resource["subject"] = self.patient
        if not diagnosis.history:
            self._context(resource)
        if diagnosis.start:
            resource["onsetDateTime"] = self.types.moment(diagnosis.start)
        if diagnosis.end:
            resource["abatementDateTime"] = self.types.moment(diagnosis.end)
        resource["recordedDate"] = self.types.moment(self.document_date)
        if note:
            resource["note"] = notes_of(note)
        return resource

    # --- Observation (IPLOS) --------------------------------------------------------------------

    def observations(
        self, assessment: FunctionAssessment, performers: list[Reference], when: str
    ) -> list[Reference]:
        refs = []
        effective = self.types.moment(assessment.time or when)
        for score in assessment.scores:
            resource: dict[str, Any] = {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
                "code": self.types.concept(score.variable),
                "subject": self.patient,
            }
            self._context(resource)
            resource["effectiveDateTime"] = effective
            if performers:
                resource["performer"] = performers
            if score.score is not None:
                resource["valueInteger"] = score.score
            else:
                resource["dataAbsentReason"] = {
                    "coding": [{"system": DATA_ABSENT, "code": "unknown"}]
                }
            if score.remark:
                resource["note"] = notes_of(score.remark)
            variable = f"{score.variable.s}|{score.variable.v}"
            refs.append(self._item(resource, "function", variable))
        panel: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
            "code": {"text": "Kartlegging av funksjonsnivå (IPLOS)"},
            "subject": self.patient,
        }
        self._context(panel)
        panel["effectiveDateTime"] = effective
        if performers:
            panel["performer"] = performers
        panel["hasMember"] = refs
        components = []
        if assessment.care_dependency is not None:
            components.append(
                {
                    "code": {"text": "Pleietyngde"},
                    "valueQuantity": {"value": assessment.care_dependency},
                }
            )
        if assessment.assessment:
            components.append(
                {"code": {"text": "Vurdering av pleietyngde"}, "valueString": assessment.assessment}
            )
        if components:
            panel["component"] = components
        if assessment.remark:
            panel["note"] = notes_of(assessment.remark)
        return [*refs, self._item(panel, "function-panel")]

    # --- Goal -----------------------------------------------------------------------------------

    def goals(self, goals: tuple[Goal, ...]) -> list[Reference]:
        return [self._item(self.goal(goal), "goal", str(i)) for i, goal in enumerate(goals, 1)]

    def goal(self, goal: Goal) -> dict[str, Any]:
        label = (
            goal.description
            or (goal.goal.dn if goal.goal else None)
            or "; ".join(goal.keywords)
            or (goal.texts[0].text if goal.texts else "Mål")
        )
        description = self.types.concept(goal.goal, goal.description) or {"text": label}
        description.setdefault("text", label)
        resource: dict[str, Any] = {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": description,
            "subject": self.patient,
        }
        if goal.category is not None:
            resource["category"] = [self.types.concept(goal.category)]
        if goal.start:
            resource["startDate"] = self.types.date(goal.start)
        target: dict[str, Any] = {}
        if goal.expected is not None:
            target["measure"] = {"text": "Forventet grad av måloppnåelse"}
            target["detailCodeableConcept"] = self.types.concept(goal.expected)
        if goal.due:
            target["dueDate"] = self.types.date(goal.due)
        if target:
            resource["target"] = [target]
        notes = []
        if goal.keywords:
            notes.append(line(Label.KEYWORDS, ", ".join(goal.keywords)))
        if goal.end:
            notes.append(line(Label.UNTIL, goal.end))
        notes += [journal_note(text) for text in goal.texts]
        if notes:
            resource["note"] = notes_of(*notes)
        return resource

    # --- Appointment ----------------------------------------------------------------------------

    def appointments(self, appointments: tuple[Appointment, ...]) -> list[Reference]:
        return [
            self._item(self.appointment(a), "appointment", str(i))
            for i, a in enumerate(appointments, 1)
        ]

    def appointment(self, appointment: Appointment) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "Appointment"}
        start = self.types.instant(appointment.start) if appointment.start else None
        timed = start is not None and appointment.minutes is not None and appointment.minutes > 0
        resource["status"] = "booked" if timed and appointment.booked is not False else "proposed"
        resource["description"] = APPOINTMENT_KINDS[appointment.kind]
        if timed and start is not None and appointment.minutes is not None:
            end = datetime.fromisoformat(start) + timedelta(minutes=appointment.minutes)
            resource["start"] = start
            resource["end"] = end.isoformat()
            resource["minutesDuration"] = appointment.minutes
        elif start is not None:
            resource["requestedPeriod"] = [{"start": start}]
        comment = lines(
            (Label.PLACE, appointment.place),
            (Label.TIME, appointment.tentative_time),
            (Label.DURATION, appointment.minutes if not timed else None),
            (Label.BOOKED, _yes_no(appointment.booked)),
            (Label.BOOKS_SELF, _yes_no(appointment.books_self)),
            (Label.PATIENT_INFORMED, _yes_no(appointment.patient_informed)),
            (Label.RELATIVE_INFORMED, _yes_no(appointment.relative_informed)),
            (Label.REMARK, appointment.remark),
        )
        if comment:
            resource["comment"] = comment
        # The patient has accepted a time they were told about; otherwise they still need to.
        status = "accepted" if appointment.patient_informed else "needs-action"
        resource["participant"] = [{"actor": self.patient, "status": status}]
        return resource

    # --- CareTeam -------------------------------------------------------------------------------

    def care_team(
        self,
        header: Header,
        *,
        title: str,
        practitioner: Callable[[Any], Reference],
        organisation: Callable[[Any], Reference],
        relatives: list[Reference],
        assessor: tuple[Reference | None, Reference | None],
        addressed: list[tuple[str, Reference]],
        manager: Reference,
    ) -> Reference | None:
        """The document's people and units; ``addressed`` are the professionals the message
        was sent from or to (the end of the MsgHead organisation chains), by role."""
        participants: list[dict[str, Any]] = []
        notes: list[str] = []
        for responsible in header.responsibles:
            member = practitioner(responsible.professional)
            roles = [
                self.types.concept(responsible.professional.role),
                {"text": "Ansvarlig for rapporten"} if responsible.kind == "report" else None,
                self.types.concept(responsible.relation),
            ]
            participants.append({"role": [r for r in roles if r], "member": member})
            who = self.types.name(responsible.professional.person) or {}
            name = " ".join([*who.get("given", []), who.get("family", "")]).strip() or "-"
            if responsible.approved:
                notes.append(f"Godkjent av {name}: {responsible.approved}")
            if responsible.remark:
                notes.append(f"{name}: {responsible.remark}")
        for unit in header.units:
            participants.append(
                {"role": [{"text": "Tilknyttet enhet"}], "member": organisation(unit.organisation)}
            )
            if unit.remark:
                notes.append(f"{unit.organisation.name or '-'}: {unit.remark}")
        for relative, member in zip(header.relatives, relatives, strict=True):
            role = self.types.concept(relative.relationship) or {"text": "Pårørende"}
            participants.append({"role": [role], "member": member})
            if relative.remark:
                name = " ".join(p for p in (relative.person.given, relative.person.family) if p)
                notes.append(f"{name or 'Pårørende'}: {relative.remark}")
        for assessed_by in assessor:
            if assessed_by is not None:
                participants.append(
                    {"role": [{"text": "Kartlegging av funksjonsnivå"}], "member": assessed_by}
                )
        for label, member in addressed:
            participants.append({"role": [{"text": label}], "member": member})
        if not participants:
            return None
        resource: dict[str, Any] = {
            "resourceType": "CareTeam",
            "status": "active",
            "name": title,
            "subject": self.patient,
        }
        self._context(resource)
        resource["participant"] = participants
        resource["managingOrganization"] = [manager]
        if notes:
            resource["note"] = notes_of(*notes)
        return self._item(resource, "care-team")

    # --- CarePlan (services) --------------------------------------------------------------------

    def care_plans(self, services: tuple[Service, ...], author: Reference) -> list[Reference]:
        refs = []
        for needed, title in ((False, "Tjenester pasienten mottar"), (True, "Tjenestebehov")):
            chosen = [s for s in services if s.needed is needed]
            if not chosen:
                continue
            resource: dict[str, Any] = {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "proposal" if needed else "plan",
                "title": title,
                "subject": self.patient,
                "author": author,
                "activity": [{"detail": self._activity(service)} for service in chosen],
            }
            refs.append(self._item(resource, "services-needed" if needed else "services"))
        return refs

    def _activity(self, service: Service) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        code = self.types.concept(service.type, service.name)
        if code is not None:
            detail["code"] = code
        if service.needed:
            detail["status"] = "not-started"
        else:
            detail["status"] = "completed" if service.end else "in-progress"
        period = {}
        if service.start:
            period["start"] = self.types.date(service.start)
        if service.end:
            period["end"] = self.types.date(service.end)
        if period:
            detail["scheduledPeriod"] = period
        if service.amount is not None:
            quantity: dict[str, Any] = {"value": service.amount}
            if service.unit:
                quantity["unit"] = service.unit
            detail["quantity"] = quantity
        description = lines(
            (Label.INSTITUTION if service.needed else Label.PROVIDER, service.provider),
            (Label.DETAILS, service.details),
            (Label.PRIVATE, _yes_no(service.private)),
            (Label.UNIT, service.unit if service.amount is None else None),
            (Label.REMARK, service.remark),
        )
        if description:
            detail["description"] = description
        return detail
