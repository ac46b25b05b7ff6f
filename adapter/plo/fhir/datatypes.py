"""KITH datatypes -> FHIR R4 datatypes (Coding, CodeableConcept, Identifier, HumanName, Address,
ContactPoint, dateTime/instant).

- A ``CV`` names its code system by OID (``S``): the coding's system is ``urn:oid:<S>``, as HL7
  Norway does for KITH code systems; a ``CS`` names none, so its coding has no system. ``DN`` is
  the display (else the display forlop knows from a KITH supplement), ``OT`` the concept's text.
- An ``Ident`` gets the FHIR system its ``TypeId`` maps to (``ConceptMap/plo-identifier-system``);
  a number that fails its national check (fødselsnummer, D-number, HPR, organisation number) or
  a type without a national system becomes a local identifier scoped by the sender
  (``plo-local-id``), with a warning, so nothing invalid is stored under a national system. The
  TypeId stays as ``Identifier.type``.
- Times without an offset are local Norwegian time (``timeZone`` in ``mappings/plo-settings.json``);
  FHIR requires an offset on every time of day.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapter.domain.identifiers import Problem, dnr_problem, fnr_problem, hpr_problem, orgnr_problem
from adapter.plo.fhir.keys import SID, extension_url
from adapter.plo.model import Address, Code, Ident, Person, Telecom
from adapter.plo.terminology import Terminology, kith_system

__all__ = ["Datatypes", "MUNICIPALITY_EXTENSION"]

MUNICIPALITY_EXTENSION = "http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode"
MUNICIPALITY_SYSTEM = "urn:oid:2.16.578.1.12.4.1.1.3402"
NATIONALITY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/patient-nationality"
_CHECKS: dict[str, tuple[Callable[[str], Problem | None], str]] = {
    "urn:oid:2.16.578.1.12.4.1.4.1": (fnr_problem, "fødselsnummer"),
    "urn:oid:2.16.578.1.12.4.1.4.2": (dnr_problem, "D-number"),
    "urn:oid:2.16.578.1.12.4.1.4.4": (hpr_problem, "HPR number"),
    "urn:oid:2.16.578.1.12.4.1.4.101": (orgnr_problem, "organisation number"),
}
# URL schemes of KITH TeleAddress (RFC 3966 tel, RFC 6068 mailto ...) -> ContactPoint.system.
_SCHEMES = {"tel": "phone", "fax": "fax", "mailto": "email", "sms": "sms", "http": "url",
            "https": "url"}  # fmt: skip
_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<hm>\d{2}:\d{2})(?P<sec>:\d{2}(\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?"
)


class Datatypes:
    """Builders for one message: ``issuer`` scopes the local identifiers it creates."""

    def __init__(self, terminology: Terminology, issuer: str) -> None:
        self.terminology = terminology
        self.issuer = issuer
        name = str(terminology.settings["timeZone"])
        try:
            self.zone = ZoneInfo(name)
        except ZoneInfoNotFoundError:
            raise RuntimeError(
                f"The time zone {name} (mappings/plo-settings.json) is not installed; install the "
                "system time zone database or the tzdata package."
            ) from None
        self.warnings: list[str] = []

    # --- codes ----------------------------------------------------------------------------------

    def coding(self, code: Code) -> dict[str, Any] | None:
        if code.v is None:
            return None
        out: dict[str, Any] = {}
        if code.s:
            out["system"] = kith_system(code.s)
        out["code"] = code.v
        display = code.dn or (self.terminology.display(out["system"], code.v) if code.s else None)
        if display:
            out["display"] = display
        return out

    def concept(self, code: Code | None, text: str | None = None) -> dict[str, Any] | None:
        """A CodeableConcept; ``text`` (or OT, else DN when there is no code) as its text."""
        if code is None:
            return {"text": text} if text else None
        out: dict[str, Any] = {}
        coding = self.coding(code)
        if coding is not None:
            out["coding"] = [coding]
        label = text or code.ot or (None if coding else code.dn)
        if label:
            out["text"] = label
        return out or None

    # --- identifiers ----------------------------------------------------------------------------

    def system_of(self, ident: Ident) -> str | None:
        source = kith_system(ident.type.s) if ident.type.s else None
        return self.terminology.translate("plo-identifier-system", source, ident.type.v or "")

    def identifier(self, ident: Ident) -> dict[str, Any]:
        system = self.system_of(ident)
        value = ident.id
        check = _CHECKS.get(system or "")
        if check is not None:
            problem = check[0](value)
            if problem is not None:
                self.warnings.append(
                    f"The {check[1]} ending {value[-2:]} ({ident.type.v}) fails its check "
                    f"({problem}); it is kept as a local identifier of the sender."
                )
                system = None
        out: dict[str, Any] = {}
        type_concept = self.concept(ident.type)
        if type_concept:
            out["type"] = type_concept
        if system is None:
            out["system"] = SID.LOCAL
            out["value"] = f"{self.issuer}:{ident.type.v}:{value}"
        else:
            out["system"] = system
            out["value"] = value
        return out

    def identifiers(self, idents: Iterable[Ident]) -> list[dict[str, Any]]:
        return [self.identifier(ident) for ident in idents]

    def local_identifier(self, kind: str, value: str) -> dict[str, Any]:
        """A local identifier for something the message names but does not identify."""
        return {"system": SID.LOCAL, "value": f"{self.issuer}:{kind}:{value}"}

    # --- people and places ----------------------------------------------------------------------

    @staticmethod
    def name(person: Person) -> dict[str, Any] | None:
        given = [part for part in (person.given, person.middle) if part]
        out: dict[str, Any] = {}
        if person.family:
            out["family"] = person.family
        if given:
            out["given"] = given
        return out or None

    def gender(self, sex: Code | None) -> str | None:
        if sex is None or sex.v is None:
            return None
        source = kith_system(sex.s) if sex.s else None
        gender = self.terminology.translate("plo-sex", source, sex.v)
        if gender is None:
            self.warnings.append(
                f"Sex '{sex.v}' ({sex.dn or '-'}) has no mapping; stored as unknown."
            )
        return gender or "unknown"

    def person_details(self, person: Person) -> dict[str, Any]:
        """name, telecom, gender, birthDate, address of a Patient, Practitioner or RelatedPerson."""
        out: dict[str, Any] = {}
        name = self.name(person)
        if name:
            out["name"] = [name]
        telecom = self.telecoms(person.telecoms)
        if telecom:
            out["telecom"] = telecom
        gender = self.gender(person.sex)
        if gender:
            out["gender"] = gender
        if person.birth_date:
            out["birthDate"] = self.date(person.birth_date)
        address = self.address(person.address)
        if address:
            out["address"] = [address]
        return out

    def nationality(self, code: Code | None) -> dict[str, Any] | None:
        concept = self.concept(code)
        if concept is None:
            return None
        return {
            "url": NATIONALITY_EXTENSION,
            "extension": [{"url": "code", "valueCodeableConcept": concept}],
        }

    def address(self, address: Address | None) -> dict[str, Any] | None:
        if address is None:
            return None
        out: dict[str, Any] = {}
        lines = [line for line in (address.street, address.postbox) if line]
        if lines:
            out["line"] = lines
        if address.postal_code:
            out["postalCode"] = address.postal_code
        if address.city:
            out["city"] = address.city
        if address.county is not None and address.county.v:
            out["district"] = address.county.dn or address.county.v
            coding = {"system": MUNICIPALITY_SYSTEM, "code": address.county.v}
            if address.county.dn:
                coding["display"] = address.county.dn
            out["_district"] = {
                "extension": [{"url": MUNICIPALITY_EXTENSION, "valueCoding": coding}]
            }
        if address.country is not None and address.country.v:
            out["country"] = address.country.v
        return out or None

    def telecoms(self, telecoms: Iterable[Telecom]) -> list[dict[str, Any]]:
        found = []
        for telecom in telecoms:
            scheme, colon, rest = telecom.address.partition(":")
            system = _SCHEMES.get(scheme.lower()) if colon else None
            point: dict[str, Any] = {
                "system": system or "other",
                "value": rest if system not in (None, "url") else telecom.address,
            }
            if telecom.type is not None and telecom.type.v:
                use = self.terminology.translate("plo-telecom-use", None, telecom.type.v)
                if use:
                    point["use"] = use
                coding = self.coding(telecom.type)
                point["extension"] = [{"url": extension_url("telecom-type"), "valueCoding": coding}]
            if point["value"]:
                found.append(point)
        return found

    # --- time -----------------------------------------------------------------------------------

    def moment(self, value: str) -> str:
        """A KITH TS value as a FHIR dateTime: local times get the Norwegian offset."""
        match = _DATETIME.fullmatch(value)
        if match is None:
            return value[:10] if len(value) > 10 else re.sub(r"(Z|[+-]\d{2}:\d{2})\Z", "", value)
        seconds = match["sec"] or ":00"
        if match["tz"]:
            return f"{match['date']}T{match['hm']}{seconds}{match['tz']}"
        local = datetime.fromisoformat(f"{match['date']}T{match['hm']}{seconds}")
        return local.replace(tzinfo=self.zone).isoformat()

    def instant(self, value: str) -> str | None:
        """A FHIR instant (a time of day with an offset), or None for a date without a time."""
        return self.moment(value) if "T" in value else None

    @staticmethod
    def date(value: str) -> str:
        """A FHIR date (no time, no offset)."""
        return re.sub(r"(Z|[+-]\d{2}:\d{2})\Z", "", value)[:10]
