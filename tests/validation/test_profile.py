"""forlop's profiles and the differential validator: each valid shape passes, each rule can fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.fhir.errors import Code, Issue
from adapter.registry import Registry, default_dirs
from adapter.validation.fhirpath import check_syntax
from adapter.validation.profile import validate_claimed_profiles, validate_profile
from tests.strategies import synthetic_fnr

JSON = dict[str, Any]

SD = "http://forlop.no/fhir/StructureDefinition/"
PSFS = "http://forlop.no/fhir/CodeSystem/psfs"
DIRECTION = "http://forlop.no/fhir/CodeSystem/psfs-direction"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
SYNTHETIC_FNR = "15833842096"  # 15 Mar 1938, month + 80
SYNTHETIC_DNR = "55833842160"  # the same date as a D-number (day + 40)
OUR_PROFILES = (
    "psfs-goal",
    "psfs-score-observation",
    "transition-careplan",
    "path-questionnaireresponse",
    "forlop-patient",
    "psfs-activity-key",
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(default_dirs()[0])


def profile(registry: Registry, name: str) -> JSON:
    found = registry.get(SD + name)
    assert found is not None
    return found


def errors(issues: list[Issue]) -> set[tuple[Code | None, str]]:
    return {(i.forlop_code, i.expression[0]) for i in issues if i.is_error}


def check(resource: JSON, registry: Registry) -> list[Issue]:
    return validate_claimed_profiles(resource, registry)


# --- valid examples: exactly the shapes of ids.md ------------------------------------------------


def coding(system: str, code: str) -> JSON:
    return {"coding": [{"system": system, "code": code}]}


def goal() -> JSON:
    return {
        "resourceType": "Goal",
        "meta": {"profile": [SD + "psfs-goal"]},
        "extension": [{"url": SD + "psfs-activity-key", "valueString": "act-1"}],
        "identifier": [
            {
                "system": "http://forlop.no/fhir/sid/psfs-activity",
                "value": "7d3f0e0a-4a8e-4b6f-9a55-2f7c1b6e0c11",
            }
        ],
        "lifecycleStatus": "active",
        "achievementStatus": coding(
            "http://terminology.hl7.org/CodeSystem/goal-achievement", "improving"
        ),
        "category": [coding(PSFS, "psfs-activity")],
        "description": {"text": "Gå i trapper"},
        "subject": {"reference": "Patient/p1"},
        "startDate": "2026-11-02",
        "target": [{"measure": coding(PSFS, "activity-score"), "detailInteger": 8}],
        "expressedBy": {"reference": "Patient/p1"},
        "outcomeReference": [{"reference": "Observation/o1"}],
    }


def activity_score() -> JSON:
    return {
        "resourceType": "Observation",
        "meta": {"profile": [SD + "psfs-score-observation"]},
        "identifier": [
            {
                "system": "http://forlop.no/fhir/sid/psfs-score",
                "value": "2b0b4c8e-1f0e-4c55-8d7e-5b1f3a9e7c21",
            }
        ],
        "status": "final",
        "category": [
            coding("http://terminology.hl7.org/CodeSystem/observation-category", "survey")
        ],
        "code": coding(PSFS, "activity-score"),
        "subject": {"reference": "Patient/p1"},
        "focus": [{"reference": "Goal/g1"}],
        "effectiveDateTime": "2026-11-02T10:00:00+01:00",
        "performer": [{"reference": "Practitioner/pr1"}],
        "valueInteger": 4,
        "derivedFrom": [{"reference": "QuestionnaireResponse/qr1"}],
        "component": [
            {"code": coding(PSFS, "original-score"), "valueInteger": 6},
            {
                "code": coding(PSFS, "direction"),
                "valueCodeableConcept": coding(DIRECTION, "difficulty"),
            },
        ],
    }


def mean_score() -> JSON:
    observation = activity_score()
    del observation["focus"], observation["valueInteger"]
    observation["code"] = coding(PSFS, "mean-score")
    observation["valueQuantity"] = {
        "value": 5.5,
        "unit": "{score}",
        "system": "http://unitsofmeasure.org",
        "code": "{score}",
    }
    observation["component"] = [
        {"code": coding(PSFS, "direction"), "valueCodeableConcept": coding(DIRECTION, "ability")}
    ]
    return observation


def careplan() -> JSON:
    return {
        "resourceType": "CarePlan",
        "meta": {"profile": [SD + "transition-careplan"]},
        "status": "active",
        "intent": "plan",
        "category": [coding("http://forlop.no/fhir/CodeSystem/care-transition", "transition-plan")],
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "period": {"start": "2026-11-02"},
        "author": {"reference": "Practitioner/pr1"},
        "careTeam": [{"reference": "CareTeam/ct1"}],
        "supportingInfo": [{"reference": "QuestionnaireResponse/qr1"}],
        "goal": [{"reference": "Goal/g1"}, {"reference": "Goal/g2"}],
        "activity": [
            {"detail": {"status": "scheduled", "goal": [{"reference": "Goal/g2"}]}},
            {"detail": {"status": "not-started"}},
        ],
    }


def path_response() -> JSON:
    return {
        "resourceType": "QuestionnaireResponse",
        "meta": {"profile": [SD + "path-questionnaireresponse"]},
        "basedOn": [{"reference": "CarePlan/cp1"}],
        "questionnaire": "http://forlop.no/fhir/Questionnaire/path-discharge-call|1.0.0",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
        "authored": "2026-11-03T09:30:00+01:00",
        "author": {"reference": "Practitioner/pr1"},
    }


def patient(*identifiers: JSON) -> JSON:
    return {
        "resourceType": "Patient",
        "meta": {"profile": [SD + "forlop-patient"]},
        "identifier": list(identifiers) or [{"system": FNR, "value": SYNTHETIC_FNR}],
        "name": [{"family": "Nordmann", "given": ["Kari"]}],
        "gender": "female",
        "birthDate": "1938-03-15",
    }


VALID = {
    "goal": goal,
    "activity score": activity_score,
    "mean score": mean_score,
    "careplan": careplan,
    "path response": path_response,
    "patient": patient,
}


@pytest.mark.parametrize("make", VALID.values(), ids=VALID.keys())
def test_valid_shapes_pass_without_any_issue(make: Any, registry: Registry) -> None:
    assert check(make(), registry) == []


def test_every_profile_is_known_well_formed_and_binds_only_our_valuesets(
    registry: Registry,
) -> None:
    for name in OUR_PROFILES:
        sd = profile(registry, name)
        assert sd["derivation"] == "constraint"
        assert sd["fhirVersion"] == "4.0.1"
        assert sd["abstract"] is False
        assert sd["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/" + sd["type"]
        elements = sd["differential"]["element"]
        assert len({e["id"] for e in elements}) == len(elements)
        for element in elements:
            valueset = element.get("binding", {}).get("valueSet")
            if valueset is not None:
                assert valueset.startswith("http://forlop.no/fhir/ValueSet/")
                assert registry.get(valueset) is not None
            for constraint in element.get("constraint", []):
                check_syntax(constraint["expression"])


# --- psfs-goal ---------------------------------------------------------------------------------


def test_goal_cardinality_min_and_max(registry: Registry) -> None:
    resource = goal()
    del resource["category"]
    resource["target"].append(copy.deepcopy(resource["target"][0]))
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "Goal.category"),
        (Code.PROFILE_CARDINALITY, "Goal.target"),
    }


def test_goal_nested_min_is_counted_per_parent(registry: Registry) -> None:
    resource = goal()
    del resource["target"][0]["measure"]
    resource["description"] = {"coding": [{"system": PSFS, "code": "psfs-activity"}]}
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "Goal.target[0].measure"),
        (Code.PROFILE_CARDINALITY, "Goal.description.text"),
    }
    # Without a target there is no target.measure to require.
    resource = goal()
    del resource["target"]
    assert check(resource, registry) == []


def test_goal_pattern_on_category_measure_and_achievement(registry: Registry) -> None:
    resource = goal()
    resource["category"][0]["coding"][0]["code"] = "other"
    resource["target"][0]["measure"] = coding(PSFS, "mean-score")
    resource["achievementStatus"] = coding("http://example.org/status", "improving")
    issues = check(resource, registry)
    assert errors(issues) == {
        (Code.PROFILE_PATTERN, "Goal.category[0]"),
        (Code.PROFILE_PATTERN, "Goal.target[0].measure"),
        (Code.PROFILE_PATTERN, "Goal.achievementStatus"),
    }
    measure = next(i for i in issues if i.expression == ("Goal.target[0].measure",))
    assert measure.code == "value"
    assert measure.diagnostics.startswith(
        "Goal.target[0].measure must be psfs#activity-score, found psfs#mean-score"
    )
    assert measure.diagnostics.endswith("(profile psfs-goal)")


def test_goal_pattern_allows_more_codings_and_elements(registry: Registry) -> None:
    resource = goal()
    resource["category"][0]["coding"].insert(0, {"system": "http://example.org", "code": "x"})
    resource["category"][0]["text"] = "Aktivitet"
    assert check(resource, registry) == []


def test_goal_choice_types(registry: Registry) -> None:
    resource = goal()
    del resource["startDate"]
    resource["startCodeableConcept"] = {"text": "innleggelse"}
    resource["target"][0]["detailQuantity"] = {"value": 8}
    del resource["target"][0]["detailInteger"]
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_TYPE, "Goal.startCodeableConcept"),
        (Code.PROFILE_TYPE, "Goal.target[0].detailQuantity"),
    }
    del resource["startCodeableConcept"]
    assert (Code.PROFILE_CARDINALITY, "Goal.start") in errors(check(resource, registry))


@given(score=st.integers(-1000, 1000))
def test_goal_target_score_invariant(score: int, registry: Registry) -> None:
    resource = goal()
    resource["target"][0]["detailInteger"] = score
    found = errors(check(resource, registry))
    assert found == (set() if 0 <= score <= 10 else {(Code.PROFILE_INVARIANT, "Goal.target[0]")})


def test_goal_target_without_detail_passes_the_invariant(registry: Registry) -> None:
    resource = goal()
    del resource["target"][0]["detailInteger"]
    assert check(resource, registry) == []


def test_goal_reference_targets(registry: Registry) -> None:
    resource = goal()
    resource["subject"] = {"reference": "Group/g1"}
    resource["expressedBy"] = {"reference": "https://ehr.example.no/fhir/Practitioner/9/_history/2"}
    resource["outcomeReference"] = [{"reference": "Observation/o1"}, {"reference": "Goal/g9"}]
    issues = check(resource, registry)
    assert errors(issues) == {
        (Code.PROFILE_TYPE, "Goal.subject"),
        (Code.PROFILE_TYPE, "Goal.expressedBy"),
        (Code.PROFILE_TYPE, "Goal.outcomeReference[1]"),
    }
    expressed = next(i for i in issues if i.expression == ("Goal.expressedBy",))
    assert "must refer to Patient or RelatedPerson, found a reference to Practitioner" in (
        expressed.diagnostics
    )


def test_goal_references_that_cannot_or_can_be_resolved_locally(registry: Registry) -> None:
    resource = goal()
    resource["subject"] = {"reference": "urn:uuid:3f1c2a52-8f0e-4f7d-9d8e-1c7a5b2e4d10"}
    resource["contained"] = [
        {"resourceType": "RelatedPerson", "id": "rp", "patient": {"reference": "Patient/p1"}},
        {"resourceType": "Organization", "id": "org"},
    ]
    resource["expressedBy"] = {"reference": "#rp"}
    resource["outcomeReference"] = [
        {"identifier": {"value": "x"}},
        {"type": "Observation"},
        {"reference": "Observation?identifier=http://forlop.no/fhir/sid/psfs-score|1"},
    ]
    assert check(resource, registry) == []
    resource["outcomeReference"].append({"reference": "Goal?identifier=x|1"})
    assert errors(check(resource, registry)) == {(Code.PROFILE_TYPE, "Goal.outcomeReference[3]")}
    resource["outcomeReference"].pop()
    resource["outcomeReference"].append({"reference": "not a reference"})
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_TYPE, "Goal.outcomeReference[3].reference")
    }
    resource["outcomeReference"].pop()
    resource["expressedBy"] = {"reference": "#org"}
    assert errors(check(resource, registry)) == {(Code.PROFILE_TYPE, "Goal.expressedBy")}
    resource["expressedBy"] = {"reference": "#missing"}
    assert errors(check(resource, registry)) == {(Code.PROFILE_TYPE, "Goal.expressedBy.reference")}


def test_goal_activity_key_extension_slice(registry: Registry) -> None:
    resource = goal()
    resource["extension"] = [{"url": "http://example.org/other", "valueBoolean": True}]
    assert errors(check(resource, registry)) == {(Code.PROFILE_CARDINALITY, "Goal.extension")}
    resource["extension"] = goal()["extension"] * 2
    assert errors(check(resource, registry)) == {(Code.PROFILE_CARDINALITY, "Goal.extension")}


def test_goal_activity_key_extension_profile_applies_to_the_slice(registry: Registry) -> None:
    resource = goal()
    resource["extension"][0] = {"url": SD + "psfs-activity-key", "valueInteger": 1}
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_TYPE, "Goal.extension[0].valueInteger")}
    assert issues[0].diagnostics.endswith("(profile psfs-activity-key)")
    resource["extension"][0] = {"url": SD + "psfs-activity-key"}
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "Goal.extension[0].value")
    }


def test_goal_identifier_slice_children_apply_only_to_members(registry: Registry) -> None:
    resource = goal()
    resource["identifier"].append({"system": "http://ehr.example.no/goal"})  # no value: fine
    assert check(resource, registry) == []
    del resource["identifier"][0]["value"]
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "Goal.identifier[0].value")
    }
    resource["identifier"] = [{"system": "http://ehr.example.no/goal", "value": "1"}]
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_CARDINALITY, "Goal.identifier")}
    assert "slice psfsActivity (system = 'http://forlop.no/fhir/sid/psfs-activity')" in (
        issues[0].diagnostics
    )


# --- psfs-score-observation -----------------------------------------------------------------


def test_observation_required_binding_on_code(registry: Registry) -> None:
    resource = activity_score()
    resource["code"] = coding(PSFS, "original-score")  # in the CodeSystem, not in the ValueSet
    issues = check(resource, registry)
    assert (Code.PROFILE_BINDING, "Observation.code") in errors(issues)
    binding = next(i for i in issues if i.forlop_code is Code.PROFILE_BINDING)
    assert binding.code == "code-invalid"
    assert "http://forlop.no/fhir/ValueSet/psfs-score-codes" in binding.diagnostics
    resource["code"] = {"text": "PSFS"}
    assert (Code.PROFILE_BINDING, "Observation.code") in errors(check(resource, registry))
    resource["code"] = {"coding": [{"code": "activity-score"}]}  # a code without its system
    assert (Code.PROFILE_BINDING, "Observation.code") in errors(check(resource, registry))


def test_observation_required_binding_in_a_slice(registry: Registry) -> None:
    resource = activity_score()
    resource["component"][1]["valueCodeableConcept"] = coding(DIRECTION, "sideways")
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_BINDING, "Observation.component[1].valueCodeableConcept")
    }


def test_observation_cardinality_and_pattern(registry: Registry) -> None:
    resource = activity_score()
    del resource["effectiveDateTime"], resource["identifier"]
    resource["category"] = [
        coding("http://terminology.hl7.org/CodeSystem/observation-category", "exam")
    ]
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "Observation.effective"),
        (Code.PROFILE_CARDINALITY, "Observation.identifier"),
        (Code.PROFILE_PATTERN, "Observation.category[0]"),
    }


def test_observation_focus_invariant(registry: Registry) -> None:
    resource = activity_score()
    del resource["focus"]
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "Observation")}
    assert "psfs-obs-1" in issues[0].diagnostics
    assert issues[0].code == "invariant"


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({"valueInteger": 0}, True),
        ({"valueInteger": 10}, True),
        ({"valueInteger": 11}, False),
        ({"valueInteger": -1}, False),
    ],
)
def test_observation_activity_score_range_invariant(
    change: JSON, valid: bool, registry: Registry
) -> None:
    resource = activity_score() | change
    expected = set() if valid else {(Code.PROFILE_INVARIANT, "Observation")}
    assert errors(check(resource, registry)) == expected


def test_observation_activity_score_must_be_an_integer(registry: Registry) -> None:
    resource = activity_score()
    del resource["valueInteger"]
    resource["valueQuantity"] = mean_score()["valueQuantity"]
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "Observation")}
    assert "psfs-obs-2" in issues[0].diagnostics


@pytest.mark.parametrize(
    ("quantity", "valid"),
    [
        ({"value": 0}, True),
        ({"value": 10}, True),
        ({"value": 10.5}, False),
        ({"unit": "score", "code": "score"}, False),
        ({"system": "http://example.org/units"}, False),
    ],
)
def test_observation_mean_score_quantity_invariant(
    quantity: JSON, valid: bool, registry: Registry
) -> None:
    resource = mean_score()
    resource["valueQuantity"] |= quantity
    expected = set() if valid else {(Code.PROFILE_INVARIANT, "Observation")}
    assert errors(check(resource, registry)) == expected


def test_observation_status_invariant(registry: Registry) -> None:
    for status in ("final", "amended", "entered-in-error"):
        assert check(activity_score() | {"status": status}, registry) == []
    issues = check(activity_score() | {"status": "preliminary"}, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "Observation")}
    assert "psfs-obs-4" in issues[0].diagnostics


def test_observation_original_score_invariant_in_slice(registry: Registry) -> None:
    resource = activity_score()
    resource["component"][0]["valueInteger"] = 12
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "Observation.component[0]")}
    assert "psfs-obs-5" in issues[0].diagnostics


def test_observation_component_slices(registry: Registry) -> None:
    resource = activity_score()
    resource["component"][0]["valueString"] = "seks"
    del resource["component"][0]["valueInteger"]
    resource["component"].append(copy.deepcopy(resource["component"][1]))
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_TYPE, "Observation.component[0].valueString"),
        (Code.PROFILE_CARDINALITY, "Observation.component"),
    }
    resource = activity_score()
    del resource["component"][1]
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "Observation.component")
    }


def test_observation_closed_component_slicing(registry: Registry) -> None:
    resource = activity_score()
    resource["component"].append({"code": coding(PSFS, "mean-score"), "valueInteger": 3})
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_SLICING, "Observation.component[2]")}
    assert "slicing is closed" in issues[0].diagnostics


def test_observation_reference_targets(registry: Registry) -> None:
    resource = activity_score()
    resource["focus"] = [{"reference": "Observation/o2"}]
    resource["derivedFrom"] = [{"reference": "Encounter/e1"}]
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_TYPE, "Observation.focus[0]"),
        (Code.PROFILE_TYPE, "Observation.derivedFrom[0]"),
    }


# --- transition-careplan ---------------------------------------------------------------------


def test_careplan_fixed_intent(registry: Registry) -> None:
    issues = check(careplan() | {"intent": "order"}, registry)
    assert errors(issues) == {(Code.PROFILE_FIXED, "CarePlan.intent")}
    assert "must be exactly 'plan', found 'order'" in issues[0].diagnostics


def test_careplan_category_and_period(registry: Registry) -> None:
    resource = careplan()
    resource["category"].append(resource["category"][0])
    resource["period"] = {"end": "2026-12-01"}
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "CarePlan.category"),
        (Code.PROFILE_CARDINALITY, "CarePlan.period.start"),
    }
    del resource["period"]
    assert (Code.PROFILE_CARDINALITY, "CarePlan.period") in errors(check(resource, registry))


def test_careplan_activity_goals_are_among_careplan_goals(registry: Registry) -> None:
    resource = careplan()
    resource["activity"][0]["detail"]["goal"].append({"reference": "Goal/g3"})
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "CarePlan.activity[0].detail")}
    assert "tcp-1" in issues[0].diagnostics
    del resource["goal"]
    resource["activity"][0]["detail"]["goal"] = [{"reference": "Goal/g1"}]
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_INVARIANT, "CarePlan.activity[0].detail")
    }


def test_careplan_supporting_info_is_a_questionnaire_response(registry: Registry) -> None:
    resource = careplan()
    resource["supportingInfo"].append({"reference": "Observation/o1"})
    assert errors(check(resource, registry)) == {(Code.PROFILE_TYPE, "CarePlan.supportingInfo[1]")}


# --- path-questionnaireresponse -----------------------------------------------------------------


def test_path_response_cardinality_and_targets(registry: Registry) -> None:
    resource = path_response()
    del resource["encounter"], resource["author"]
    resource["basedOn"] = [{"reference": "ServiceRequest/s1"}]
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "QuestionnaireResponse.encounter"),
        (Code.PROFILE_CARDINALITY, "QuestionnaireResponse.author"),
        (Code.PROFILE_TYPE, "QuestionnaireResponse.basedOn[0]"),
    }


def test_path_response_answers_a_path_checklist(registry: Registry) -> None:
    resource = path_response() | {"questionnaire": "http://forlop.no/fhir/Questionnaire/psfs"}
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "QuestionnaireResponse")}
    assert "path-qr-1" in issues[0].diagnostics


# --- forlop-patient --------------------------------------------------------------------------


@given(number=synthetic_fnr(), as_dnr=st.booleans())
def test_patient_with_fnr_or_dnr_passes(number: str, as_dnr: bool, registry: Registry) -> None:
    identifier = {"system": DNR if as_dnr else FNR, "value": number}
    local = {"system": "http://ehr.example.no/patient", "value": "123"}
    assert check(patient(local, identifier), registry) == []


def test_patient_with_both_identifiers_passes(registry: Registry) -> None:
    both = patient({"system": FNR, "value": SYNTHETIC_FNR}, {"system": DNR, "value": SYNTHETIC_DNR})
    assert check(both, registry) == []


def test_patient_needs_an_fnr_or_dnr(registry: Registry) -> None:
    resource = patient({"system": "http://ehr.example.no/patient", "value": "123"})
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "Patient")}
    assert "forlop-pat-1" in issues[0].diagnostics


def test_patient_identifier_slices(registry: Registry) -> None:
    two = patient({"system": FNR, "value": SYNTHETIC_FNR}, {"system": FNR, "value": SYNTHETIC_FNR})
    assert errors(check(two, registry)) == {(Code.PROFILE_CARDINALITY, "Patient.identifier")}
    without_value = patient({"system": FNR}, {"system": DNR, "value": SYNTHETIC_DNR})
    assert errors(check(without_value, registry)) == {
        (Code.PROFILE_CARDINALITY, "Patient.identifier[0].value")
    }
    short = patient({"system": DNR, "value": "5583"})
    issues = check(short, registry)
    assert errors(issues) == {(Code.PROFILE_INVARIANT, "Patient.identifier[0]")}
    assert "forlop-pat-3" in issues[0].diagnostics


def test_patient_cardinality(registry: Registry) -> None:
    resource = patient()
    del resource["name"]
    resource["identifier"] = []
    assert errors(check(resource, registry)) == {
        (Code.PROFILE_CARDINALITY, "Patient.name"),
        (Code.PROFILE_CARDINALITY, "Patient.identifier"),
        (Code.PROFILE_INVARIANT, "Patient"),
    }


# --- claimed profiles and the validator's own failure modes -------------------------------------


def test_unknown_claimed_profiles(registry: Registry) -> None:
    resource = goal()
    resource["meta"]["profile"] += [SD + "no-such-profile", "http://example.org/fhir/sd/x"]
    issues = check(resource, registry)
    assert [(i.severity, i.forlop_code, i.expression) for i in issues] == [
        ("error", Code.PROFILE_UNKNOWN, ("Goal.meta.profile[1]",)),
        ("warning", Code.PROFILE_UNKNOWN, ("Goal.meta.profile[2]",)),
    ]


def test_no_claimed_profile_means_no_profile_issues(registry: Registry) -> None:
    resource = goal()
    del resource["meta"], resource["category"]
    assert check(resource, registry) == []
    assert errors(validate_profile(resource, profile(registry, "psfs-goal"), registry)) == {
        (Code.PROFILE_CARDINALITY, "Goal.category")
    }


def test_profile_of_another_resource_type(registry: Registry) -> None:
    resource = goal()
    resource["meta"]["profile"] = [SD + "psfs-score-observation"]
    issues = check(resource, registry)
    assert errors(issues) == {(Code.PROFILE_TYPE, "Goal")}
    assert "constrains Observation" in issues[0].diagnostics


def custom_profile(*elements: JSON, base: str = "Patient") -> JSON:
    return {
        "resourceType": "StructureDefinition",
        "id": "test-profile",
        "url": "http://forlop.no/fhir/StructureDefinition/test-profile",
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/" + base,
        "derivation": "constraint",
        "differential": {"element": [{"id": "Patient", "path": "Patient"}, *elements]},
    }


def test_constraint_that_cannot_be_evaluated_is_an_error(registry: Registry) -> None:
    broken = custom_profile(
        {
            "id": "Patient.name",
            "path": "Patient.name",
            "constraint": [
                {
                    "key": "t-1",
                    "severity": "error",
                    "human": "syntax",
                    "expression": "given.where(",
                },
                {
                    "key": "t-2",
                    "severity": "error",
                    "human": "runtime",
                    "expression": "1 + 'a' > 0",
                },
                {"key": "t-3", "severity": "error", "human": "no expression"},
            ],
        }
    )
    issues = validate_profile(patient(), broken, registry)
    assert [(i.forlop_code, i.code, i.expression) for i in issues] == [
        (Code.PROFILE_INVARIANT, "exception", ("Patient.name[0]",)),
        (Code.PROFILE_INVARIANT, "exception", ("Patient.name[0]",)),
        (Code.PROFILE_UNSUPPORTED, "not-supported", ("Patient.name[0]",)),
    ]
    assert all(i.is_error for i in issues)
    assert "t-1" in issues[0].diagnostics and "t-2" in issues[1].diagnostics


def test_warning_constraint_gives_a_warning(registry: Registry) -> None:
    warned = custom_profile(
        {
            "id": "Patient.name",
            "path": "Patient.name",
            "constraint": [
                {
                    "key": "w-1",
                    "severity": "warning",
                    "human": "has a use",
                    "expression": "use.exists()",
                }
            ],
        }
    )
    issues = validate_profile(patient(), warned, registry)
    assert [(i.severity, i.forlop_code, i.expression) for i in issues] == [
        ("warning", Code.PROFILE_INVARIANT, ("Patient.name[0]",))
    ]


def test_unresolvable_valueset_is_an_error_naming_it(registry: Registry) -> None:
    bound = custom_profile(
        {
            "id": "Patient.maritalStatus",
            "path": "Patient.maritalStatus",
            "binding": {"strength": "required", "valueSet": "http://forlop.no/fhir/ValueSet/nope"},
        }
    )
    resource = patient() | {"maritalStatus": coding("http://example.org", "M")}
    issues = validate_profile(resource, bound, registry)
    assert errors(issues) == {(Code.PROFILE_BINDING, "Patient.maritalStatus")}
    assert "http://forlop.no/fhir/ValueSet/nope" in issues[0].diagnostics


def test_extensible_binding_gives_a_warning(registry: Registry) -> None:
    bound = custom_profile(
        {
            "id": "Patient.maritalStatus",
            "path": "Patient.maritalStatus",
            "binding": {
                "strength": "extensible",
                "valueSet": "http://forlop.no/fhir/ValueSet/psfs-direction",
            },
        }
    )
    resource = patient() | {"maritalStatus": coding("http://example.org", "M")}
    issues = validate_profile(resource, bound, registry)
    assert [(i.severity, i.forlop_code) for i in issues] == [("warning", Code.PROFILE_BINDING)]
    resource["maritalStatus"] = {"text": "gift"}  # extensible allows text alone
    assert validate_profile(resource, bound, registry) == []
    resource["maritalStatus"] = coding(DIRECTION, "ability")
    assert validate_profile(resource, bound, registry) == []


def test_differential_without_ids_is_an_error(registry: Registry) -> None:
    unreadable = custom_profile({"path": "Patient.name", "min": 1})
    issues = validate_profile(patient(), unreadable, registry)
    assert errors(issues) == {(Code.PROFILE_UNSUPPORTED, "Patient")}


def test_forlop_base_profile_applies_too(registry: Registry) -> None:
    derived = custom_profile({"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1})
    derived["baseDefinition"] = SD + "forlop-patient"
    resource = patient()
    del resource["birthDate"], resource["name"]
    assert errors(validate_profile(resource, derived, registry)) == {
        (Code.PROFILE_CARDINALITY, "Patient.birthDate"),
        (Code.PROFILE_CARDINALITY, "Patient.name"),
    }


def test_type_slice_and_value_less_primitive(registry: Registry) -> None:
    typed = custom_profile(
        {
            "id": "Patient.deceased[x]:deceasedBoolean",
            "path": "Patient.deceasedBoolean",
            "fixedBoolean": False,
        },
        {"id": "Patient.gender", "path": "Patient.gender", "fixedCode": "female"},
    )
    resource = patient() | {"deceasedBoolean": False}
    assert validate_profile(resource, typed, registry) == []
    resource = patient() | {"deceasedBoolean": 0}
    assert errors(validate_profile(resource, typed, registry)) == {
        (Code.PROFILE_FIXED, "Patient.deceasedBoolean")
    }
    resource = patient()
    del resource["gender"]
    resource["_gender"] = {
        "extension": [{"url": "http://example.org/unknown", "valueBoolean": True}]
    }
    issues = validate_profile(resource, typed, registry)
    assert errors(issues) == {(Code.PROFILE_FIXED, "Patient.gender")}
    assert "found no value" in issues[0].diagnostics


def test_exists_and_this_discriminators(registry: Registry) -> None:
    sliced = custom_profile(
        {
            "id": "Patient.name",
            "path": "Patient.name",
            "slicing": {"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "open"},
        },
        {
            "id": "Patient.name:official",
            "path": "Patient.name",
            "sliceName": "official",
            "min": 1,
            "patternHumanName": {"use": "official"},
        },
        {
            "id": "Patient.telecom",
            "path": "Patient.telecom",
            "slicing": {"discriminator": [{"type": "exists", "path": "period"}], "rules": "closed"},
        },
        {"id": "Patient.telecom:temporary", "path": "Patient.telecom", "sliceName": "temporary"},
        {"id": "Patient.telecom:temporary.period", "path": "Patient.telecom.period", "min": 1},
    )
    resource = patient()
    resource["name"][0]["use"] = "official"
    resource["telecom"] = [{"system": "phone", "value": "1", "period": {"end": "2027-01-01"}}]
    assert validate_profile(resource, sliced, registry) == []
    resource["name"][0]["use"] = "usual"
    resource["telecom"].append({"system": "phone", "value": "2"})
    assert errors(validate_profile(resource, sliced, registry)) == {
        (Code.PROFILE_CARDINALITY, "Patient.name"),
        (Code.PROFILE_SLICING, "Patient.telecom[1]"),
    }


@pytest.mark.parametrize(
    "slicing",
    [
        {"discriminator": [{"type": "type", "path": "$this"}], "rules": "open"},
        {"discriminator": [{"type": "value", "path": "system"}], "ordered": True, "rules": "open"},
        {"discriminator": [], "rules": "open"},
        {"discriminator": [{"type": "value", "path": "extension('x').value"}], "rules": "open"},
        {"discriminator": [{"type": "value", "path": "use"}], "rules": "open"},
    ],
    ids=["type", "ordered", "no discriminator", "function in path", "no value in slice"],
)
def test_unsupported_slicing_is_an_error(slicing: JSON, registry: Registry) -> None:
    sliced = custom_profile(
        {"id": "Patient.identifier", "path": "Patient.identifier", "slicing": slicing},
        {"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "a", "min": 1},
    )
    issues = validate_profile(patient(), sliced, registry)
    assert errors(issues) == {(Code.PROFILE_UNSUPPORTED, "Patient.identifier")}


def test_required_binding_on_a_code_element(registry: Registry) -> None:
    bound = custom_profile(
        {
            "id": "Patient.gender",
            "path": "Patient.gender",
            "binding": {
                "strength": "required",
                "valueSet": "http://forlop.no/fhir/ValueSet/psfs-direction",
            },
        }
    )
    assert errors(validate_profile(patient(), bound, registry)) == {
        (Code.PROFILE_BINDING, "Patient.gender")
    }
    # A code element has no system of its own: the code alone is looked up.
    assert validate_profile(patient() | {"gender": "ability"}, bound, registry) == []
