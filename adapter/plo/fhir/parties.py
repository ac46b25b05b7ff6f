"""The people and organisations of a message: Patient, Organization, Practitioner, RelatedPerson.

- **Patient** from MsgInfo/Patient, identified by the fødselsnummer, D-number or hjelpenummer;
  civil status and language from TilleggsopplysningPasient; the time of death from a death event
  (KITH 9121 code 13).
- **Organization** for every level of an Organisation chain (``partOf`` the level above),
  identified by HER-id, organisation number or RESH id, else by a local identifier of the sender;
  a level that repeats its parent's identifiers is told apart by its name.
- **Practitioner** for health personnel, by HPR number, else HER-id, else by name within the
  sender (a message may name a person without any identifier).
- **RelatedPerson** for a next of kin (ParorendeForesatt), by the patient and the relative's
  identity number or name (``plo-related-person``).
"""

from __future__ import annotations

from typing import Any

from adapter.plo.fhir.assembly import Assembly
from adapter.plo.fhir.datatypes import Datatypes
from adapter.plo.fhir.keys import SID, stable_id
from adapter.plo.model import Organisation, Person, Professional, Relative

__all__ = ["Parties"]

HER_ID = "urn:oid:2.16.578.1.12.4.1.2"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
RESH = "urn:oid:2.16.578.1.12.4.1.4.102"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
# Which identifier a conditional update searches by, most specific first.
_ORGANISATION_KEYS = (HER_ID, ORGNR, RESH)
_PRACTITIONER_KEYS = (HPR, HER_ID)

Reference = dict[str, str]


def _pick(identifiers: list[dict[str, Any]], systems: tuple[str, ...]) -> tuple[str, str] | None:
    for system in systems:
        for identifier in identifiers:
            if identifier.get("system") == system:
                return system, str(identifier["value"])
    return None


class Parties:
    """Builds the shared resources of one message into an :class:`Assembly`."""

    def __init__(self, assembly: Assembly, types: Datatypes) -> None:
        self.assembly = assembly
        self.types = types

    def patient(
        self,
        person: Person,
        key: tuple[str, str],
        extra: dict[str, Any],
        drop: tuple[str, ...] = (),
    ) -> Reference:
        """The Patient; ``key`` is the (system, value) forlop identifies the patient by, ``drop``
        the elements to remove from what is stored (a cancelled time of death)."""
        resource: dict[str, Any] = {"resourceType": "Patient"}
        identifiers = self.types.identifiers(person.idents)
        if not any((i["system"], i["value"]) == key for i in identifiers):
            identifiers.insert(0, {"system": key[0], "value": key[1]})
        resource["identifier"] = identifiers
        nationality = self.types.nationality(person.nationality)
        if nationality:
            resource["extension"] = [nationality]
        resource.update(self.types.person_details(person))
        resource.update(extra)
        return self.assembly.put(resource, *key, drop=drop)

    def organisations(self, organisation: Organisation) -> list[Reference]:
        """References to every level of the chain, from the top down."""
        refs: list[Reference] = []
        parent: Reference | None = None
        parent_keys: set[tuple[str, str]] = set()
        node: Organisation | None = organisation
        while node is not None:
            parent = self.organisation(node, parent, parent_keys)
            refs.append(parent)
            parent_keys = {
                (str(i["system"]), str(i["value"])) for i in self.types.identifiers(node.idents)
            }
            node = node.unit
        return refs

    def organisation(
        self,
        organisation: Organisation,
        parent: Reference | None = None,
        parent_keys: set[tuple[str, str]] | None = None,
    ) -> Reference:
        identifiers = self.types.identifiers(organisation.idents)
        own = [i for i in identifiers if (i["system"], i["value"]) not in (parent_keys or set())]
        key = _pick(own, _ORGANISATION_KEYS) or _pick(own, (SID.LOCAL,))
        if key is None:
            local = self.types.local_identifier("name", organisation.name or "-")
            if parent is not None:
                local["value"] = f"{local['value']}@{stable_id(parent['reference'])}"
            identifiers.append(local)
            key = (local["system"], local["value"])
        resource: dict[str, Any] = {"resourceType": "Organization", "identifier": identifiers}
        if organisation.type is not None:
            resource["type"] = [self.types.concept(organisation.type)]
        if organisation.name:
            resource["name"] = organisation.name
        telecom = self.types.telecoms(organisation.telecoms)
        if telecom:
            resource["telecom"] = telecom
        address = self.types.address(organisation.address)
        if address:
            resource["address"] = [address]
        if parent is not None:
            resource["partOf"] = parent
        return self.assembly.put(resource, *key)

    def practitioner(self, professional: Professional) -> Reference:
        person = professional.person
        identifiers = self.types.identifiers(person.idents)
        key = _pick(identifiers, _PRACTITIONER_KEYS) or _pick(identifiers, (SID.LOCAL,))
        if key is None:
            name = ", ".join(p for p in (person.family, person.given, person.middle) if p)
            local = self.types.local_identifier("name", name or "-")
            identifiers.append(local)
            key = (local["system"], local["value"])
        resource: dict[str, Any] = {"resourceType": "Practitioner", "identifier": identifiers}
        resource.update(self.types.person_details(person))
        if professional.category is not None:
            resource["qualification"] = [{"code": self.types.concept(professional.category)}]
        return self.assembly.put(resource, *key)

    def related_person(self, relative: Relative, patient: Reference, patient_key: str) -> Reference:
        person = relative.person
        identifiers = self.types.identifiers(person.idents)
        national = _pick(identifiers, (FNR, DNR))
        who = (
            national[1]
            if national
            else "|".join(p or "" for p in (person.family, person.given, person.middle))
        )
        key = (SID.RELATED_PERSON, stable_id("relative", patient_key, who))
        identifiers.append({"system": key[0], "value": key[1]})
        resource: dict[str, Any] = {
            "resourceType": "RelatedPerson",
            "identifier": identifiers,
            "patient": patient,
        }
        relationship = self._relationship(relative)
        if relationship:
            resource["relationship"] = relationship
        resource.update(self.types.person_details(person))
        if relative.birth_year:
            resource["birthDate"] = relative.birth_year
        return self.assembly.put(resource, *key)

    def _relationship(self, relative: Relative) -> list[dict[str, Any]]:
        """The kinship as HL7 v3 RoleCode (when mapped) beside the original code, and the care
        role (Omsorgsfunksjon)."""
        concepts = []
        kinship = self.types.concept(relative.relationship)
        if kinship is not None and relative.relationship is not None and relative.relationship.v:
            role = self.types.terminology.translate(
                "plo-relationship", None, relative.relationship.v
            )
            if role is not None:
                system = self.types.terminology.target_system("plo-relationship")
                kinship.setdefault("coding", []).insert(0, {"system": system, "code": role})
        for concept in (kinship, self.types.concept(relative.care_role)):
            if concept:
                concepts.append(concept)
        return concepts
