"""Base R4 invariants: every invariant in the table is shown failing on a resource that breaks it.

``FAILING`` has one resource per invariant key and the expression of the instance that breaks it;
:func:`test_every_invariant_has_a_failing_case` keeps the table and the cases in step, so an
invariant fhirpathpy cannot evaluate (or evaluates as always true) fails a test instead of passing
silently.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from adapter.fhir.errors import Code
from adapter.registry import default_registry
from adapter.validation.invariants import TABLE, InvariantTable, compiled, validate_invariants
from adapter.validation.walk import walk
from tests.strategies import resources

UCUM = "http://unitsofmeasure.org"
HL7_SD = "http://hl7.org/fhir/StructureDefinition"
VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"

R = dict[str, Any]


def obs(**kw: Any) -> R:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **kw}


def q_item(**kw: Any) -> R:
    return {"resourceType": "Questionnaire", "status": "active", "item": [{"linkId": "1", **kw}]}


def bundle(type_: str, *entries: R, **kw: Any) -> R:
    return {"resourceType": "Bundle", "type": type_, "entry": list(entries), **kw}


def sd(*elements: R, where: str = "differential", **kw: Any) -> R:
    base: R = {
        "resourceType": "StructureDefinition",
        "url": "http://forlop.no/fhir/StructureDefinition/x",
        "name": "X",
        "status": "active",
        "kind": "resource",
        "abstract": False,
        "type": "Goal",
        "baseDefinition": f"{HL7_SD}/Goal",
        "derivation": "constraint",
        where: {"element": list(elements)},
    }
    base.update(kw)
    return base


def el(**kw: Any) -> R:
    return {"id": kw.get("path", "Goal.x"), "path": "Goal.x", **kw}


def ext(**value: Any) -> R:
    return {"resourceType": "Patient", "extension": [{"url": "http://x", **value}]}


def timing(**repeat: Any) -> R:
    detail = {"status": "scheduled", "scheduledTiming": {"repeat": repeat}}
    return {"resourceType": "CarePlan", "activity": [{"detail": detail}]}


TIMING = "CarePlan.activity[0].detail.scheduledTiming.repeat"
DIFF0 = "StructureDefinition.differential.element[0]"

FAILING: dict[str, tuple[R, str]] = {
    "pat-1": ({"resourceType": "Patient", "contact": [{"gender": "male"}]}, "Patient.contact[0]"),
    "gol-1": ({"resourceType": "Goal", "target": [{"detailInteger": 5}]}, "Goal.target[0]"),
    "cpl-3": (
        {
            "resourceType": "CarePlan",
            "activity": [{"reference": {"reference": "ServiceRequest/1"}, "detail": {}}],
        },
        "CarePlan.activity[0]",
    ),
    "obs-6": (obs(valueInteger=1, dataAbsentReason={"text": "x"}), "Observation"),
    "obs-7": (
        obs(
            code={"coding": [{"system": "s", "code": "c"}]},
            valueInteger=1,
            component=[{"code": {"coding": [{"system": "s", "code": "c"}]}}],
        ),
        "Observation",
    ),
    "obs-3": (
        obs(referenceRange=[{"appliesTo": [{"text": "x"}]}]),
        "Observation.referenceRange[0]",
    ),
    "que-0": ({"resourceType": "Questionnaire", "name": "Psfs skjema"}, "Questionnaire"),
    "que-2": (
        {
            "resourceType": "Questionnaire",
            "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1", "type": "string"}]}],
        },
        "Questionnaire",
    ),
    "que-1": (q_item(type="group"), "Questionnaire.item[0]"),
    "que-3": (q_item(type="display", code=[{"code": "x"}]), "Questionnaire.item[0]"),
    "que-4": (
        q_item(type="choice", answerValueSet="http://x", answerOption=[{"valueString": "a"}]),
        "Questionnaire.item[0]",
    ),
    "que-5": (q_item(type="boolean", answerValueSet="http://x"), "Questionnaire.item[0]"),
    "que-6": (q_item(type="display", required=True), "Questionnaire.item[0]"),
    "que-8": (
        q_item(
            type="group", item=[{"linkId": "2", "type": "string"}], initial=[{"valueString": "a"}]
        ),
        "Questionnaire.item[0]",
    ),
    "que-9": (q_item(type="display", readOnly=True), "Questionnaire.item[0]"),
    "que-10": (q_item(type="date", maxLength=10), "Questionnaire.item[0]"),
    "que-11": (
        q_item(
            type="choice",
            answerOption=[{"valueString": "a"}],
            initial=[{"valueString": "a"}],
        ),
        "Questionnaire.item[0]",
    ),
    "que-12": (
        q_item(
            type="string",
            enableWhen=[{"question": "0", "operator": "exists", "answerBoolean": True}] * 3,
        ),
        "Questionnaire.item[0]",
    ),
    "que-13": (
        q_item(type="string", initial=[{"valueString": "a"}, {"valueString": "b"}]),
        "Questionnaire.item[0]",
    ),
    "que-7": (
        q_item(
            type="string", enableWhen=[{"question": "0", "operator": "exists", "answerInteger": 1}]
        ),
        "Questionnaire.item[0].enableWhen[0]",
    ),
    "qrs-1": (
        {
            "resourceType": "QuestionnaireResponse",
            "item": [
                {
                    "linkId": "1",
                    "answer": [{"valueString": "a"}],
                    "item": [{"linkId": "2", "answer": [{"valueString": "b"}]}],
                }
            ],
        },
        "QuestionnaireResponse.item[0]",
    ),
    "org-1": ({"resourceType": "Organization", "active": True}, "Organization"),
    "org-3": (
        {
            "resourceType": "Organization",
            "name": "x",
            "telecom": [{"system": "phone", "use": "home"}],
        },
        "Organization.telecom[0]",
    ),
    "org-2": (
        {"resourceType": "Organization", "name": "x", "address": [{"use": "home"}]},
        "Organization.address[0]",
    ),
    "bdl-1": (bundle("collection", total=1), "Bundle"),
    "bdl-2": (bundle("collection", {"search": {"mode": "match"}}), "Bundle"),
    "bdl-3": (bundle("transaction", {"resource": {"resourceType": "Basic"}}), "Bundle"),
    "bdl-4": (bundle("batch-response", {"resource": {"resourceType": "Basic"}}), "Bundle"),
    "bdl-7": (
        bundle(
            "collection",
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Basic"}},
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Basic"}},
        ),
        "Bundle",
    ),
    "bdl-9": (bundle("document", timestamp="2024-01-01T00:00:00Z"), "Bundle"),
    "bdl-10": (bundle("document", identifier={"system": "s", "value": "v"}), "Bundle"),
    "bdl-11": (bundle("document", {"resource": {"resourceType": "Basic"}}), "Bundle"),
    "bdl-12": (bundle("message", {"resource": {"resourceType": "Basic"}}), "Bundle"),
    "bdl-5": (bundle("collection", {"fullUrl": "urn:uuid:1"}), "Bundle.entry[0]"),
    "bdl-8": (
        bundle(
            "collection",
            {"fullUrl": "http://x/Goal/1/_history/2", "resource": {"resourceType": "Basic"}},
        ),
        "Bundle.entry[0]",
    ),
    "csd-0": ({"resourceType": "CodeSystem", "name": "my codes"}, "CodeSystem"),
    "csd-1": (
        {"resourceType": "CodeSystem", "concept": [{"code": "a", "concept": [{"code": "a"}]}]},
        "CodeSystem",
    ),
    "vsd-0": ({"resourceType": "ValueSet", "name": "1x"}, "ValueSet"),
    "vsd-1": (
        {"resourceType": "ValueSet", "compose": {"include": [{"version": "1"}]}},
        "ValueSet.compose.include[0]",
    ),
    "vsd-2": (
        {
            "resourceType": "ValueSet",
            "compose": {"include": [{"valueSet": ["http://x"], "concept": [{"code": "a"}]}]},
        },
        "ValueSet.compose.include[0]",
    ),
    "vsd-3": (
        {
            "resourceType": "ValueSet",
            "compose": {
                "include": [
                    {
                        "system": "http://x",
                        "concept": [{"code": "a"}],
                        "filter": [{"property": "p", "op": "=", "value": "v"}],
                    }
                ]
            },
        },
        "ValueSet.compose.include[0]",
    ),
    "vsd-6": (
        {"resourceType": "ValueSet", "expansion": {"contains": [{"abstract": True}]}},
        "ValueSet.expansion.contains[0]",
    ),
    "vsd-9": (
        {"resourceType": "ValueSet", "expansion": {"contains": [{"display": "x"}]}},
        "ValueSet.expansion.contains[0]",
    ),
    "vsd-10": (
        {"resourceType": "ValueSet", "expansion": {"contains": [{"code": "a"}]}},
        "ValueSet.expansion.contains[0]",
    ),
    "sdf-0": (sd(el(), name="x-y"), "StructureDefinition"),
    "sdf-1": (
        sd(el(), el(), where="snapshot", derivation="specialization"),
        "StructureDefinition",
    ),
    "sdf-15a": (
        sd({"id": "Goal", "path": "Goal", "type": [{"code": "Goal"}]}),
        "StructureDefinition",
    ),
    "sdf-4": (
        {
            "resourceType": "StructureDefinition",
            "abstract": False,
            "differential": {"element": [el()]},
        },
        "StructureDefinition",
    ),
    "sdf-5": (sd(el(), type="Extension"), "StructureDefinition"),
    "sdf-6": ({"resourceType": "StructureDefinition", "abstract": True}, "StructureDefinition"),
    "sdf-9": (sd({"id": "Goal", "path": "Goal", "label": "x"}), "StructureDefinition"),
    "sdf-11": (sd(el(id="Patient", path="Patient"), where="snapshot"), "StructureDefinition"),
    "sdf-14": (sd({"path": "Goal.x"}), "StructureDefinition"),
    "sdf-15": (
        sd({"id": "Goal", "path": "Goal", "type": [{"code": "Goal"}]}, where="snapshot"),
        "StructureDefinition",
    ),
    "sdf-16": (sd(el(id="a"), el(id="a"), where="snapshot"), "StructureDefinition"),
    "sdf-17": (sd(el(id="a"), el(id="a")), "StructureDefinition"),
    "sdf-18": (sd(el(), contextInvariant=["true"]), "StructureDefinition"),
    "sdf-19": (
        sd(el(type=[{"code": "a-b"}]), url=f"{HL7_SD}/x"),
        "StructureDefinition",
    ),
    "sdf-21": (sd(el(defaultValueString="x")), "StructureDefinition"),
    "sdf-22": (
        sd(el(defaultValueString="x"), url=f"{HL7_SD}/x", derivation="specialization"),
        "StructureDefinition",
    ),
    "sdf-23": (sd({"id": "Goal", "path": "Goal", "sliceName": "s"}), "StructureDefinition"),
    "sdf-2": (sd(el(), mapping=[{"identity": "m"}]), "StructureDefinition.mapping[0]"),
    "sdf-3": (sd({"id": "Goal", "path": "Goal"}, where="snapshot"), "StructureDefinition.snapshot"),
    "sdf-8": (
        sd(
            {"id": "Patient", "path": "Patient", "definition": "d", "min": 0, "max": "*"},
            where="snapshot",
        ),
        "StructureDefinition.snapshot",
    ),
    "sdf-8b": (
        sd(
            {"id": "Goal", "path": "Goal", "definition": "d", "min": 0, "max": "*"},
            where="snapshot",
        ),
        "StructureDefinition.snapshot",
    ),
    "sdf-10": (
        sd(el(binding={"strength": "required"}), where="snapshot"),
        "StructureDefinition.snapshot.element[0]",
    ),
    "sdf-20": (
        sd({"id": "Goal", "path": "Goal", "slicing": {"rules": "open", "description": "d"}}),
        "StructureDefinition.differential",
    ),
    "sdf-8a": (sd(el(id="Patient.x", path="Patient.x")), "StructureDefinition.differential"),
    "cmd-0": ({"resourceType": "ConceptMap", "name": "a map"}, "ConceptMap"),
    "cmd-1": (
        {
            "resourceType": "ConceptMap",
            "group": [
                {"element": [{"code": "a", "target": [{"code": "b", "equivalence": "narrower"}]}]}
            ],
        },
        "ConceptMap.group[0].element[0].target[0]",
    ),
    "cmd-2": (
        {"resourceType": "ConceptMap", "group": [{"unmapped": {"mode": "fixed"}}]},
        "ConceptMap.group[0].unmapped",
    ),
    "cmd-3": (
        {"resourceType": "ConceptMap", "group": [{"unmapped": {"mode": "other-map"}}]},
        "ConceptMap.group[0].unmapped",
    ),
    "sev-1": (
        {"resourceType": "AuditEvent", "entity": [{"name": "n", "query": "cT0x"}]},
        "AuditEvent.entity[0]",
    ),
    "con-3": ({"resourceType": "Condition", "category": [{"text": "x"}]}, "Condition"),
    "con-4": (
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": CLIN, "code": "active"}]},
            "abatementString": "x",
        },
        "Condition",
    ),
    "con-5": (
        {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": CLIN, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": VER, "code": "entered-in-error"}]},
        },
        "Condition",
    ),
    "con-1": (
        {"resourceType": "Condition", "stage": [{"type": {"text": "x"}}]},
        "Condition.stage[0]",
    ),
    "con-2": ({"resourceType": "Condition", "evidence": [{"id": "e"}]}, "Condition.evidence[0]"),
    "app-2": (
        {"resourceType": "Appointment", "status": "booked", "start": "2024-01-01T10:00:00Z"},
        "Appointment",
    ),
    "app-3": ({"resourceType": "Appointment", "status": "booked"}, "Appointment"),
    "app-4": (
        {"resourceType": "Appointment", "status": "proposed", "cancelationReason": {"text": "x"}},
        "Appointment",
    ),
    "app-1": (
        {
            "resourceType": "Appointment",
            "status": "proposed",
            "participant": [{"status": "accepted"}],
        },
        "Appointment.participant[0]",
    ),
    "cpt-2": ({"resourceType": "Patient", "telecom": [{"value": "123"}]}, "Patient.telecom[0]"),
    "qty-3": (obs(valueQuantity={"value": 1, "code": "mg"}), "Observation.valueQuantity"),
    "age-1": (
        {"resourceType": "Condition", "onsetAge": {"value": -1, "system": UCUM, "code": "a"}},
        "Condition.onsetAge",
    ),
    "drt-1": (
        {
            "resourceType": "Goal",
            "target": [{"dueDuration": {"value": 1, "code": "d", "system": "http://x"}}],
        },
        "Goal.target[0].dueDuration",
    ),
    "cnt-3": (
        ext(valueCount={"value": 1.5, "system": UCUM, "code": "1"}),
        "Patient.extension[0].valueCount",
    ),
    "dis-1": (
        ext(valueDistance={"value": 1, "system": "http://x", "code": "m"}),
        "Patient.extension[0].valueDistance",
    ),
    "sqty-1": (
        obs(valueRange={"low": {"value": 1, "comparator": "<"}}),
        "Observation.valueRange.low",
    ),
    "tim-1": (timing(duration=1), TIMING),
    "tim-2": (timing(period=1), TIMING),
    "tim-4": (timing(duration=-1, durationUnit="h"), TIMING),
    "tim-5": (timing(period=-1, periodUnit="h"), TIMING),
    "tim-6": (timing(periodMax=2), TIMING),
    "tim-7": (timing(durationMax=2), TIMING),
    "tim-8": (timing(countMax=2), TIMING),
    "tim-9": (timing(offset=30, when=["C"]), TIMING),
    "tim-10": (timing(timeOfDay=["08:00:00"], when=["MORN"]), TIMING),
    "att-1": ({"resourceType": "Patient", "photo": [{"data": "AAAA"}]}, "Patient.photo[0]"),
    "ref-1": ({"resourceType": "Goal", "subject": {"reference": "#p1"}}, "Goal.subject"),
    "per-1": (
        {"resourceType": "Encounter", "period": {"start": "2024-02-01", "end": "2024-01-31"}},
        "Encounter.period",
    ),
    "rng-2": (
        obs(
            valueRange={
                "low": {"value": 5, "system": UCUM, "code": "mg"},
                "high": {"value": 3, "system": UCUM, "code": "mg"},
            }
        ),
        "Observation.valueRange",
    ),
    "rat-1": (obs(valueRatio={"numerator": {"value": 1}}), "Observation.valueRatio"),
    "exp-1": (
        ext(valueExpression={"language": "text/fhirpath"}),
        "Patient.extension[0].valueExpression",
    ),
    "ext-1": (
        {
            "resourceType": "Patient",
            "extension": [
                {"url": "x", "valueString": "a", "extension": [{"url": "y", "valueString": "b"}]}
            ],
        },
        "Patient.extension[0]",
    ),
    "drq-1": (
        ext(valueDataRequirement={"type": "Patient", "codeFilter": [{"code": [{"code": "a"}]}]}),
        "Patient.extension[0].valueDataRequirement.codeFilter[0]",
    ),
    "drq-2": (
        ext(valueDataRequirement={"type": "Patient", "dateFilter": [{"valueDateTime": "2024"}]}),
        "Patient.extension[0].valueDataRequirement.dateFilter[0]",
    ),
    "trd-1": (
        ext(
            valueTriggerDefinition={
                "type": "periodic",
                "timingDate": "2024-01-01",
                "data": [{"type": "Patient"}],
            }
        ),
        "Patient.extension[0].valueTriggerDefinition",
    ),
    "trd-2": (
        ext(
            valueTriggerDefinition={
                "type": "periodic",
                "timingDate": "2024-01-01",
                "condition": {"language": "text/fhirpath"},
            }
        ),
        "Patient.extension[0].valueTriggerDefinition",
    ),
    "trd-3": (
        ext(valueTriggerDefinition={"type": "named-event"}),
        "Patient.extension[0].valueTriggerDefinition",
    ),
    "eld-2": (sd(el(min=2, max="1")), DIFF0),
    "eld-5": (sd(el(contentReference="#Goal.y", type=[{"code": "string"}])), DIFF0),
    "eld-6": (sd(el(fixedString="a", type=[{"code": "string"}, {"code": "code"}])), DIFF0),
    "eld-7": (sd(el(patternString="a", type=[{"code": "string"}, {"code": "code"}])), DIFF0),
    "eld-8": (sd(el(patternString="a", fixedString="a")), DIFF0),
    "eld-13": (sd(el(type=[{"code": "string"}, {"code": "string"}])), DIFF0),
    "eld-14": (sd(el(constraint=[{"key": "a"}, {"key": "a"}])), DIFF0),
    "eld-15": (sd(el(defaultValueString="a", meaningWhenMissing="m")), DIFF0),
    "eld-16": (sd(el(sliceName="a b")), DIFF0),
    "eld-18": (sd(el(isModifier=True)), DIFF0),
    "eld-19": (sd(el(path="Goal.x y")), DIFF0),
    "eld-20": (sd(el(path="Goal.X")), DIFF0),
    "eld-22": (sd(el(sliceIsConstraining=True)), DIFF0),
    "eld-1": (sd(el(slicing={"rules": "open"})), f"{DIFF0}.slicing"),
    "eld-3": (sd(el(max="x")), f"{DIFF0}.max"),
    "eld-4": (sd(el(type=[{"code": "string", "aggregation": ["contained"]}])), f"{DIFF0}.type[0]"),
    "eld-17": (
        sd(el(type=[{"code": "string", "targetProfile": ["http://x"]}])),
        f"{DIFF0}.type[0]",
    ),
    "eld-21": (
        sd(el(constraint=[{"key": "a", "severity": "warning", "human": "h"}])),
        f"{DIFF0}.constraint[0]",
    ),
    "eld-12": (
        sd(el(binding={"strength": "required", "valueSet": "goal-status"})),
        f"{DIFF0}.binding",
    ),
    "dom-2": (
        {
            "resourceType": "Goal",
            "contained": [
                {"resourceType": "Patient", "id": "p", "contained": [{"resourceType": "Basic"}]}
            ],
            "subject": {"reference": "#p"},
        },
        "Goal",
    ),
    "dom-3": (
        {"resourceType": "Goal", "contained": [{"resourceType": "Patient", "id": "p"}]},
        "Goal",
    ),
    "dom-4": (
        {
            "resourceType": "Goal",
            "contained": [{"resourceType": "Patient", "id": "p", "meta": {"versionId": "1"}}],
            "subject": {"reference": "#p"},
        },
        "Goal",
    ),
    "dom-5": (
        {
            "resourceType": "Goal",
            "contained": [
                {"resourceType": "Patient", "id": "p", "meta": {"security": [{"code": "R"}]}}
            ],
            "subject": {"reference": "#p"},
        },
        "Goal",
    ),
}


def _table() -> InvariantTable:
    return InvariantTable(default_registry())


def test_every_invariant_has_a_failing_case() -> None:
    keys = {inv.key for inv in _table().invariants}
    assert keys == set(FAILING)


@pytest.mark.parametrize("key", sorted(FAILING))
def test_invariant_fails_on_bad_input(key: str) -> None:
    resource, expression = FAILING[key]
    issues = validate_invariants(resource)
    hits = [i for i in issues if i.diagnostics.startswith(f"{key}:")]
    assert [i.expression for i in hits] == [(expression,)], [i.diagnostics for i in issues]
    [issue] = hits
    assert issue.forlop_code is Code.INVARIANT
    assert issue.code == "invariant"
    assert "not evaluated" not in issue.diagnostics
    severity = next(inv.severity for inv in _table().invariants if inv.key == key)
    assert issue.severity == severity


# Good counterparts for the invariants the brief names: the same shape, made right.
PASSING: dict[str, R] = {
    "que-0": {"resourceType": "Questionnaire", "name": "PsfsSkjema_2"},
    "eld-19": sd(el(path="Goal.target.detail[x]")),
    "obs-6": obs(dataAbsentReason={"text": "x"}),
    "obs-7": obs(
        code={"coding": [{"system": "s", "code": "c"}]},
        valueInteger=1,
        component=[{"code": {"coding": [{"system": "s", "code": "d"}]}}],
    ),
    "que-1": q_item(type="group", item=[{"linkId": "2", "type": "display"}]),
    "que-7": q_item(
        type="string", enableWhen=[{"question": "0", "operator": "exists", "answerBoolean": False}]
    ),
    "que-12": q_item(
        type="string",
        enableBehavior="any",
        enableWhen=[{"question": "0", "operator": "exists", "answerBoolean": True}] * 3,
    ),
    "que-13": q_item(
        type="string", repeats=True, initial=[{"valueString": "a"}, {"valueString": "b"}]
    ),
    "qrs-1": {
        "resourceType": "QuestionnaireResponse",
        "item": [{"linkId": "1", "answer": [{"valueString": "a", "item": [{"linkId": "2"}]}]}],
    },
    "cpl-3": {"resourceType": "CarePlan", "activity": [{"detail": {"status": "scheduled"}}]},
    "gol-1": {"resourceType": "Goal", "target": [{"measure": {"text": "m"}, "detailInteger": 5}]},
    "bdl-3": bundle(
        "transaction",
        {"resource": {"resourceType": "Basic"}, "request": {"method": "POST", "url": "Basic"}},
    ),
    "bdl-7": bundle(
        "history",
        {
            "fullUrl": "urn:uuid:1",
            "request": {"method": "PUT", "url": "x"},
            "response": {"status": "200"},
        },
        {
            "fullUrl": "urn:uuid:1",
            "request": {"method": "PUT", "url": "x"},
            "response": {"status": "200"},
        },
    ),
    "per-1": {"resourceType": "Encounter", "period": {"start": "2024-01-31", "end": "2024-02-01"}},
    "ref-1": {
        "resourceType": "Goal",
        "subject": {"reference": "#p1"},
        "contained": [{"resourceType": "Patient", "id": "p1"}],
    },
    "ext-1": {
        "resourceType": "Patient",
        "extension": [{"url": "x", "extension": [{"url": "y", "valueString": "b"}]}],
    },
    "rng-2": obs(
        valueRange={
            "low": {"value": 5, "system": UCUM, "code": "g"},
            "high": {"value": 3, "system": UCUM, "code": "mg"},
        }
    ),
    "dom-3": {
        "resourceType": "Questionnaire",
        "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "active"}],
        "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}],
    },
}


@pytest.mark.parametrize("key", sorted(PASSING))
def test_invariant_passes_on_good_input(key: str) -> None:
    issues = validate_invariants(PASSING[key])
    assert not [i for i in issues if i.diagnostics.startswith(f"{key}:")]


def test_per1_with_extension_only_start() -> None:
    period = {"_start": {"extension": [{"url": "u", "valueCode": "unknown"}]}, "end": "2024-01-01"}
    assert validate_invariants({"resourceType": "Encounter", "period": period}) == []


def test_evaluation_failure_is_a_warning_not_a_rejection() -> None:
    """tim-4 compares a duration that carries only an extension: fhirpathpy cannot."""
    resource = timing(_duration={"extension": [{"url": "u", "valueCode": "x"}]}, durationUnit="h")
    [issue] = validate_invariants(resource)
    assert issue.severity == "warning"
    assert issue.diagnostics.startswith("tim-4:")
    assert "not evaluated" in issue.diagnostics


def test_nested_resources_use_their_own_resource() -> None:
    """%resource in obs-7 is the Observation in the Bundle entry, not the Bundle."""
    bad, _ = FAILING["obs-7"]
    issues = validate_invariants(bundle("collection", {"fullUrl": "urn:uuid:1", "resource": bad}))
    assert [i.expression for i in issues] == [("Bundle.entry[0].resource",)]


def test_shared_walk_gives_same_result() -> None:
    resource, _ = FAILING["que-1"]
    assert validate_invariants(resource, walked=walk(resource)) == validate_invariants(resource)


def test_table_expressions_are_the_specs_and_compile() -> None:
    data = default_registry().data[TABLE]
    for raw in data["invariants"]:
        compiled(raw.get("evaluate", raw["expression"]))
        if "evaluate" in raw:
            assert raw["comment"], raw["key"]
    for raw in data["omitted"]:
        assert raw["comment"], raw["key"]
    omitted = {raw["key"] for raw in data["omitted"]}
    assert {"ele-1", "txt-1", "txt-2", "eld-11"} <= omitted


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(resources())
def test_generated_resources_break_no_invariant_but_dom3(resource: R) -> None:
    # tests/strategies.py puts contained resources in without referring to them (dom-3).
    issues = [i for i in validate_invariants(resource) if not i.diagnostics.startswith("dom-3:")]
    assert issues == []
