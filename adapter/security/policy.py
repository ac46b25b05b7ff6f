"""Organisation-scoped access to patient data: who takes part in a patient's care.

A caller's organisation (an organisation number from its token) may read a patient's data only
when it takes part in that patient's care, or wrote the data itself. It takes part when it is:

- a member (``participant.member`` or ``participant.onBehalfOf``, directly or through a
  PractitionerRole) or the ``managingOrganization`` of an *active* CareTeam about the patient
  (status ``active``, its period and the participant's period covering now);
- the ``managingOrganization`` or in a ``team`` of an open EpisodeOfCare (planned, waitlist,
  active, onhold);
- ``author``, ``contributor``, in a ``careTeam``, or performer of a planned activity
  (``activity.detail.performer``) of an open CarePlan (draft, active, on-hold);
- the Patient's ``managingOrganization`` or ``generalPractitioner`` (the GP office).

"The data's author" is the organisation named in the resource's author-like elements
(:data:`AUTHOR_ELEMENTS`, e.g. ``QuestionnaireResponse.author``, ``Observation.performer``).

A resource belongs to every patient it refers to (:func:`patients_of`); the caller needs access
to each of them. A resource that refers to no patient (Organization, Questionnaire, …) is not
patient data, and the scopes alone decide. The functions here are pure: the caller supplies the
resources (``resolve``) and the care relations (``care``) from its transaction.

A denied read answers 404 and a search leaves the resource out, so nothing reveals its existence.
A write is checked on the version it replaces (may the caller see it?) and on the new version: the
caller must take part in the care of each of its patients *before* the write, so no organisation
can write itself into the care of a patient it does not already follow (an organisation already in
the care adds the next one, as a referral does). A patient created by the same request is judged by
its care relations after the request: whoever registers a patient must name itself in its care.
Resources that name no patient but that care relations pass through (Organization,
PractitionerRole, CareTeam: :data:`RELATION_TYPES`) change the organisations they stand for only by
the hand of an organisation they name. AuditEvents (:data:`PRIVATE_TYPES`) about no patient are
seen by the organisations they name only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from adapter.fhir.json_codec import dump_json
from adapter.search.values import date_range, to_microseconds
from adapter.security.tokens import Principal

ORGNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"
PERSON_ID_SYSTEMS = frozenset({"urn:oid:2.16.578.1.12.4.1.4.1", "urn:oid:2.16.578.1.12.4.1.4.2"})

Resource = Mapping[str, Any]
# "Type/id" -> the current resource, or None when it does not exist.
Resolver = Callable[[str], Resource | None]
# A patient key from patients_of() -> the organisation numbers taking part in that patient's care.
CareLookup = Callable[[str], frozenset[str]]

# R4 CompartmentDefinition/patient: the search parameters that put a resource in a patient's
# compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html).
PATIENT_COMPARTMENT: Mapping[str, tuple[str, ...]] = {
    "Account": ("subject",),
    "AdverseEvent": ("subject",),
    "AllergyIntolerance": ("patient", "recorder", "asserter"),
    "Appointment": ("actor",),
    "AppointmentResponse": ("actor",),
    "AuditEvent": ("patient",),
    "Basic": ("patient", "author"),
    "BodyStructure": ("patient",),
    "CarePlan": ("patient", "performer"),
    "CareTeam": ("patient", "participant"),
    "ChargeItem": ("subject",),
    "Claim": ("patient", "payee"),
    "ClaimResponse": ("patient",),
    "ClinicalImpression": ("subject",),
    "Communication": ("subject", "sender", "recipient"),
    "CommunicationRequest": ("subject", "sender", "recipient", "requester"),
    "Composition": ("subject", "author", "attester"),
    "Condition": ("patient", "asserter"),
    "Consent": ("patient",),
    "Coverage": ("policy-holder", "subscriber", "beneficiary", "payor"),
    "CoverageEligibilityRequest": ("patient",),
    "CoverageEligibilityResponse": ("patient",),
    "DetectedIssue": ("patient",),
    "DeviceRequest": ("subject", "performer"),
    "DeviceUseStatement": ("subject",),
    "DiagnosticReport": ("subject",),
    "DocumentManifest": ("subject", "author", "recipient"),
    "DocumentReference": ("subject", "author"),
    "Encounter": ("patient",),
    "EnrollmentRequest": ("subject",),
    "EpisodeOfCare": ("patient",),
    "ExplanationOfBenefit": ("patient", "payee"),
    "FamilyMemberHistory": ("patient",),
    "Flag": ("patient",),
    "Goal": ("patient",),
    "Group": ("member",),
    "ImagingStudy": ("patient",),
    "Immunization": ("patient",),
    "ImmunizationEvaluation": ("patient",),
    "ImmunizationRecommendation": ("patient",),
    "Invoice": ("subject", "patient", "recipient"),
    "List": ("subject", "source"),
    "MeasureReport": ("patient",),
    "Media": ("subject",),
    "MedicationAdministration": ("patient", "performer", "subject"),
    "MedicationDispense": ("subject", "patient", "receiver"),
    "MedicationRequest": ("subject",),
    "MedicationStatement": ("subject",),
    "MolecularSequence": ("patient",),
    "NutritionOrder": ("patient",),
    "Observation": ("subject", "performer"),
    "Patient": ("link",),
    "Person": ("patient",),
    "Procedure": ("patient", "performer"),
    "Provenance": ("patient",),
    "QuestionnaireResponse": ("subject", "author"),
    "RelatedPerson": ("patient",),
    "RequestGroup": ("subject", "participant"),
    "ResearchSubject": ("individual",),
    "RiskAssessment": ("subject",),
    "Schedule": ("actor",),
    "ServiceRequest": ("subject", "performer"),
    "Specimen": ("subject",),
    "SupplyDelivery": ("patient",),
    "SupplyRequest": ("subject",),
    "VisionPrescription": ("patient",),
}

# The searches that find the resources care relations are computed from, per patient:
# ``<type>?<parameter>=Patient/<id>``, plus the Patient itself.
CARE_RELATION_SEARCHES: Mapping[str, str] = {
    "CareTeam": "patient",
    "EpisodeOfCare": "patient",
    "CarePlan": "patient",
}

OPEN_STATUSES: Mapping[str, frozenset[str]] = {
    "CareTeam": frozenset({"active"}),
    "EpisodeOfCare": frozenset({"planned", "waitlist", "active", "onhold"}),
    "CarePlan": frozenset({"draft", "active", "on-hold"}),
}

# Elements (dotted paths to References) that name who wrote or is responsible for a resource.
AUTHOR_ELEMENTS: Mapping[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("recorder", "asserter"),
    "AuditEvent": ("agent.who",),
    "CarePlan": ("author", "contributor"),
    "CareTeam": ("managingOrganization",),
    "ClinicalImpression": ("assessor",),
    "Communication": ("sender",),
    "CommunicationRequest": ("requester", "sender"),
    "Composition": ("author", "custodian"),
    "Condition": ("recorder", "asserter"),
    "Consent": ("performer", "organization"),
    "DiagnosticReport": ("performer", "resultsInterpreter"),
    "DocumentReference": ("author", "custodian"),
    "Encounter": ("serviceProvider",),
    "EpisodeOfCare": ("managingOrganization",),
    "Flag": ("author",),
    "Goal": ("expressedBy",),
    "List": ("source",),
    "MedicationRequest": ("requester", "recorder"),
    "MedicationStatement": ("informationSource",),
    "Observation": ("performer",),
    "Patient": ("managingOrganization",),
    "Procedure": ("recorder", "asserter", "performer.actor", "performer.onBehalfOf"),
    "Provenance": ("agent.who", "agent.onBehalfOf"),
    "QuestionnaireResponse": ("author",),
    "ServiceRequest": ("requester",),
    "Task": ("requester", "owner"),
}

# Types whose instances about no patient are still not open to every caller: only the
# organisations they name (:data:`AUTHOR_ELEMENTS`) see them. An AuditEvent of a search for
# Organizations says who searched, which is nobody else's business.
PRIVATE_TYPES: frozenset[str] = frozenset({"AuditEvent"})

# Types that care relations are resolved through (:func:`organisation_number`, CareTeams named by
# an EpisodeOfCare or CarePlan). When one names no patient, only an organisation it already names
# may change which organisations it names: otherwise anybody could put its own organisation
# number on an Organization, PractitionerRole or CareTeam that a patient's care points to.
RELATION_TYPES: frozenset[str] = frozenset({"Organization", "PractitionerRole", "CareTeam"})

_ABSOLUTE = re.compile(r"/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True)
class Decision:
    """Whether access is allowed, and why (for the AuditEvent's outcome description)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


# --- references --------------------------------------------------------------------------------


def reference_key(literal: str) -> str | None:
    """``Type/id`` of a literal reference (relative, absolute or versioned); None for contained
    (``#id``), ``urn:`` and other references that name no resource by type and id."""
    base = literal.partition("/_history/")[0].rstrip("/")
    if not base or base.startswith(("#", "urn:")):
        return None
    parts = base.split("/")
    if len(parts) == 2 and "://" not in base:
        return base if parts[0][:1].isupper() and parts[1] else None
    match = _ABSOLUTE.search(base)
    return f"{match['type']}/{match['id']}" if match else None


# In compact JSON, a member "reference" with a string value: preceded by "{" or "," it is a key
# (inside a JSON string every quote is escaped, so string content never matches), and its value
# runs to the first unescaped quote. The pattern starts with its literal so that it is searched
# for as a whole; the byte before is checked after.
_LITERAL_REFERENCE = re.compile(rb'"reference":"([^"\\]*(?:\\.[^"\\]*)*)"')
_OBJECT_IDENTIFIER = b'"identifier":{'


def _references(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every Reference-shaped object inside ``node`` (objects with ``reference`` or a typed
    ``identifier``), depth first. (A stack, not recursion, and JSON's own dict and list: every
    read's AuditEvent and every access decision walks whole resources this way.)"""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if isinstance(current.get("reference"), str) or isinstance(
                current.get("identifier"), dict
            ):
                yield current
            stack.extend(v for v in reversed(current.values()) if isinstance(v, dict | list))
        elif isinstance(current, list):
            stack.extend(v for v in reversed(current) if isinstance(v, dict | list))


def _at(resource: Resource, path: str) -> list[Any]:
    """The values at a dotted element path (lists flattened)."""
    found: list[Any] = [resource]
    for name in path.split("."):
        step: list[Any] = []
        for node in found:
            value = node.get(name) if isinstance(node, Mapping) else None
            if isinstance(value, list):
                step.extend(value)
            elif value is not None:
                step.append(value)
        found = step
    return found


def patient_key(reference: Mapping[str, Any]) -> str | None:
    """The patient a Reference names: ``Patient/<id>`` for a literal reference, or
    ``Patient?identifier=<system>|<value>`` for one that names the patient by identifier only
    (``type`` Patient, or no ``type`` and a Norwegian person number; a Practitioner named by
    person number says ``type`` Practitioner)."""
    literal = reference.get("reference")
    if isinstance(literal, str):
        key = reference_key(literal)
        return key if key is not None and key.startswith("Patient/") else None
    identifier = reference.get("identifier")
    if isinstance(identifier, Mapping):
        system, value = identifier.get("system"), identifier.get("value")
        target = reference.get("type")
        if (
            isinstance(system, str)
            and isinstance(value, str)
            and (target == "Patient" or (target is None and system in PERSON_ID_SYSTEMS))
        ):
            return f"Patient?identifier={system}|{value}"
    return None


def patients_of(resource: Resource) -> frozenset[str]:
    """The patients a resource belongs to: itself for a Patient, and every patient any of its
    references names (contained resources included). Empty for data about no patient."""
    found = _patients_by_text(resource)
    if found is None:
        found = _patients_by_walk(resource)
    if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
        found.add(f"Patient/{resource['id']}")
    return frozenset(found)


def _patients_by_walk(resource: Resource) -> set[str]:
    return {key for ref in _references(resource) if (key := patient_key(ref)) is not None}


def _patients_by_text(resource: Resource) -> set[str] | None:
    """What :func:`_patients_by_walk` finds, read off the resource's compact JSON: three times
    faster, and every read's AuditEvent asks it of every resource the read returns. None when
    the text cannot tell: a reference by identifier (or anything ``Identifier``-valued that is
    not a list) needs the objects around it, and a resource that is not JSON has no text."""
    try:
        text = dump_json(resource)
    except TypeError:
        return None
    if _OBJECT_IDENTIFIER in text:
        return None
    found: set[str] = set()
    for match in _LITERAL_REFERENCE.finditer(text):
        raw = match[1]
        if b"Patient/" not in raw or text[match.start() - 1] not in b"{,":
            continue  # names no patient (every key reference_key makes of one holds this)
        literal = orjson.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode()
        key = reference_key(literal)
        if key is not None and key.startswith("Patient/"):
            found.add(key)
    return found


def organisation_number(reference: Mapping[str, Any], resolve: Resolver) -> str | None:
    """The organisation number a Reference names: its own identifier, the identifier of the
    Organization it points to, or the organisation of the PractitionerRole it points to."""
    key = _organisation_key(reference)
    if key is None or not key.startswith("PractitionerRole/"):
        return _organisation_of(reference, key, resolve)
    role = resolve(key)
    organization = role.get("organization") if role is not None else None
    if not isinstance(organization, Mapping):
        return None
    return _organisation_of(organization, _organisation_key(organization), resolve)


def _organisation_key(reference: Mapping[str, Any]) -> str | None:
    literal = reference.get("reference")
    return reference_key(literal) if isinstance(literal, str) else None


def _organisation_of(
    reference: Mapping[str, Any], key: str | None, resolve: Resolver
) -> str | None:
    """The organisation number of a Reference by identifier, or to an Organization."""
    identifiers: list[Any] = [reference.get("identifier")]
    if key is not None and key.startswith("Organization/"):
        target = resolve(key)
        identifiers += (target or {}).get("identifier") or []
    for identifier in identifiers:
        if isinstance(identifier, Mapping) and identifier.get("system") == ORGNR_SYSTEM:
            value = identifier.get("value")
            if isinstance(value, str):
                return value
    return None


def _organisations(values: Iterable[Any], resolve: Resolver) -> set[str]:
    found: set[str] = set()
    for value in values:
        if isinstance(value, Mapping) and (number := organisation_number(value, resolve)):
            found.add(number)
    return found


def authors_of(resource: Resource, resolve: Resolver) -> frozenset[str]:
    """Organisation numbers named in the resource's author-like elements."""
    paths = AUTHOR_ELEMENTS.get(str(resource.get("resourceType")), ())
    return frozenset(_organisations((v for p in paths for v in _at(resource, p)), resolve))


# --- care relations ----------------------------------------------------------------------------


def _covers(period: Any, now: int) -> bool:
    """Whether a FHIR Period (absent: always) covers the instant ``now`` (UTC microseconds)."""
    if not isinstance(period, Mapping):
        return True
    try:
        if isinstance(period.get("start"), str) and date_range(period["start"])[0] > now:
            return False
        if isinstance(period.get("end"), str) and date_range(period["end"])[1] < now:
            return False
    except ValueError:
        return False
    return True


def _is_open(resource: Resource, now: int) -> bool:
    statuses = OPEN_STATUSES.get(str(resource.get("resourceType")), frozenset())
    return resource.get("status") in statuses and _covers(resource.get("period"), now)


def _about(resource: Resource, patient: str, paths: Iterable[str]) -> bool:
    return any(
        isinstance(v, Mapping) and patient_key(v) == patient
        for p in paths
        for v in _at(resource, p)
    )


def team_organisations(team: Resource, resolve: Resolver, now: int) -> set[str]:
    """Organisations taking part through an open CareTeam (members and managing ones)."""
    if team.get("resourceType") != "CareTeam" or not _is_open(team, now):
        return set()
    members = [
        value
        for participant in team.get("participant") or []
        if isinstance(participant, Mapping) and _covers(participant.get("period"), now)
        for value in (participant.get("member"), participant.get("onBehalfOf"))
    ]
    return _organisations([*members, *(team.get("managingOrganization") or [])], resolve)


def _teams(references: Iterable[Any], resolve: Resolver, now: int) -> set[str]:
    found: set[str] = set()
    for ref in references:
        literal = ref.get("reference") if isinstance(ref, Mapping) else None
        key = reference_key(literal) if isinstance(literal, str) else None
        team = resolve(key) if key and key.startswith("CareTeam/") else None
        if team is not None:
            found |= team_organisations(team, resolve, now)
    return found


def care_organisations(
    patient: str, related: Iterable[Resource], resolve: Resolver, *, on: datetime
) -> frozenset[str]:
    """The organisation numbers taking part in ``patient``'s care at ``on``.

    ``related`` holds the Patient and the resources :data:`CARE_RELATION_SEARCHES` find for it;
    ``resolve`` reads the Organizations, PractitionerRoles and CareTeams they point to.
    """
    now = to_microseconds(on)
    found: set[str] = set()
    for resource in related:
        rtype = resource.get("resourceType")
        if rtype == "Patient" and f"Patient/{resource.get('id')}" == patient:
            found |= _organisations(
                [
                    *_at(resource, "managingOrganization"),
                    *_at(resource, "generalPractitioner"),
                ],
                resolve,
            )
        elif rtype == "CareTeam" and _about(resource, patient, ("subject",)):
            found |= team_organisations(resource, resolve, now)
        elif rtype == "EpisodeOfCare" and _about(resource, patient, ("patient",)):
            if _is_open(resource, now):
                found |= _organisations(_at(resource, "managingOrganization"), resolve)
                found |= _teams(_at(resource, "team"), resolve, now)
        elif rtype == "CarePlan" and _about(resource, patient, ("subject",)):
            if _is_open(resource, now):
                named = [
                    *_at(resource, "author"),
                    *_at(resource, "contributor"),
                    *_at(resource, "activity.detail.performer"),
                ]
                found |= _organisations(named, resolve)
                found |= _teams(_at(resource, "careTeam"), resolve, now)
    return frozenset(found)


# --- decisions ---------------------------------------------------------------------------------


def _takes_part(
    principal: Principal,
    resource: Resource,
    patients: frozenset[str],
    care: CareLookup,
    action: str,
    *,
    authored: bool = False,
) -> Decision:
    """Whether the caller takes part in the care of every patient ``resource`` belongs to (or,
    with ``authored``, wrote it)."""
    rtype = str(resource.get("resourceType"))
    if principal.scopes.patient_only(rtype, action) and patients != {
        f"Patient/{principal.patient}"
    }:
        return Decision(False, "the token's patient/ scopes cover another patient only")
    organisation = principal.organisation
    if organisation is None:
        return Decision(False, "the token names no organisation")
    if authored:
        return Decision(True, f"organisation {organisation} is the author")
    outside = sorted(p for p in patients if organisation not in care(p))
    if outside:
        return Decision(
            False, f"organisation {organisation} takes no part in the care of {', '.join(outside)}"
        )
    return Decision(True, f"organisation {organisation} takes part in the patient's care")


def may_read(
    principal: Principal,
    resource: Resource,
    care: CareLookup,
    resolve: Resolver,
    *,
    interaction: str = "read",
) -> Decision:
    """Whether the caller may see ``resource`` (scopes are checked separately, before)."""
    if principal.unrestricted:
        return Decision(True, "authentication is off (--insecure-dev)")
    patients = patients_of(resource)
    rtype = str(resource.get("resourceType"))
    if not patients and rtype not in PRIVATE_TYPES:
        return Decision(True, "not patient data")
    organisation = principal.organisation
    authored = organisation is not None and organisation in authors_of(resource, resolve)
    if not patients:
        if authored:
            return Decision(True, f"organisation {organisation} is the author")
        return Decision(False, f"a {rtype} about no patient is seen by the organisations it names")
    return _takes_part(principal, resource, patients, care, interaction, authored=authored)


def named_organisations(resource: Resource, resolve: Resolver) -> frozenset[str]:
    """The organisation numbers a resource care relations pass through stands for: an
    Organization's own numbers, a PractitionerRole's organization, a CareTeam's members and
    managing organisations (whatever their status and periods)."""
    rtype = resource.get("resourceType")
    if rtype == "Organization":
        identifiers = resource.get("identifier") or []
        return frozenset(_organisations(({"identifier": i} for i in identifiers), resolve))
    if rtype == "PractitionerRole":
        return frozenset(_organisations(_at(resource, "organization"), resolve))
    if rtype == "CareTeam":
        named = [
            *_at(resource, "participant.member"),
            *_at(resource, "participant.onBehalfOf"),
            *_at(resource, "managingOrganization"),
        ]
        return frozenset(_organisations(named, resolve))
    return frozenset()


def _renames(
    principal: Principal, current: Resource, proposed: Resource | None, resolve: Resolver
) -> Decision | None:
    """A denial when the write changes which organisations a care relation passes through and
    the caller is not one of them; None when the rule does not apply or allows it."""
    if current.get("resourceType") not in RELATION_TYPES or patients_of(current):
        return None
    before = named_organisations(current, resolve)
    after = named_organisations(proposed, resolve) if proposed is not None else frozenset()
    if before == after or principal.organisation in before:
        return None
    rtype, rid = current.get("resourceType"), current.get("id")
    who = ", ".join(sorted(before)) or "no organisation"
    return Decision(
        False,
        f"{rtype}/{rid} names {who}; only an organisation it names may change which "
        "organisations it stands for",
    )


def may_write(
    principal: Principal,
    current: Resource | None,
    proposed: Resource | None,
    care: CareLookup,
    resolve: Resolver,
) -> Decision:
    """Whether the caller may replace ``current`` (None for a create) with ``proposed`` (None
    for a delete).

    ``care`` answers for a patient that existed before the request with its care relations
    *before* the write; for a patient the same request creates, with those after the request (so
    a new patient must end up in the caller's care). The caller must take part in the care of
    every patient of ``proposed``: being its author is not enough, or an organisation could write
    itself into anybody's care. A denial on ``current`` must be answered 404 (the caller may not
    learn it exists); any other denial 403.
    """
    if principal.unrestricted:
        return Decision(True, "authentication is off (--insecure-dev)")
    if current is not None:
        interaction = "update" if proposed is not None else "delete"
        seen = may_read(principal, current, care, resolve, interaction=interaction)
        if not seen:
            return seen
        renamed = _renames(principal, current, proposed, resolve)
        if renamed is not None:
            return renamed
    if proposed is None:
        return Decision(True, "delete of a resource the caller may see")
    patients = patients_of(proposed)
    if not patients:
        return Decision(True, "not patient data")
    interaction = "update" if current is not None else "create"
    return _takes_part(principal, proposed, patients, care, interaction)


def visible(
    principal: Principal, resources: Iterable[Resource], care: CareLookup, resolve: Resolver
) -> list[Resource]:
    """The resources of a search result the caller may see, in order."""
    return [r for r in resources if may_read(principal, r, care, resolve, interaction="search")]
