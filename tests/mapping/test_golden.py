"""Golden-file tests of every mapping direction over the synthetic pathways in fixtures/pathways/.

Each pathway follows one fictional patient from admission to the PSFS reassessment about three
months after discharge. Per pathway: PSFS domain <-> FHIR Bundle, each PaTH checklist <-> its
QuestionnaireResponse, and ``$extract`` of the baseline and of the reassessment; the same through
the real CLI. The concrete verdicts on each activity are written out below from DOMAIN.md's
thresholds (3 points up improving, 3 down worsening, reaching the target achieved), so a change in
the mapping data shows up here and not only as a changed golden file.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapter.cli import app
from adapter.fhir.json_codec import dump_json, parse_json
from adapter.mapping.codes import ACTIVITY_KEY_EXTENSION, PSFS_CS
from adapter.mapping.domain_json import (
    checklist_from_json,
    checklist_to_json,
    series_from_json,
    series_to_json,
)
from adapter.mapping.identity import PATH_RESPONSE, PSFS_ASSESSMENT, TRANSITION_PLAN, Resolver
from adapter.mapping.path_response import checklist_to_response, response_to_checklist
from adapter.mapping.plan import careplan_to_plan
from adapter.mapping.psfs import bundle_to_series, extract, series_to_bundle
from tests import fixtures_support
from tests.fixtures_support import Pathway, check_golden, golden_diff, load, pathways

PATHWAYS = pathways()
CHECKLIST_KEYS = [
    "discharge-call",
    "extended-assessment",
    "gp-consultation",
    "home-nurse-assessment",
]

# (achievementStatus, lifecycleStatus) of every Goal after the reassessment, per activity key.
REASSESSED_GOALS: dict[str, dict[str, tuple[str, str]]] = {
    "astrid-fjellheim": {
        "ga-til-butikken": ("achieved", "active"),  # 2 -> 7, target 7
        "dusje-selv": ("no-change", "active"),  # 3 -> 5, target 8 not reached
        "strikke": ("improving", "active"),  # 4 -> 8
    },
    "kare-nordby": {  # difficulty direction: ability = 10 - answer
        "ga-trapper": ("no-change", "active"),  # ability 3 -> 5, target 7
        "kjore-bil": ("worsening", "active"),  # ability 4 -> 1
        "snekre": ("in-progress", "cancelled"),  # dropped at the reassessment
        "handle": ("achieved", "active"),  # ability 5 -> 9, target 8
        "ga-tur-med-hunden": ("in-progress", "active"),  # added at the reassessment
    },
    "ingrid-solvang": {
        "sta-opp": ("achieved", "active"),  # 2 -> 6, target 5
        "spise-selv": ("worsening", "active"),  # 5 -> 2
        "do-om-natta": ("no-change", "active"),  # 3 -> 4, target 6
        "kirken": ("in-progress", "cancelled"),  # dropped at the reassessment
        "koret": ("improving", "active"),  # 4 -> 7
        "ringe": ("in-progress", "active"),  # added at the reassessment
    },
}
# PSFS mean score (ability direction) at baseline and at the reassessment.
MEANS = {
    "astrid-fjellheim": (Decimal("3.00"), Decimal("6.67")),
    "kare-nordby": (Decimal("3.50"), Decimal("4.75")),
    "ingrid-solvang": (Decimal("3.00"), Decimal("5.00")),
}
# Expected respondent of each series: who expressed the Goals.
EXPRESSED_BY = {
    "astrid-fjellheim": "Patient/astrid-fjellheim",
    "kare-nordby": "Patient/kare-nordby",
    "ingrid-solvang": "RelatedPerson/berit-solvang",
}


@pytest.fixture(params=PATHWAYS, ids=[p.slug for p in PATHWAYS])
def pathway(request: pytest.FixtureRequest) -> Pathway:
    found: Pathway = request.param
    return found


checklist_cases = pytest.mark.parametrize(
    ("pathway", "key"),
    [(p, key) for p in PATHWAYS for key in p.checklists()],
    ids=[f"{p.slug}/{key}" for p in PATHWAYS for key in p.checklists()],
    indirect=["pathway"],
)


def _normal_series(data: dict[str, Any]) -> dict[str, Any]:
    return series_to_json(*series_from_json(data))


def _normal_checklist(data: dict[str, Any]) -> dict[str, Any]:
    return checklist_to_json(checklist_from_json(data))


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def _goals_by_key(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        next(e["valueString"] for e in g["extension"] if e["url"] == ACTIVITY_KEY_EXTENSION): g
        for g in _resources(bundle, "Goal")
    }


def _is_code(concept: dict[str, Any], code: str) -> bool:
    return any(c.get("system") == PSFS_CS and c.get("code") == code for c in concept["coding"])


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


# --- the fixture set itself --------------------------------------------------------------------


def test_the_loader_finds_every_pathway_with_its_four_checklists() -> None:
    assert [p.slug for p in PATHWAYS] == sorted(REASSESSED_GOALS)
    for found in PATHWAYS:
        assert found.checklists() == CHECKLIST_KEYS
        assert found.psfs.is_file() and found.discharge_bundle.is_file()


def test_domain_references_name_the_pathway_patient(pathway: Pathway) -> None:
    series = load(pathway.psfs)
    assert series["patient"] == f"Patient/{pathway.slug}"
    for key in pathway.checklists():
        checklist = load(pathway.checklist(key))
        assert checklist["checklist"] == key
        assert checklist["patient"] == series["patient"]
        assert checklist["carePlan"] == f"CarePlan/{series['plan']['id']}"
        assert checklist["id"] in series["plan"]["checklists"]


def test_golden_comparison_is_on_parsed_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fixtures_support, "REGENERATE", False)
    golden = tmp_path / "golden.json"
    golden.write_text('{"b": [1, 2.50],\n "a": {"x": "æøå"}}')
    assert golden_diff({"a": {"x": "æøå"}, "b": [1, Decimal("2.5")]}, golden) is None
    diff = golden_diff({"a": {"x": "aoa"}, "b": [1, Decimal("2.5")]}, golden)
    assert diff is not None and '-    "x": "æøå"' in diff and '+    "x": "aoa"' in diff
    with pytest.raises(AssertionError, match="differs from the golden file"):
        check_golden({"a": {}}, golden)
    missing = golden_diff({}, tmp_path / "missing.json")
    assert missing is not None and "FORLOP_REGENERATE_GOLDEN=1" in missing


def test_regeneration_rewrites_the_golden_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = tmp_path / "expected" / "golden.json"
    monkeypatch.setattr(fixtures_support, "REGENERATE", True)
    check_golden({"resourceType": "Basic", "value": Decimal("1.50")}, golden)
    assert golden.read_bytes() == b'{\n  "resourceType": "Basic",\n  "value": 1.50\n}\n'
    monkeypatch.setattr(fixtures_support, "REGENERATE", False)
    check_golden({"value": Decimal("1.5"), "resourceType": "Basic"}, golden)


# --- PSFS: domain <-> FHIR ---------------------------------------------------------------------


def test_psfs_domain_to_fhir_matches_golden(pathway: Pathway) -> None:
    check_golden(
        series_to_bundle(*series_from_json(load(pathway.psfs))),
        pathway.expected / "psfs.bundle.json",
    )


def test_psfs_fhir_to_domain_matches_golden(pathway: Pathway) -> None:
    bundle = load(pathway.expected / "psfs.bundle.json")
    check_golden(series_to_json(*bundle_to_series(bundle)), pathway.expected / "psfs.domain.json")


def test_psfs_domain_to_fhir_to_domain_is_the_identity(pathway: Pathway) -> None:
    domain = load(pathway.psfs)
    back = series_to_json(*bundle_to_series(series_to_bundle(*series_from_json(domain))))
    assert back == _normal_series(domain)
    assert load(pathway.expected / "psfs.domain.json") == _normal_series(domain)


def test_psfs_response_fixtures_are_the_mapped_responses(pathway: Pathway) -> None:
    series = load(pathway.psfs)
    bundle = series_to_bundle(*series_from_json(series))
    responses = {r["identifier"]["value"]: r for r in _resources(bundle, "QuestionnaireResponse")}
    baseline, reassessment = (a["id"] for a in series["assessments"])
    assert load(pathway.baseline_response) == parse_json(dump_json(responses[baseline]))
    assert load(pathway.reassessment_response) == parse_json(dump_json(responses[reassessment]))


# --- PaTH checklists: domain <-> QuestionnaireResponse -----------------------------------------


@checklist_cases
def test_checklist_to_response_matches_golden(pathway: Pathway, key: str) -> None:
    response = checklist_to_response(checklist_from_json(load(pathway.checklist(key))))
    check_golden(response, pathway.expected / "checklists" / f"{key}.response.json")


@checklist_cases
def test_response_to_checklist_matches_golden(pathway: Pathway, key: str) -> None:
    response = load(pathway.expected / "checklists" / f"{key}.response.json")
    check_golden(
        checklist_to_json(response_to_checklist(response)),
        pathway.expected / "checklists" / f"{key}.domain.json",
    )


@checklist_cases
def test_checklist_to_response_to_checklist_is_the_identity(pathway: Pathway, key: str) -> None:
    domain = load(pathway.checklist(key))
    response = parse_json(dump_json(checklist_to_response(checklist_from_json(domain))))
    assert checklist_to_json(response_to_checklist(response)) == _normal_checklist(domain)
    golden = load(pathway.expected / "checklists" / f"{key}.domain.json")
    assert golden == _normal_checklist(domain)


# --- $extract ------------------------------------------------------------------------------------


def _extract_baseline(pathway: Pathway) -> dict[str, Any]:
    bundle, warnings = extract(load(pathway.baseline_response))
    assert warnings == []
    return bundle


def _extract_reassessment(pathway: Pathway) -> dict[str, Any]:
    bundle, warnings = extract(
        load(pathway.reassessment_response), [load(pathway.baseline_response)]
    )
    assert warnings == []
    return bundle


def test_extract_baseline_matches_golden(pathway: Pathway) -> None:
    check_golden(_extract_baseline(pathway), pathway.expected / "extract-baseline.bundle.json")


def test_extract_reassessment_matches_golden(pathway: Pathway) -> None:
    check_golden(
        _extract_reassessment(pathway), pathway.expected / "extract-reassessment.bundle.json"
    )


def test_extracting_the_same_response_twice_gives_identical_bytes(pathway: Pathway) -> None:
    assert dump_json(_extract_baseline(pathway)) == dump_json(_extract_baseline(pathway))
    assert dump_json(_extract_reassessment(pathway)) == dump_json(_extract_reassessment(pathway))


def test_baseline_extraction_starts_every_goal_in_progress(pathway: Pathway) -> None:
    bundle = _extract_baseline(pathway)
    baseline_keys = [a["key"] for a in load(pathway.psfs)["assessments"][0]["activities"]]
    goals = _goals_by_key(bundle)
    assert sorted(goals) == sorted(baseline_keys)
    for goal in goals.values():
        assert goal["achievementStatus"]["coding"][0]["code"] == "in-progress"
        assert goal["lifecycleStatus"] == "active"
        assert goal["expressedBy"] == {"reference": EXPRESSED_BY[pathway.slug]}
    observations = _resources(bundle, "Observation")
    assert len(observations) == len(baseline_keys) + 1  # one per activity, one mean


def test_reassessment_updates_goals_as_the_thresholds_say(pathway: Pathway) -> None:
    goals = _goals_by_key(_extract_reassessment(pathway))
    verdicts = {
        key: (goal["achievementStatus"]["coding"][0]["code"], goal["lifecycleStatus"])
        for key, goal in goals.items()
    }
    assert verdicts == REASSESSED_GOALS[pathway.slug]
    for goal in goals.values():
        assert goal["achievementStatus"]["coding"][0]["system"] == (
            "http://terminology.hl7.org/CodeSystem/goal-achievement"
        )


def test_reassessment_appends_observations(pathway: Pathway) -> None:
    baseline = _extract_baseline(pathway)
    reassessment = _extract_reassessment(pathway)
    assessments = load(pathway.psfs)["assessments"]
    new = _resources(reassessment, "Observation")
    assert len(new) == len(assessments[1]["activities"]) + 1
    old_ids = {o["identifier"][0]["value"] for o in _resources(baseline, "Observation")}
    assert old_ids.isdisjoint(o["identifier"][0]["value"] for o in new)
    # Each Goal points at every score of its activity: the earlier ones by identifier.
    before = {a["key"] for a in assessments[0]["activities"]}
    after = {a["key"] for a in assessments[1]["activities"]}
    counts = {k: len(g["outcomeReference"]) for k, g in _goals_by_key(reassessment).items()}
    assert counts == {k: (k in before) + (k in after) for k in before | after}
    codes = Counter("mean" if _is_code(o["code"], "mean-score") else "activity" for o in new)
    assert codes == {"mean": 1, "activity": len(after)}


def test_mean_scores_follow_the_ability_direction(pathway: Pathway) -> None:
    means = tuple(
        next(
            o["valueQuantity"]["value"]
            for o in _resources(bundle, "Observation")
            if _is_code(o["code"], "mean-score")
        )
        for bundle in (_extract_baseline(pathway), _extract_reassessment(pathway))
    )
    assert means == MEANS[pathway.slug]


# --- the hospital's discharge push -------------------------------------------------------------


def _control_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    rest = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return {11: 0, 10: None}.get(rest, rest)


def _synthetic_fnr(value: str) -> bool:
    k1 = _control_digit(value[:9], (3, 7, 6, 1, 8, 9, 4, 5, 2))
    k2 = _control_digit(value[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    return (
        len(value) == 11
        and 81 <= int(value[2:4]) <= 92
        and k1 == int(value[9])
        and k2 == int(value[10])
    )


def _orgnr(value: str) -> bool:
    return len(value) == 9 and _control_digit(value[:8], (3, 2, 7, 6, 5, 4, 3, 2)) == int(value[8])


def test_discharge_bundle_refers_inside_itself_by_urn_uuid(pathway: Pathway) -> None:
    bundle = load(pathway.discharge_bundle)
    assert bundle["type"] == "transaction"
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    assert all(url.startswith("urn:uuid:") for url in full_urls)
    references = _references([e["resource"] for e in bundle["entry"]])
    assert references and set(references) <= set(full_urls)


def test_discharge_bundle_entries_are_conditional_on_identifiers(pathway: Pathway) -> None:
    for entry in load(pathway.discharge_bundle)["entry"]:
        resource, request = entry["resource"], entry["request"]
        identifier = resource["identifier"]
        first = identifier if isinstance(identifier, dict) else identifier[0]
        condition = f"identifier={first['system']}|{first['value']}"
        if request["method"] == "POST":
            assert request == {
                "method": "POST",
                "url": resource["resourceType"],
                "ifNoneExist": condition,
            }
        else:
            assert request == {"method": "PUT", "url": f"{resource['resourceType']}?{condition}"}


def test_discharge_bundle_uses_synthetic_valid_norwegian_identifiers(pathway: Pathway) -> None:
    systems: dict[str, list[str]] = {}
    for entry in load(pathway.discharge_bundle)["entry"]:
        identifiers = entry["resource"]["identifier"]
        for ident in identifiers if isinstance(identifiers, list) else [identifiers]:
            systems.setdefault(ident["system"], []).append(ident["value"])
    fnrs = systems["urn:oid:2.16.578.1.12.4.1.4.1"]
    assert fnrs and all(_synthetic_fnr(v) for v in fnrs)
    orgnrs = systems["urn:oid:2.16.578.1.12.4.1.4.101"]
    assert len(orgnrs) == 2 and all(_orgnr(v) for v in orgnrs)
    assert systems["urn:oid:2.16.578.1.12.4.1.4.4"]  # HPR numbers of the practitioners


def test_discharge_bundle_agrees_with_the_domain_files(pathway: Pathway) -> None:
    bundle = load(pathway.discharge_bundle)
    resources = Resolver.of_bundle(bundle)
    plan = load(pathway.psfs)["plan"]
    domain = load(pathway.checklist("discharge-call"))
    (careplan,) = resources.of_type("CarePlan")
    (response,) = resources.of_type("QuestionnaireResponse")
    (patient,) = resources.of_type("Patient")
    assert careplan["identifier"] == [{"system": TRANSITION_PLAN, "value": plan["id"]}]
    assert (careplan["title"], careplan["status"]) == (plan["title"], plan["status"])
    assert careplan["period"]["start"] == plan["start"]
    assert resources.resolve(careplan["subject"]["reference"]) is patient
    assert [resources.resolve(r["reference"]) for r in careplan["supportingInfo"]] == [response]
    assert response["identifier"] == {"system": PATH_RESPONSE, "value": domain["id"]}
    # The response is the mapped checklist; only its references point into the Bundle instead.
    mapped = parse_json(dump_json(checklist_to_response(checklist_from_json(domain))))
    links = {"subject": "Patient", "encounter": "Encounter", "author": "Practitioner"}
    links["basedOn"] = "CarePlan"
    for name, resource_type in links.items():
        value = response.pop(name)
        target = resources.resolve((value[0] if name == "basedOn" else value)["reference"])
        assert target is not None and target["resourceType"] == resource_type
        mapped.pop(name)
    assert response == mapped
    (encounter,) = resources.of_type("Encounter")
    assert encounter["class"]["code"] == "IMP" and encounter["status"] == "finished"
    assert resources.resolve(encounter["serviceProvider"]["reference"]) is not None


def test_discharge_careplan_maps_back_to_the_plan_at_discharge(pathway: Pathway) -> None:
    resources = Resolver.of_bundle(load(pathway.discharge_bundle))
    plan = load(pathway.psfs)["plan"]
    (careplan,) = resources.of_type("CarePlan")
    at_discharge = careplan_to_plan(careplan, resources)
    # The plan has its services but no goals yet: PSFS comes in the first days home.
    assert at_discharge.id == plan["id"] and at_discharge.goals == ()
    assert at_discharge.checklists == (load(pathway.checklist("discharge-call"))["id"],)
    assert [s.description for s in at_discharge.services] == [
        s["description"] for s in plan["services"]
    ]


def test_caregiver_series_has_its_related_person_in_the_discharge_bundle(
    pathway: Pathway,
) -> None:
    respondent = load(pathway.psfs)["assessments"][0]["respondent"]
    related = Resolver.of_bundle(load(pathway.discharge_bundle)).of_type("RelatedPerson")
    if respondent["kind"] == "caregiver":
        (person,) = related
        assert respondent["reference"].startswith("RelatedPerson/")
        assert person["relationship"][0]["coding"][0]["code"] == "DAU"
    else:
        assert respondent["reference"] == f"Patient/{pathway.slug}"


def test_psfs_responses_record_assessment_ids(pathway: Pathway) -> None:
    for path in (pathway.baseline_response, pathway.reassessment_response):
        assert load(path)["identifier"]["system"] == PSFS_ASSESSMENT


# --- the real CLI --------------------------------------------------------------------------------


def _cli(*args: str | Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.stderr, result.exception)
    return parse_json(result.stdout_bytes)


def test_cli_map_psfs_both_ways(pathway: Pathway) -> None:
    check_golden(_cli("map", "psfs", pathway.psfs), pathway.expected / "psfs.bundle.json")
    check_golden(
        _cli("map", "psfs", pathway.expected / "psfs.bundle.json"),
        pathway.expected / "psfs.domain.json",
    )


def test_cli_map_path_both_ways(pathway: Pathway) -> None:
    for key in pathway.checklists():
        response = pathway.expected / "checklists" / f"{key}.response.json"
        check_golden(_cli("map", "path", pathway.checklist(key)), response)
        check_golden(
            _cli("map", "path", response), pathway.expected / "checklists" / f"{key}.domain.json"
        )


def test_cli_extract(pathway: Pathway) -> None:
    check_golden(
        _cli("extract", pathway.baseline_response),
        pathway.expected / "extract-baseline.bundle.json",
    )
    check_golden(
        _cli("extract", pathway.reassessment_response, "--previous", pathway.baseline_response),
        pathway.expected / "extract-reassessment.bundle.json",
    )
