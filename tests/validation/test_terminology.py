"""Required bindings of base R4: every bound code checked against its HL7 value set."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.fhir.errors import Code
from adapter.fhir.models import elements_of
from adapter.registry import default_registry
from adapter.validation.terminology import (
    TABLE,
    BindingTable,
    resource_type_codes,
    validate_required_bindings,
)
from adapter.validation.walk import type_info

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

# (resource, expression of the bad code) for each binding the brief names.
BAD: list[tuple[dict[str, Any], str]] = [
    ({"resourceType": "Goal", "lifecycleStatus": "done"}, "Goal.lifecycleStatus"),
    ({"resourceType": "Observation", "status": "ok"}, "Observation.status"),
    ({"resourceType": "CarePlan", "status": "open"}, "CarePlan.status"),
    ({"resourceType": "CarePlan", "intent": "idea"}, "CarePlan.intent"),
    (
        {"resourceType": "CarePlan", "activity": [{"detail": {"status": "doing"}}]},
        "CarePlan.activity[0].detail.status",
    ),
    (
        {"resourceType": "CarePlan", "activity": [{"detail": {"kind": "Goal"}}]},
        "CarePlan.activity[0].detail.kind",
    ),
    ({"resourceType": "Questionnaire", "status": "final"}, "Questionnaire.status"),
    (
        {"resourceType": "Questionnaire", "item": [{"item": [{"type": "number"}]}]},
        "Questionnaire.item[0].item[0].type",
    ),
    (
        {"resourceType": "Questionnaire", "item": [{"enableWhen": [{"operator": "=="}]}]},
        "Questionnaire.item[0].enableWhen[0].operator",
    ),
    (
        {"resourceType": "Questionnaire", "item": [{"enableBehavior": "some"}]},
        "Questionnaire.item[0].enableBehavior",
    ),
    (
        {"resourceType": "QuestionnaireResponse", "status": "done"},
        "QuestionnaireResponse.status",
    ),
    ({"resourceType": "Encounter", "status": "finnished"}, "Encounter.status"),
    ({"resourceType": "EpisodeOfCare", "status": "open"}, "EpisodeOfCare.status"),
    ({"resourceType": "CareTeam", "status": "on"}, "CareTeam.status"),
    ({"resourceType": "Patient", "gender": "M"}, "Patient.gender"),
    ({"resourceType": "RelatedPerson", "gender": "kvinne"}, "RelatedPerson.gender"),
    ({"resourceType": "Practitioner", "gender": "Male"}, "Practitioner.gender"),
    ({"resourceType": "Bundle", "type": "bag"}, "Bundle.type"),
    (
        {"resourceType": "Bundle", "entry": [{"request": {"method": "get"}}]},
        "Bundle.entry[0].request.method",
    ),
    (
        {"resourceType": "Bundle", "entry": [{"search": {"mode": "hit"}}]},
        "Bundle.entry[0].search.mode",
    ),
    ({"resourceType": "Patient", "identifier": [{"use": "main"}]}, "Patient.identifier[0].use"),
    ({"resourceType": "Patient", "name": [{"use": "nick"}]}, "Patient.name[0].use"),
    (
        {"resourceType": "Patient", "telecom": [{}, {"system": "mobile"}]},
        "Patient.telecom[1].system",
    ),
    ({"resourceType": "Patient", "telecom": [{"use": "cell"}]}, "Patient.telecom[0].use"),
    ({"resourceType": "Patient", "address": [{"use": "holiday"}]}, "Patient.address[0].use"),
    ({"resourceType": "Patient", "address": [{"type": "street"}]}, "Patient.address[0].type"),
    ({"resourceType": "Patient", "text": {"status": "auto"}}, "Patient.text.status"),
    (
        {"resourceType": "Observation", "valueQuantity": {"comparator": "=<"}},
        "Observation.valueQuantity.comparator",
    ),
    (
        {"resourceType": "Condition", "onsetAge": {"comparator": "~"}},
        "Condition.onsetAge.comparator",
    ),
    (
        {"resourceType": "Provenance", "entity": [{"role": "copy"}]},
        "Provenance.entity[0].role",
    ),
    (
        {"resourceType": "OperationOutcome", "issue": [{"severity": "bad"}]},
        "OperationOutcome.issue[0].severity",
    ),
    (
        {"resourceType": "OperationOutcome", "issue": [{"code": "oops"}]},
        "OperationOutcome.issue[0].code",
    ),
    ({"resourceType": "CodeSystem", "content": "all"}, "CodeSystem.content"),
    ({"resourceType": "ValueSet", "status": "live"}, "ValueSet.status"),
    (
        {"resourceType": "ValueSet", "compose": {"exclude": [{"filter": [{"op": "like"}]}]}},
        "ValueSet.compose.exclude[0].filter[0].op",
    ),
    ({"resourceType": "StructureDefinition", "kind": "type"}, "StructureDefinition.kind"),
    (
        {"resourceType": "StructureDefinition", "fhirVersion": "4.3.0"},
        "StructureDefinition.fhirVersion",
    ),
    (
        {
            "resourceType": "StructureDefinition",
            "differential": {"element": [{"slicing": {"rules": "closedAtEnd"}}]},
        },
        "StructureDefinition.differential.element[0].slicing.rules",
    ),
    (
        {"resourceType": "ConceptMap", "group": [{"unmapped": {"mode": "none"}}]},
        "ConceptMap.group[0].unmapped.mode",
    ),
    ({"resourceType": "AuditEvent", "action": "X"}, "AuditEvent.action"),
    ({"resourceType": "Communication", "priority": "high"}, "Communication.priority"),
    ({"resourceType": "Appointment", "status": "done"}, "Appointment.status"),
    ({"resourceType": "DocumentReference", "docStatus": "draft"}, "DocumentReference.docStatus"),
    (
        {
            "resourceType": "PractitionerRole",
            "availableTime": [{"daysOfWeek": ["mon", "monday"]}],
        },
        "PractitionerRole.availableTime[0].daysOfWeek[1]",
    ),
    (
        {
            "resourceType": "CarePlan",
            "activity": [{"detail": {"scheduledTiming": {"repeat": {"periodUnit": "day"}}}}],
        },
        "CarePlan.activity[0].detail.scheduledTiming.repeat.periodUnit",
    ),
    (
        {"resourceType": "Condition", "clinicalStatus": {"text": "active"}},
        "Condition.clinicalStatus",
    ),
    (
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://snomed.info/sct", "code": "active"}]},
        },
        "Condition.clinicalStatus",
    ),
    (
        {"resourceType": "Patient", "photo": [{"contentType": "jpeg"}]},
        "Patient.photo[0].contentType",
    ),
    (
        {"resourceType": "Questionnaire", "subjectType": ["Patient", "Pasient"]},
        "Questionnaire.subjectType[1]",
    ),
    (
        {
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "Goal", "lifecycleStatus": "x"}}],
        },
        "Bundle.entry[0].resource.lifecycleStatus",
    ),
    (
        {"resourceType": "Goal", "contained": [{"resourceType": "Patient", "gender": "f"}]},
        "Goal.contained[0].gender",
    ),
    (
        {"resourceType": "Patient", "extension": [{"url": "x", "valueHumanName": {"use": "x"}}]},
        "Patient.extension[0].valueHumanName.use",
    ),
]


@pytest.mark.parametrize(("resource", "expression"), BAD)
def test_code_outside_required_value_set(resource: dict[str, Any], expression: str) -> None:
    issues = validate_required_bindings(resource)
    assert [i.expression for i in issues] == [(expression,)]
    [issue] = issues
    assert issue.forlop_code is Code.CODE_NOT_IN_VALUESET
    assert issue.code == "code-invalid"
    assert issue.severity == "error"


GOOD: list[dict[str, Any]] = [
    {"resourceType": "Goal", "lifecycleStatus": "active"},
    {"resourceType": "Observation", "status": "corrected"},
    {"resourceType": "CarePlan", "status": "active", "intent": "plan"},
    {
        "resourceType": "CarePlan",
        "activity": [{"detail": {"status": "not-started", "kind": "ServiceRequest"}}],
    },
    {
        "resourceType": "Questionnaire",
        "status": "active",
        "subjectType": ["Patient"],
        "item": [
            {"type": "open-choice", "enableWhen": [{"operator": ">="}], "enableBehavior": "any"}
        ],
    },
    {
        "resourceType": "Patient",
        "gender": "unknown",
        "telecom": [{"system": "sms", "use": "mobile"}],
    },
    {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "PATCH"}}]},
    {"resourceType": "Observation", "valueQuantity": {"comparator": ">="}},
    {"resourceType": "StructureDefinition", "fhirVersion": "4.0.1", "kind": "resource"},
    {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "remission"}]},
    },
    {"resourceType": "Patient", "photo": [{"contentType": "image/jpeg; charset=binary"}]},
    {"resourceType": "AuditEvent", "action": "E", "outcome": "12"},
    {"resourceType": "Encounter", "status": "onleave", "location": [{"status": "reserved"}]},
]


@pytest.mark.parametrize("resource", GOOD)
def test_codes_in_value_set_pass(resource: dict[str, Any]) -> None:
    assert validate_required_bindings(resource) == []


def test_diagnostics_list_few_codes_and_name_the_value_set() -> None:
    [issue] = validate_required_bindings({"resourceType": "Goal", "lifecycleStatus": "done"})
    assert "http://hl7.org/fhir/ValueSet/goal-status|4.0.1" in issue.diagnostics
    for code in ("proposed", "active", "on-hold", "entered-in-error", "rejected"):
        assert code in issue.diagnostics
    [issue] = validate_required_bindings({"resourceType": "Questionnaire", "subjectType": ["X"]})
    assert "Account" not in issue.diagnostics  # 148 codes are not spelled out


def test_abstract_code_refused() -> None:
    q = {"resourceType": "Questionnaire", "item": [{"type": "question"}]}
    [issue] = validate_required_bindings(q)
    assert "abstract" in issue.diagnostics


def test_non_string_codes_left_to_structure() -> None:
    assert validate_required_bindings({"resourceType": "Goal", "lifecycleStatus": 5}) == []


def test_table_paths_resolve_to_code_elements() -> None:
    data = default_registry().data[TABLE]
    for path, canonical in data["bindings"].items():
        owner, _, element = path.rpartition(".")
        model = "".join(p[:1].upper() + p[1:] for p in owner.split("."))
        assert type_info(model).path == owner, path
        assert element in elements_of(model), path
        assert default_registry().get(canonical) is not None, canonical
    BindingTable(default_registry())


def test_brief_elements_are_bound() -> None:
    bound = default_registry().data[TABLE]["bindings"]
    for path in (
        "Goal.lifecycleStatus",
        "Observation.status",
        "CarePlan.activity.detail.status",
        "Questionnaire.item.type",
        "Questionnaire.item.enableWhen.operator",
        "Bundle.entry.request.method",
        "HumanName.use",
        "ContactPoint.system",
        "Quantity.comparator",
        "OperationOutcome.issue.code",
        "Condition.clinicalStatus",
    ):
        assert path in bound


def test_every_reachable_code_element_is_accounted_for() -> None:
    """Each ``code`` element of the resource types forlop accepts is bound (required) or listed
    in ``codeElementsNotRequired`` with its weaker strength."""
    data = default_registry().data[TABLE]
    known = set(data["bindings"]) | set(data["codeElementsNotRequired"])
    roots = [
        "Patient", "Encounter", "EpisodeOfCare", "Goal", "CarePlan", "CareTeam", "Observation",
        "Questionnaire", "QuestionnaireResponse", "Organization", "Practitioner",
        "PractitionerRole", "RelatedPerson", "Provenance", "Bundle", "OperationOutcome",
        "CodeSystem", "ValueSet", "StructureDefinition", "ConceptMap", "AuditEvent",
        "Communication", "Condition", "Appointment", "DocumentReference",
    ]  # fmt: skip
    seen: set[str] = set()
    missing = []
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        info = type_info(name)
        for elem in info.elements.values():
            if elem.kind == "complex" and elem.r4:
                stack.append(elem.type_name)
            if elem.type_name != "code":
                continue
            if elem.name == "language" and info.is_resource:
                path = "Resource.language"
            else:
                base = elem.choice + "[x]" if elem.choice else elem.name
                path = f"{'Quantity' if 'Quantity' in info.names else info.path}.{base}"
            if path not in known:
                missing.append(path)
    assert missing == []


def test_resource_type_codes_are_r4() -> None:
    codes = resource_type_codes()
    assert {"Goal", "Patient", "QuestionnaireResponse", "EffectEvidenceSynthesis"} <= codes
    assert "SubscriptionTopic" not in codes  # R4B only
