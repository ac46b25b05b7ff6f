"""The benchmark workload: valid FHIR, deterministic, and what the pull check expects."""

from __future__ import annotations

import orjson
import pytest

from adapter.domain.identifiers import is_synthetic_fnr
from adapter.fhir.errors import has_errors
from adapter.validation.validator import validate
from bench.driver import PullJob, check_pull, percentile
from bench.workload import discharge, stored_resources, synthetic_fnr


@pytest.mark.parametrize("number", [0, 1, 7, 149, 150, 10_000, 1_500_000])
def test_every_resource_of_a_discharge_is_valid(number: int) -> None:
    item = discharge(3, number)
    assert not has_errors(validate(item.bundle))
    for resource in stored_resources(item):
        issues = validate(resource)
        assert not has_errors(issues), (resource["resourceType"], issues)


def test_same_seed_and_number_same_bytes() -> None:
    assert orjson.dumps(discharge(5, 42).bundle) == orjson.dumps(discharge(5, 42).bundle)
    assert orjson.dumps(discharge(5, 42).bundle) != orjson.dumps(discharge(6, 42).bundle)


def test_shape_of_a_discharge() -> None:
    for number in range(40):
        item = discharge(1, number)
        types = [e["resource"]["resourceType"] for e in item.bundle["entry"]]
        assert types.count("Goal") == types.count("Observation") == item.goals
        assert 3 <= item.goals <= 5
        assert 1 <= types.count("QuestionnaireResponse") <= 2
        assert {"Patient", "Encounter", "CareTeam", "CarePlan"} <= set(types)
        assert item.resources == len(types)
        plan = next(
            e["resource"]
            for e in item.bundle["entry"]
            if e["request"]["url"].startswith("CarePlan")
        )
        assert len(plan["goal"]) == item.goals


def test_fodselsnummer_are_synthetic_and_distinct() -> None:
    numbers = [synthetic_fnr(n)[0] for n in range(0, 2_000_000, 997)]
    assert all(is_synthetic_fnr(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)
    nearby = [synthetic_fnr(n)[0] for n in range(3000)]
    assert len(set(nearby)) == len(nearby)


def test_stored_resources_resolve_every_bundle_reference() -> None:
    item = discharge(1, 9)
    ids = {f"{r['resourceType']}/{r['id']}" for r in stored_resources(item)}
    text = orjson.dumps(stored_resources(item)).decode()
    assert "urn:uuid:" not in text
    plan = next(r for r in stored_resources(item) if r["resourceType"] == "CarePlan")
    assert {g["reference"] for g in plan["goal"]} <= ids


def _searchset(item_number: int, drop_goal: bool = False) -> tuple[dict[str, object], PullJob]:
    item = discharge(1, item_number)
    resources = stored_resources(item)
    plan = next(r for r in resources if r["resourceType"] == "CarePlan")
    goals = [r for r in resources if r["resourceType"] == "Goal"][: -1 if drop_goal else None]
    entries = [{"resource": plan, "search": {"mode": "match"}}] + [
        {"resource": g, "search": {"mode": "include"}} for g in goals
    ]
    return {"resourceType": "Bundle", "entry": entries}, PullJob(item.patient_id, item.goals)


def test_pull_check_finds_a_missing_goal() -> None:
    complete, job = _searchset(4)
    assert check_pull(complete, job) is None
    incomplete, job = _searchset(4, drop_goal=True)
    assert check_pull(incomplete, job) is not None
    assert check_pull({"resourceType": "Bundle", "entry": []}, job) is not None


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None
