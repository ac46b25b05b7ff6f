"""PSFS <-> FHIR: round trips, derived resources, and idempotent extraction."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings

from adapter.domain.psfs import Series
from adapter.fhir.errors import Code, FhirError
from adapter.mapping.codes import GOAL_ACHIEVEMENT_CS, PSFS_CS, has_coding
from adapter.mapping.domain_json import series_from_json, series_to_json
from adapter.mapping.identity import Resolver
from adapter.mapping.psfs import bundle_to_series, extract, series_to_bundle
from adapter.mapping.psfs_resources import progress_from_resources
from tests.strategies import psfs_series

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def resources(bundle: dict, resource_type: str) -> list[dict]:  # type: ignore[type-arg]
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def document(*assessments: dict) -> dict:  # type: ignore[type-arg]
    return {"patient": "Patient/p1", "assessments": list(assessments)}


def raw_assessment(aid: str, day: str, *scores: int, **extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "id": aid,
        "date": day,
        "direction": "ability",
        "respondent": {"kind": "patient", "reference": "Patient/p1"},
        "activities": [
            {"key": f"k{i}", "text": f"Aktivitet {i}", "score": s} for i, s in enumerate(scores)
        ],
        **extra,
    }


@SLOW
@given(psfs_series())
def test_domain_to_fhir_to_domain_is_the_identity(series: Series) -> None:
    again, plan = bundle_to_series(series_to_bundle(series))
    assert again == series
    assert plan is None


@SLOW
@given(psfs_series())
def test_domain_json_round_trip(series: Series) -> None:
    assert series_from_json(series_to_json(series)) == (series, None)


@SLOW
@given(psfs_series())
def test_goals_and_observations_carry_the_series_progress(series: Series) -> None:
    bundle = series_to_bundle(series)
    pulled = progress_from_resources(Resolver.of_bundle(bundle))
    assert sorted(pulled, key=lambda p: p.key) == sorted(series.progress(), key=lambda p: p.key)
    scores = [
        o
        for o in resources(bundle, "Observation")
        if has_coding(o["code"], PSFS_CS, "activity-score")
    ]
    assert len(scores) == sum(len(a.activities) for a in series.assessments)


def test_bundle_entries_are_conditional_and_references_resolve() -> None:
    series, _ = series_from_json(document(raw_assessment("a1", "2026-01-12", 2, 5, 7)))
    bundle = series_to_bundle(series)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    for entry in bundle["entry"]:
        assert entry["request"]["method"] == "PUT"
        url = entry["request"]["url"]
        assert "?identifier=" in url or url.startswith("Provenance/")
    for observation in resources(bundle, "Observation"):
        assert observation["derivedFrom"][0]["reference"] in full_urls
        for focus in observation.get("focus", []):
            assert focus["reference"] in full_urls


def test_difficulty_answers_are_stored_as_ability_keeping_the_original() -> None:
    raw = raw_assessment("a1", "2026-01-12", 2, 9, 4)
    raw["direction"] = "difficulty"
    bundle = series_to_bundle(series_from_json(document(raw))[0])
    first = resources(bundle, "Observation")[0]
    assert first["valueInteger"] == 8
    assert first["component"][0]["valueInteger"] == 2
    assert first["component"][1]["valueCodeableConcept"]["coding"][0]["code"] == "difficulty"
    mean = resources(bundle, "Observation")[-1]
    assert str(mean["valueQuantity"]["value"]) == "5.00"


def _responses(*assessments: dict) -> list[dict]:  # type: ignore[type-arg]
    series, _ = series_from_json(document(*assessments))
    return resources(series_to_bundle(series), "QuestionnaireResponse")


def test_extracting_the_same_response_twice_gives_the_same_bundle() -> None:
    (response,) = _responses(raw_assessment("a1", "2026-01-12", 2, 5, 7))
    assert extract(response) == extract(response)


def test_reassessment_appends_scores_and_updates_achievement() -> None:
    baseline, later = _responses(
        raw_assessment("a1", "2026-01-12", 2, 5, 7),
        raw_assessment("a2", "2026-04-12", 6, 5, 3),
    )
    bundle, warnings = extract(later, [baseline])
    assert warnings == []
    goals = {g["description"]["text"]: g for g in resources(bundle, "Goal")}
    expected = {"Aktivitet 0": "improving", "Aktivitet 1": "no-change", "Aktivitet 2": "worsening"}
    for text, code in expected.items():
        assert has_coding(goals[text]["achievementStatus"], GOAL_ACHIEVEMENT_CS, code)
        assert len(goals[text]["outcomeReference"]) == 2
    assert len(resources(bundle, "Observation")) == 4  # three scores and the mean, this time only
    assert len(resources(bundle, "QuestionnaireResponse")) == 1
    assert len(resources(bundle, "Provenance")) == 1


def test_extraction_warns_below_three_activities_with_the_item_path() -> None:
    (response,) = _responses(raw_assessment("a1", "2026-01-12", 2, 5))
    _, warnings = extract(response)
    assert [(w.severity, w.forlop_code, w.expression) for w in warnings] == [
        ("warning", Code.PSFS_TOO_FEW, ("QuestionnaireResponse.item",))
    ]


def test_extraction_refuses_more_than_five_activities() -> None:
    (response,) = _responses(raw_assessment("a1", "2026-01-12", 1, 2, 3, 4, 5))
    response["item"].append(response["item"][1])
    with pytest.raises(FhirError) as caught:
        extract(response)
    codes = {i.forlop_code for i in caught.value.issues}
    assert Code.PSFS_TOO_MANY in codes
    assert caught.value.status == 422


def test_extraction_refuses_a_response_that_is_not_psfs() -> None:
    (response,) = _responses(raw_assessment("a1", "2026-01-12", 1, 2, 3))
    response["questionnaire"] = "http://example.org/Questionnaire/other"
    with pytest.raises(FhirError) as caught:
        extract(response)
    assert caught.value.issues[0].forlop_code is Code.EXTRACT_UNSUPPORTED


def test_response_without_identity_is_refused_with_its_path() -> None:
    (response,) = _responses(raw_assessment("a1", "2026-01-12", 1, 2, 3))
    del response["identifier"]
    with pytest.raises(FhirError) as caught:
        extract(response)
    assert caught.value.issues[0].expression == ("QuestionnaireResponse.identifier",)


def test_domain_json_reports_every_problem_with_its_path() -> None:
    broken = document(
        {"id": "a1", "date": "2026-13-01", "direction": "sideways", "activities": [{"text": 3}]}
    )
    with pytest.raises(FhirError) as caught:
        series_from_json(broken)
    paths = {i.expression[0] for i in caught.value.issues}
    assert {
        "assessments[0].date",
        "assessments[0].direction",
        "assessments[0].respondent.kind",
        "assessments[0].activities[0].text",
        "assessments[0].activities[0].score",
    } <= paths


def test_plan_round_trips_with_goals_services_and_checklists() -> None:
    raw = document(raw_assessment("a1", "2026-01-12", 2, 5, 7))
    raw["plan"] = {
        "id": "plan-1",
        "status": "active",
        "title": "Plan etter utskriving",
        "start": "2026-01-10",
        "end": "2026-04-10",
        "encounter": "Encounter/e1",
        "author": "Practitioner/x",
        "careTeams": ["CareTeam/t1"],
        "goals": ["k0", "k2"],
        "services": [{"description": "Hjemmesykepleie", "goals": ["k0"], "performer": None}],
        "checklists": ["c1"],
    }
    series, plan = series_from_json(raw)
    assert plan is not None and plan.start == date(2026, 1, 10)
    bundle = series_to_bundle(series, plan)
    (careplan,) = resources(bundle, "CarePlan")
    assert careplan["intent"] == "plan"
    assert bundle_to_series(bundle) == (series, plan)
    assert series_to_json(*bundle_to_series(bundle)) == series_to_json(series, plan)
