"""FHIR R4 -> PLO model values: the way back of :mod:`adapter.plo.fhir` for the export.

Each function reads what the forward mapping wrote and gives the model values it came from:
codings back to KITH codes (``urn:oid:<S>`` -> ``S``; a coding without a system is a ``CS``),
identifiers back to ``Ident`` by their ``type`` (the TypeId) with local identifiers unscoped,
times back to Norwegian local time without an offset (the PLO convention), and the labelled text
lines of :mod:`adapter.plo.fhir.labels` back to their values. What the forward mapping keeps only
as free text (remarks in a note, journal texts' headings) cannot come back structured; the export
says so in its module docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.plo.fhir.clinical import APPOINTMENT_KINDS
from adapter.plo.fhir.datatypes import MUNICIPALITY_EXTENSION, NATIONALITY_EXTENSION, Datatypes
from adapter.plo.fhir.keys import SID, extension_url
from adapter.plo.fhir.labels import Label, from_yes_no, read_lines
from adapter.plo.fhir.stay import EVENT_EXTENSION
from adapter.plo.model import (
    Address,
    Appointment,
    Code,
    Diagnosis,
    Dialog,
    DialogNote,
    DialogRequest,
    DialogRole,
    Event,
    FunctionAssessment,
    FunctionScore,
    Goal,
    Ident,
    JournalText,
    Organisation,
    Person,
    Professional,
    Relative,
    Responsible,
    Service,
    Telecom,
    Unit,
)

__all__ = ["Reverse"]

Resource = dict[str, Any]
_SCHEMES = {"phone": "tel:", "fax": "fax:", "email": "mailto:", "sms": "sms:"}
_OID = "urn:oid:"
_ROLE_TO_PATIENT = _OID + "2.16.578.1.12.4.1.1.9034"
_REPORT_ROLE = "Ansvarlig for rapporten"
_UNIT_ROLE = "Tilknyttet enhet"


def _text(details: dict[str, Any], name: str) -> str | None:
    part = details.get(name)
    return str(part["valueString"]) if part else None


def _first(items: Any) -> Any:
    return items[0] if isinstance(items, list) and items else None


class Reverse:
    """Reads stored resources (``Type/id`` -> resource) back into model values."""

    def __init__(self, resources: Mapping[str, Resource], types: Datatypes) -> None:
        self.resources = resources
        self.types = types
        self.terminology = types.terminology

    def get(self, reference: Any) -> Resource | None:
        if not isinstance(reference, dict):
            return None
        return self.resources.get(str(reference.get("reference", "")))

    # --- datatypes ------------------------------------------------------------------------------

    def code(self, concept: Any) -> Code | None:
        """The KITH code of a CodeableConcept: its first coding in a KITH (OID) system or
        without a system; else only its text."""
        if not isinstance(concept, dict):
            return None
        codings = [
            c for c in concept.get("coding") or [] if str(c.get("system", _OID)).startswith(_OID)
        ]
        text = concept.get("text")
        if not codings:
            return Code(dn=text) if text else None
        coding = codings[0]
        system = coding.get("system")
        display = coding.get("display")
        return Code(
            v=coding.get("code"),
            s=system[len(_OID) :] if system else None,
            dn=display,
            ot=text if text and text != display else None,
        )

    def coding(self, coding: Any) -> Code | None:
        return self.code({"coding": [coding]}) if isinstance(coding, dict) else None

    def local_time(self, value: str | None) -> str | None:
        """A FHIR date or dateTime as PLO writes it: Norwegian local time, no offset."""
        if not value or "T" not in value:
            return value
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(self.types.zone).replace(tzinfo=None)
        return moment.isoformat(timespec="seconds")

    def ident(self, identifier: Resource) -> Ident | None:
        kind = self.code(identifier.get("type"))
        value = identifier.get("value")
        if kind is None or kind.v is None or not isinstance(value, str):
            return None
        if identifier.get("system") == SID.LOCAL:
            marker = f":{kind.v}:"
            if marker not in value:
                return None
            value = value.split(marker, 1)[1]
        return Ident(value, kind)

    def idents(self, resource: Resource) -> tuple[Ident, ...]:
        found = [self.ident(i) for i in resource.get("identifier") or []]
        return tuple(i for i in found if i is not None)

    def address(self, address: Any) -> Address | None:
        if not isinstance(address, dict):
            return None
        lines = address.get("line") or []
        county = None
        for ext in (address.get("_district") or {}).get("extension") or []:
            if ext.get("url") == MUNICIPALITY_EXTENSION:
                county = self.coding({k: v for k, v in ext["valueCoding"].items() if k != "system"})
        return Address(
            street=lines[0] if lines else None,
            postal_code=address.get("postalCode"),
            city=address.get("city"),
            postbox=lines[1] if len(lines) > 1 else None,
            county=county,
            country=Code(v=address["country"]) if address.get("country") else None,
        )

    def telecoms(self, resource: Resource) -> tuple[Telecom, ...]:
        found = []
        for point in resource.get("telecom") or []:
            value = str(point.get("value", ""))
            address = _SCHEMES.get(str(point.get("system")), "") + value
            kind = None
            for ext in point.get("extension") or []:
                if ext.get("url") == extension_url("telecom-type"):
                    kind = self.coding(ext.get("valueCoding"))
            found.append(Telecom(address, kind))
        return tuple(found)

    def sex(self, gender: str | None) -> Code | None:
        back = self.terminology.reverse("plo-sex", gender) if gender else None
        return Code(v=back[1], dn=back[2]) if back else None

    def person(self, resource: Resource) -> Person:
        name = _first(resource.get("name")) or {}
        given = name.get("given") or []
        nationality = None
        for ext in resource.get("extension") or []:
            if ext.get("url") == NATIONALITY_EXTENSION:
                nationality = self.code(ext["extension"][0].get("valueCodeableConcept"))
        return Person(
            family=name.get("family"),
            middle=" ".join(given[1:]) or None,
            given=given[0] if given else None,
            birth_date=resource.get("birthDate")
            if len(resource.get("birthDate", "")) == 10
            else None,
            sex=self.sex(resource.get("gender")),
            nationality=nationality,
            idents=self.idents(resource),
            address=self.address(_first(resource.get("address"))),
            telecoms=self.telecoms(resource),
        )

    # --- parties --------------------------------------------------------------------------------

    def organisation(
        self, resource: Resource, professional: Professional | None = None
    ) -> Organisation:
        """The Organisation chain from the top of ``resource``'s partOf line down to it."""
        chain = [resource]
        while (parent := self.get(chain[-1].get("partOf"))) is not None and parent not in chain:
            chain.append(parent)
        built: Organisation | None = None
        for level in chain:
            built = Organisation(
                name=level.get("name"),
                idents=self.idents(level),
                type=self.code(_first(level.get("type"))),
                address=self.address(_first(level.get("address"))),
                telecoms=self.telecoms(level),
                unit=built,
                professional=professional if built is None else None,
            )
        assert built is not None
        return built

    def professional(self, resource: Resource, role: Code | None = None) -> Professional:
        qualification = _first(resource.get("qualification")) or {}
        return Professional(
            person=self.person(resource),
            category=self.code(qualification.get("code")),
            role=role,
        )

    def relative(self, resource: Resource) -> Relative:
        relationship, care_role = None, None
        concepts = resource.get("relationship") or []
        if concepts:
            relationship = self.code(concepts[0])
        if len(concepts) > 1:
            care_role = self.code(concepts[1])
        birth = str(resource.get("birthDate", ""))
        person = self.person(resource)
        return Relative(
            person=person,
            relationship=relationship,
            care_role=care_role,
            birth_year=birth if len(birth) == 4 else None,
        )

    def team(self, team: Resource | None) -> tuple[list[Unit], list[Responsible], list[Relative]]:
        """Units, responsible professionals and next of kin from a document's CareTeam."""
        units: list[Unit] = []
        responsibles: list[Responsible] = []
        relatives: list[Relative] = []
        if team is None:
            return units, responsibles, relatives
        approvals = {
            note["text"].rsplit(": ", 1)[0].removeprefix("Godkjent av "): note["text"].rsplit(
                ": ", 1
            )[1]
            for note in team.get("note") or []
            if note.get("text", "").startswith("Godkjent av ") and ": " in note["text"]
        }
        for participant in team.get("participant") or []:
            member = self.get(participant.get("member"))
            if member is None:
                continue
            roles = participant.get("role") or []
            texts = {r.get("text") for r in roles}
            kind = member.get("resourceType")
            if kind == "Organization" and _UNIT_ROLE in texts:
                units.append(Unit(self.organisation(member)))
            elif kind == "RelatedPerson":
                relatives.append(self.relative(member))
            elif kind == "Practitioner" and (
                _REPORT_ROLE in texts or any(self._is_role(r) for r in roles)
            ):
                role = next((self.code(r) for r in roles if self._is_role(r)), None)
                relation = next(
                    (self.code(r) for r in roles if r.get("coding") and not self._is_role(r)), None
                )
                professional = self.professional(member, role)
                name = " ".join(p for p in (professional.person.given, professional.person.middle,
                                            professional.person.family) if p)  # fmt: skip
                report = _REPORT_ROLE in texts
                responsibles.append(
                    Responsible(
                        "report" if report else "contact",
                        professional,
                        approved=approvals.get(name) if report else None,
                        relation=relation,
                    )
                )
        return units, responsibles, relatives

    @staticmethod
    def _is_role(concept: Resource) -> bool:
        return any(c.get("system") == _ROLE_TO_PATIENT for c in concept.get("coding") or [])

    # --- clinical -------------------------------------------------------------------------------

    def diagnosis(self, condition: Resource) -> Diagnosis:
        categories = condition.get("category") or []
        history = any(
            c.get("code") == "problem-list-item"
            for concept in categories
            for c in concept.get("coding") or []
        )
        texts = {concept.get("text") for concept in categories}
        main = True if "Hoveddiagnose" in texts else False if "Bidiagnose" in texts else None
        code = self.code(condition.get("code"))
        text = (_first(condition.get("note")) or {}).get("text")
        if code is not None and code.v is None:
            # A diagnosis without a code has its description as the concept's text.
            text, code = code.dn, None
        chronic = None
        if history:
            clinical = _first((condition.get("clinicalStatus") or {}).get("coding")) or {}
            chronic = {"active": True, "resolved": False}.get(str(clinical.get("code")))
        return Diagnosis(
            history=history,
            code=code,
            text=text,
            main=main,
            chronic=chronic,
            start=condition.get("onsetDateTime"),
            end=condition.get("abatementDateTime"),
        )

    def functions(self, panel: Resource) -> FunctionAssessment:
        scores = []
        for member in panel.get("hasMember") or []:
            observation = self.get(member)
            variable = self.code(observation.get("code")) if observation else None
            if observation is None or variable is None:
                continue
            scores.append(
                FunctionScore(
                    variable,
                    observation.get("valueInteger"),
                    (_first(observation.get("note")) or {}).get("text"),
                )
            )
        care: Decimal | None = None
        assessment = None
        for component in panel.get("component") or []:
            label = (component.get("code") or {}).get("text")
            if label == "Pleietyngde":
                care = Decimal(str(component["valueQuantity"]["value"]))
            elif label == "Vurdering av pleietyngde":
                assessment = component.get("valueString")
        return FunctionAssessment(
            scores=tuple(scores),
            care_dependency=care,
            assessment=assessment,
            remark=(_first(panel.get("note")) or {}).get("text"),
        )

    def goal(self, goal: Resource) -> Goal:
        description = goal.get("description") or {}
        target = _first(goal.get("target")) or {}
        values, rest = read_lines("\n".join(n.get("text", "") for n in goal.get("note") or []))
        keywords = values.get(Label.KEYWORDS)
        code = self.code(description)
        return Goal(
            # The concept's text is the goal's description, not the code's original text.
            goal=replace(code, ot=None) if code is not None and code.v else None,
            expected=self.code(target.get("detailCodeableConcept")),
            description=description.get("text"),
            category=self.code(_first(goal.get("category"))),
            due=target.get("dueDate"),
            start=goal.get("startDate"),
            end=values.get(Label.UNTIL),
            keywords=tuple(keywords.split(", ")) if keywords else (),
            # A journal text comes back as its note; its heading code is not kept.
            texts=tuple(JournalText(text) for text in rest if text.strip()),
        )

    def appointment(self, appointment: Resource) -> Appointment:
        kinds = {text: kind for kind, text in APPOINTMENT_KINDS.items()}
        values, _ = read_lines(appointment.get("comment"))
        start = appointment.get("start") or (_first(appointment.get("requestedPeriod")) or {}).get(
            "start"
        )
        minutes = appointment.get("minutesDuration")
        if minutes is None and values.get(Label.DURATION, "").isdigit():
            minutes = int(values[Label.DURATION])
        return Appointment(
            kinds.get(str(appointment.get("description")), "booked"),
            booked=from_yes_no(values.get(Label.BOOKED)),
            start=self.local_time(start),
            minutes=minutes,
            place=values.get(Label.PLACE),
            tentative_time=values.get(Label.TIME),
            remark=values.get(Label.REMARK),
            books_self=from_yes_no(values.get(Label.BOOKS_SELF)),
            patient_informed=from_yes_no(values.get(Label.PATIENT_INFORMED)),
            relative_informed=from_yes_no(values.get(Label.RELATIVE_INFORMED)),
        )

    def services(self, plan: Resource) -> list[Service]:
        needed = plan.get("intent") == "proposal"
        found = []
        for activity in plan.get("activity") or []:
            detail = activity.get("detail") or {}
            values, _ = read_lines(detail.get("description"))
            concept = detail.get("code") or {}
            code = self.code(concept)
            quantity = detail.get("quantity") or {}
            period = detail.get("scheduledPeriod") or {}
            amount = quantity.get("value")
            found.append(
                Service(
                    needed=needed,
                    # The concept's text is the service's name, not the code's original text.
                    type=replace(code, ot=None) if code is not None and code.v else None,
                    name=concept.get("text"),
                    private=from_yes_no(values.get(Label.PRIVATE)),
                    provider=values.get(Label.INSTITUTION if needed else Label.PROVIDER),
                    details=values.get(Label.DETAILS),
                    amount=Decimal(str(amount)) if amount is not None else None,
                    unit=quantity.get("unit") or values.get(Label.UNIT),
                    start=period.get("start"),
                    end=period.get("end"),
                    remark=values.get(Label.REMARK),
                )
            )
        return found

    def events(self, encounter: Resource) -> list[Event]:
        """The stay's events as PLO timed events, each once (several documents repeat the
        admission); entries a message type implied carry no event and are left out."""
        found: list[Event] = []
        for entry in encounter.get("statusHistory") or []:
            details = {}
            for ext in entry.get("extension") or []:
                if ext.get("url") == EVENT_EXTENSION:
                    details = {part["url"]: part for part in ext.get("extension") or []}
            if "code" not in details and "description" not in details:
                continue

            event = Event(
                time=self.local_time(entry["period"]["start"]) or "",
                estimated=bool(details.get("estimated", {}).get("valueBoolean")),
                code=self._coded(details, "code"),
                description=_text(details, "description"),
                remark=_text(details, "remark"),
                place=_text(details, "place"),
                discharge_state=self._coded(details, "dischargeState"),
                discharged_to=self._coded(details, "dischargedTo"),
                discharge_remark=_text(details, "dischargeRemark"),
            )
            if event not in found:
                found.append(event)
        return found

    def _coded(self, details: dict[str, Any], name: str) -> Code | None:
        part = details.get(name)
        return self.coding(part["valueCoding"]) if part else None

    # --- dialogue -------------------------------------------------------------------------------

    def dialog(self, communication: Resource, sender: Professional | None) -> Dialog:
        """The Dialogmelding a Communication came from: a request, or a note (an answer or a
        notice of error) with the request it repeats."""
        categories = communication.get("category") or []
        kind = self.code(categories[1]) if len(categories) > 1 else None
        values, _ = read_lines(
            "\n".join(n.get("text", "") for n in communication.get("note") or [])
        )
        payload = [p.get("contentString") for p in communication.get("payload") or []]
        roles = (DialogRole(professional=sender),) if sender is not None else ()
        message_type = (
            (_first(categories[0].get("coding")) or {}).get("code") if categories else None
        )
        if message_type == "DIALOG_FORESPORSEL":
            request = DialogRequest(
                type=kind or Code(),
                subject=values.get(Label.SUBJECT),
                question=payload[0] if payload else None,
                purpose=self.code(_first(communication.get("reasonCode"))),
                reason=values.get(Label.REASON),
                document_id=values.get(Label.DOCUMENT_ID),
                roles=roles,
            )
            return Dialog(requests=(request,))
        asked = next((p.removeprefix(f"{Label.REQUEST}: ") for p in payload[1:] if p), None)
        request_type = values.get(Label.REQUEST_TYPE)
        repeated = (
            DialogRequest(type=Code(dn=request_type), question=asked)
            if asked or request_type
            else None
        )
        note = DialogNote(
            theme=kind or Code(),
            theme_text=(communication.get("topic") or {}).get("text"),
            text=payload[0] if payload else None,
            remark=values.get(Label.REMARK),
            document_id=values.get(Label.DOCUMENT_ID),
            date=values.get(Label.DATE),
            request=repeated,
            roles=roles,
        )
        return Dialog(notes=(note,))
