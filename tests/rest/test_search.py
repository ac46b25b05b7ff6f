"""Search through the real app (FHIR R4 §3.1.1), on SQLite and PostgreSQL.

One small care transition per backend (two patients, goals, care plans, observations and
questionnaire responses, all with fresh ids) is searched with every parameter the municipal and
hospital systems use, by GET and by POST ``_search``, at type and system level: the parameter types'
prefixes and modifiers, ``_include``/``_revinclude``, unknown parameters under ``Prefer:
handling``, XML rendering, and hostile values that must end in a Bundle or a 400, never a 500.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.wire import Format, read_resource
from tests.fixtures_support import load, pathways

FHIR_JSON = {"content-type": "application/fhir+json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
SID = "http://forlop.no/fhir/sid/test-search"
PSFS = "http://forlop.no/fhir/Questionnaire/psfs"
DISCHARGE_CALL = "http://forlop.no/fhir/Questionnaire/path-discharge-call"
TRANSITION = "http://forlop.no/fhir/CodeSystem/care-transition"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PSFS_CODES = "http://forlop.no/fhir/CodeSystem/psfs"


def create(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def run(
    client: TestClient,
    path: str,
    params: list[tuple[str, str]],
    *,
    post: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    """GET ``path?params`` or POST the params as a form to ``path/_search``."""
    if post:
        body = urlencode(params)
        return client.post(f"{path}/_search", content=body, headers={**FORM, **(headers or {})})
    return client.get(path, params=tuple(params), headers=headers or {})


def bundle(
    client: TestClient,
    path: str,
    params: list[tuple[str, str]],
    *,
    post: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = run(client, path, params, post=post, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert found["resourceType"] == "Bundle"
    assert found["type"] == "searchset"
    return found


def keys(found: dict[str, Any], mode: str = "match") -> set[str]:
    """``Type/id`` of the entries with ``search.mode`` ``mode``."""
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in found.get("entry", [])
        if e.get("search", {}).get("mode") == mode
    }


def outcome_entries(found: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in found.get("entry", [])
        if e.get("search", {}).get("mode") == "outcome"
    ]


def self_link(found: dict[str, Any]) -> str:
    return str(next(link["url"] for link in found["link"] if link["relation"] == "self"))


def ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def assert_refused(response: Any, *, names: str | None = None) -> dict[str, Any]:
    """A 400 OperationOutcome with an error issue (whose text or expression names ``names``)."""
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    errors = [i for i in body["issue"] if i["severity"] == "error"]
    assert errors, body
    if names is not None:
        assert any(
            names in i["diagnostics"] or any(names in x for x in i.get("expression", []))
            for i in errors
        ), body
    return body


@dataclass
class World:
    """One patient's care transition, plus a second patient whose data must never leak in."""

    tag: str
    patient: dict[str, Any]
    other: dict[str, Any]
    encounter: dict[str, Any]
    care_team: dict[str, Any]
    goals: list[dict[str, Any]]  # g1 active (P), g2 completed (P), g3 active (other)
    plans: list[dict[str, Any]]  # cp1 active with goals (P), cp2 draft bare (P), cp3 (other)
    observations: list[dict[str, Any]]  # o1..o4 (P), dates as in test_date_prefixes
    responses: list[dict[str, Any]]  # q1 psfs|1.0.0, q2 psfs|1.0.0, q3 psfs, q4 discharge call

    @property
    def p(self) -> str:
        return ref(self.patient)

    def g(self, n: int) -> str:
        return ref(self.goals[n - 1])

    def cp(self, n: int) -> str:
        return ref(self.plans[n - 1])

    def o(self, *ns: int) -> set[str]:
        return {ref(self.observations[n - 1]) for n in ns}

    def q(self, *ns: int) -> set[str]:
        return {ref(self.responses[n - 1]) for n in ns}


def _observation(patient: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": PSFS_CODES, "code": code}]},
        "subject": {"reference": patient},
        **extra,
    }


def _survey() -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}]


@pytest.fixture(scope="module")
def world(client: TestClient) -> World:
    tag = uuid.uuid4().hex[:10]
    patient = create(
        client,
        {
            "resourceType": "Patient",
            "identifier": [{"system": SID, "value": f"p-{tag}"}],
            "name": [{"family": f"Ødegård-{tag}", "given": ["Åse Marie"]}],
        },
    )
    other = create(
        client,
        {
            "resourceType": "Patient",
            "identifier": [{"system": SID, "value": f"other-{tag}"}],
            "name": [{"family": f"Berg-{tag}"}],
        },
    )
    p, o = {"reference": ref(patient)}, {"reference": ref(other)}
    practitioner = create(client, {"resourceType": "Practitioner", "name": [{"family": "Aune"}]})
    encounter = create(
        client,
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": p,
        },
    )
    e = {"reference": ref(encounter)}
    care_team = create(client, {"resourceType": "CareTeam", "status": "active", "subject": p})

    def goal(subject: dict[str, str], status: str, start: str, name: str) -> dict[str, Any]:
        return create(
            client,
            {
                "resourceType": "Goal",
                "identifier": [{"system": SID, "value": f"{name}-{tag}"}],
                "lifecycleStatus": status,
                "description": {"text": f"Aktivitet {name}"},
                "subject": subject,
                "startDate": start,
            },
        )

    goals = [
        goal(p, "active", "2026-01-14", "g1"),
        goal(p, "completed", "2026-01-20", "g2"),
        goal(o, "active", "2026-01-14", "g3"),
    ]
    plans = [
        create(
            client,
            {
                "resourceType": "CarePlan",
                "identifier": [{"system": SID, "value": f"cp1-{tag}"}],
                "status": "active",
                "intent": "plan",
                "category": [
                    {
                        "coding": [{"system": TRANSITION, "code": "transition-plan"}],
                        "text": "Overgangsplan hjem",
                    }
                ],
                "subject": p,
                "encounter": e,
                "period": {"start": "2026-01-12", "end": "2026-03-31"},
                "careTeam": [{"reference": ref(care_team)}],
                "goal": [{"reference": ref(goals[0])}, {"reference": ref(goals[1])}],
            },
        ),
        create(
            client, {"resourceType": "CarePlan", "status": "draft", "intent": "plan", "subject": p}
        ),
        create(
            client,
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": o,
                "goal": [{"reference": ref(goals[2])}],
            },
        ),
    ]
    focus1, focus2 = [{"reference": ref(goals[0])}], [{"reference": ref(goals[1])}]
    observations = [
        create(
            client,
            _observation(
                ref(patient),
                "activity-score",
                category=_survey(),
                focus=focus1,
                encounter=e,
                effectiveDateTime="2026-01-10",
                valueInteger=2,
            ),
        ),
        create(
            client,
            _observation(
                ref(patient),
                "activity-score",
                category=_survey(),
                focus=focus1,
                effectiveDateTime="2026-01-14T10:00:00+01:00",
                valueInteger=3,
            ),
        ),
        create(
            client,
            _observation(
                ref(patient),
                "activity-score",
                category=_survey(),
                focus=focus2,
                effectivePeriod={"start": "2026-01-20", "end": "2026-02-05"},
                valueInteger=5,
            ),
        ),
        create(client, _observation(ref(patient), "mean-score", effectiveDateTime="2026-03")),
    ]
    pathway = pathways()[0]
    baseline = load(pathway.baseline_response)
    reassessment = load(pathway.reassessment_response)
    unversioned = copy.deepcopy(baseline)
    unversioned["questionnaire"] = PSFS
    unversioned["authored"] = "2026-02-01"
    discharge = next(
        e["resource"]
        for e in load(pathway.discharge_bundle)["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    discharge.pop("basedOn")
    discharge.update(encounter=e, author={"reference": ref(practitioner)})
    responses = []
    for n, response in enumerate((baseline, reassessment, unversioned, discharge), start=1):
        if n < 4:
            response.pop("author", None)
        response["identifier"] = {"system": SID, "value": f"q{n}-{tag}"}
        response["subject"] = p
        if "source" in response:
            response["source"] = p
        responses.append(create(client, response))
    assert [r["questionnaire"] for r in responses] == [
        f"{PSFS}|1.0.0",
        f"{PSFS}|1.0.0",
        PSFS,
        f"{DISCHARGE_CALL}|1.0.0",
    ]
    assert [r["authored"] for r in responses] == [
        "2026-01-14",
        "2026-04-15",
        "2026-02-01",
        "2026-01-12T10:15:00+01:00",
    ]
    return World(tag, patient, other, encounter, care_team, goals, plans, observations, responses)


HOW = pytest.mark.parametrize("post", [False, True], ids=["GET", "POST"])


# --- _id, _lastUpdated, identifier --------------------------------------------------------------


@HOW
def test_id_selects_resources_by_logical_id(client: TestClient, world: World, post: bool) -> None:
    g1, g2 = world.goals[0]["id"], world.goals[1]["id"]
    assert keys(bundle(client, "/fhir/Goal", [("_id", g1)], post=post)) == {world.g(1)}
    both = bundle(client, "/fhir/Goal", [("_id", f"{g1},{g2}")], post=post)
    assert keys(both) == {world.g(1), world.g(2)}
    assert both["total"] == 2
    not_g1 = bundle(client, "/fhir/Goal", [("_id:not", g1), ("subject", world.p)], post=post)
    assert keys(not_g1) == {world.g(2)}
    # Another type's id never matches.
    assert keys(bundle(client, "/fhir/CarePlan", [("_id", g1)], post=post)) == set()


@HOW
def test_identifier_token_forms(client: TestClient, world: World, post: bool) -> None:
    value = f"g1-{world.tag}"
    expected = {world.g(1)}
    for query in (f"{SID}|{value}", value):
        assert keys(bundle(client, "/fhir/Goal", [("identifier", query)], post=post)) == expected
    # |code asks for an identifier without a system; ours has one.
    assert keys(bundle(client, "/fhir/Goal", [("identifier", f"|{value}")], post=post)) == set()
    assert keys(bundle(client, "/fhir/Goal", [("identifier", f"urn:other|{value}")])) == set()
    any_code = bundle(client, "/fhir/Goal", [("identifier", f"{SID}|"), ("subject", world.p)])
    assert keys(any_code) == {world.g(1), world.g(2)}
    plan = bundle(client, "/fhir/CarePlan", [("identifier", f"{SID}|cp1-{world.tag}")], post=post)
    assert keys(plan) == {world.cp(1)}


def _instant(resource: dict[str, Any]) -> str:
    value: str = resource["meta"]["lastUpdated"]
    return value


def test_last_updated_prefixes(client: TestClient, world: World) -> None:
    goals = world.goals[:2]
    first = _instant(goals[0])
    scope = [("subject", world.p)]

    def search(value: str) -> set[str]:
        return keys(bundle(client, "/fhir/Goal", [*scope, ("_lastUpdated", value)]))

    # meta.lastUpdated carries the stored millisecond, so its text orders like the stored value.
    assert search(f"eq{first}") == {ref(g) for g in goals if _instant(g) == first}
    assert search(first) == search(f"eq{first}")
    assert search(f"ge{first}") == {world.g(1), world.g(2)}
    assert search(f"lt{first}") == set()
    assert search(f"sa{first}") == {ref(g) for g in goals if _instant(g) > first}
    assert search(f"ne{first}") == {ref(g) for g in goals if _instant(g) != first}
    assert search("gt2000-01-01") == {world.g(1), world.g(2)}
    assert search("lt2000-01-01") == set()
    assert search("eb2000-01-01") == set()
    assert search(f"le{_instant(goals[1])}") == {world.g(1), world.g(2)}
    assert search(f"ap{first[:10]}") == {world.g(1), world.g(2)}


# --- references ----------------------------------------------------------------------------------


@HOW
def test_reference_forms(client: TestClient, world: World, post: bool) -> None:
    mine = {world.g(1), world.g(2)}
    pid = world.patient["id"]
    for name, value in (
        ("subject", world.p),
        ("subject", pid),
        ("subject:Patient", pid),
        ("patient", world.p),
        ("patient", pid),
    ):
        found = bundle(client, "/fhir/Goal", [(name, value)], post=post)
        assert keys(found) == mine, (name, value)
    assert keys(bundle(client, "/fhir/Goal", [("subject:Group", pid)], post=post)) == set()
    assert keys(bundle(client, "/fhir/Goal", [("subject", ref(world.other))])) == {world.g(3)}
    either = bundle(client, "/fhir/Goal", [("subject", f"{world.p},{ref(world.other)}")])
    assert keys(either) == {world.g(1), world.g(2), world.g(3)}


def test_reference_values_that_cannot_match_are_refused(client: TestClient, world: World) -> None:
    pid = world.patient["id"]
    assert_refused(client.get("/fhir/Goal", params={"subject:Observation": pid}), names="subject")
    assert_refused(client.get("/fhir/Goal", params={"subject": "Patient/not an id"}))
    assert_refused(client.get("/fhir/Goal", params={"subject:Group": world.p}), names="subject")


@HOW
def test_encounter_and_care_plan_goal(client: TestClient, world: World, post: bool) -> None:
    encounter, eid = ref(world.encounter), world.encounter["id"]
    assert keys(bundle(client, "/fhir/Observation", [("encounter", encounter)], post=post)) == (
        world.o(1)
    )
    assert keys(bundle(client, "/fhir/CarePlan", [("encounter", eid)], post=post)) == {world.cp(1)}
    found = bundle(client, "/fhir/QuestionnaireResponse", [("encounter", encounter)], post=post)
    assert keys(found) == world.q(4)
    for goal, plan in (
        (world.g(1), world.cp(1)),
        (world.g(2), world.cp(1)),
        (world.g(3), world.cp(3)),
    ):
        assert keys(bundle(client, "/fhir/CarePlan", [("goal", goal)], post=post)) == {plan}
    focus = bundle(client, "/fhir/Observation", [("focus", world.g(1))], post=post)
    assert keys(focus) == world.o(1, 2)


# --- tokens --------------------------------------------------------------------------------------


@HOW
def test_status_and_category_tokens(client: TestClient, world: World, post: bool) -> None:
    scope = [("subject", world.p)]

    def plans(*params: tuple[str, str]) -> set[str]:
        return keys(bundle(client, "/fhir/CarePlan", [*scope, *params], post=post))

    assert plans(("status", "active")) == {world.cp(1)}
    assert plans(("status", "draft,active")) == {world.cp(1), world.cp(2)}
    assert plans(("status", "active"), ("status", "draft")) == set()  # repeated: AND
    assert plans(("status:not", "active")) == {world.cp(2)}
    assert plans(("category", f"{TRANSITION}|transition-plan")) == {world.cp(1)}
    assert plans(("category", "transition-plan")) == {world.cp(1)}
    assert plans(("category", f"{TRANSITION}|")) == {world.cp(1)}
    assert plans(("category", "|transition-plan")) == set()
    assert plans(("category", f"{TRANSITION}|other")) == set()
    assert plans(("category:text", "overgangsplan")) == {world.cp(1)}
    assert plans(("category:text", "OVERGANGSPLAN H")) == {world.cp(1)}
    assert plans(("category:missing", "true")) == {world.cp(2)}
    assert plans(("category:missing", "false")) == {world.cp(1)}
    assert plans(("goal:missing", "true")) == {world.cp(2)}


@HOW
def test_observation_code_and_category(client: TestClient, world: World, post: bool) -> None:
    scope = [("subject", world.p)]

    def observations(*params: tuple[str, str]) -> set[str]:
        return keys(bundle(client, "/fhir/Observation", [*scope, *params], post=post))

    assert observations(("code", f"{PSFS_CODES}|activity-score")) == world.o(1, 2, 3)
    assert observations(("code", "mean-score")) == world.o(4)
    assert observations(("code", f"{PSFS_CODES}|")) == world.o(1, 2, 3, 4)
    assert observations(("code:not", "mean-score")) == world.o(1, 2, 3)
    assert observations(("category", f"{OBSERVATION_CATEGORY}|survey")) == world.o(1, 2, 3)
    assert observations(("category:text", "surv")) == world.o(1, 2, 3)
    # :not also finds resources without any category (R4 §3.1.1.5.5).
    assert observations(("category:not", "survey")) == world.o(4)
    assert observations(("category:missing", "true")) == world.o(4)
    assert observations(("status", "final"), ("code", "activity-score")) == world.o(1, 2, 3)


def test_token_modifiers_that_do_not_apply_are_refused(client: TestClient, world: World) -> None:
    scope = {"subject": world.p}
    for name, value in (
        ("status:exact", "active"),
        ("status:below", "active"),
        ("category:missing", "maybe"),
        ("_id:missing", "true"),
    ):
        response = client.get("/fhir/CarePlan", params={**scope, name: value})
        assert_refused(response)


# --- dates ---------------------------------------------------------------------------------------

# o1 2026-01-10 (a day), o2 2026-01-14T09:00:00Z (a second), o3 2026-01-20..2026-02-05 (a period),
# o4 2026-03 (a month). R4 §3.1.1.4.6: the prefixes compare the target's range with the value's.
DATE_CASES = [
    ("2026-01", (1, 2)),
    ("eq2026-01", (1, 2)),
    ("ne2026-01", (3, 4)),
    ("gt2026-01-14", (3, 4)),
    ("lt2026-01-14", (1,)),
    ("ge2026-01-14", (2, 3, 4)),
    ("le2026-01-14", (1, 2)),
    ("sa2026-01-14", (3, 4)),
    ("eb2026-01-20", (1, 2)),
    ("eb2026-01-14", (1,)),
    ("gt2026-01-14T09:00:00Z", (3, 4)),
    ("eq2026-01-14T10:00:00+01:00", (2,)),
    ("2026-01-14T09:00", (2,)),
    ("2026-01-10,2026-03", (1, 4)),
    ("2026-02-01", ()),
    ("ge2026-02-05", (4,)),  # o3 ends within the value: neither above it nor inside it
    ("2026", (1, 2, 3, 4)),
]


@pytest.mark.parametrize(("value", "expected"), DATE_CASES, ids=[c[0] for c in DATE_CASES])
def test_date_prefixes(
    client: TestClient, world: World, value: str, expected: tuple[int, ...]
) -> None:
    found = bundle(client, "/fhir/Observation", [("subject", world.p), ("date", value)])
    assert keys(found) == world.o(*expected)


def test_date_ranges_combine_with_and(client: TestClient, world: World) -> None:
    params = [("subject", world.p), ("date", "ge2026-02-01"), ("date", "le2026-02-28")]
    assert keys(bundle(client, "/fhir/Observation", params, post=True)) == world.o(3)


def test_date_approximately_widens_by_a_tenth_of_the_distance_from_now(
    client: TestClient,
) -> None:
    patient = create(client, {"resourceType": "Patient", "name": [{"family": "Ap"}]})
    anchor = datetime.now(UTC).date() - timedelta(days=200)
    near = create(
        client,
        _observation(
            ref(patient), "activity-score", effectiveDateTime=(anchor + timedelta(10)).isoformat()
        ),
    )
    far = create(
        client,
        _observation(
            ref(patient), "activity-score", effectiveDateTime=(anchor + timedelta(40)).isoformat()
        ),
    )
    scope = [("subject", ref(patient))]
    approx = bundle(client, "/fhir/Observation", [*scope, ("date", f"ap{anchor.isoformat()}")])
    assert keys(approx) == {ref(near)}
    exact = bundle(client, "/fhir/Observation", [*scope, ("date", anchor.isoformat())])
    assert keys(exact) == set()
    assert keys(bundle(client, "/fhir/Observation", [*scope, ("date", f"ge{anchor}")])) == {
        ref(near),
        ref(far),
    }


@pytest.mark.parametrize(
    "value", ["2026-13-01", "2026-02-30", "14.01.2026", "xx2026", "2026-01-14T25:00", "ge"]
)
def test_malformed_dates_are_refused(client: TestClient, world: World, value: str) -> None:
    response = client.get("/fhir/Observation", params={"subject": world.p, "date": value})
    assert_refused(response, names="date")


# --- questionnaire (canonical) and authored ------------------------------------------------------


@HOW
def test_questionnaire_canonical_matches_every_version(
    client: TestClient, world: World, post: bool
) -> None:
    """R4 §3.1.1.4.11: a canonical without ``|version`` matches references to any version."""
    scope = [("subject", world.p)]

    def responses(value: str) -> set[str]:
        params = [*scope, ("questionnaire", value)]
        return keys(bundle(client, "/fhir/QuestionnaireResponse", params, post=post))

    assert responses(PSFS) == world.q(1, 2, 3)
    assert responses(f"{PSFS}|1.0.0") == world.q(1, 2)
    assert responses(f"{PSFS}|2.0.0") == set()
    assert responses("http://forlop.no/fhir/Questionnaire/ps") == set()  # no prefix matching
    assert responses(DISCHARGE_CALL) == world.q(4)
    assert responses(f"{DISCHARGE_CALL}|1.0.0,{PSFS}|1.0.0") == world.q(1, 2, 4)


@HOW
def test_authored_dates(client: TestClient, world: World, post: bool) -> None:
    scope = [("subject", world.p)]

    def responses(value: str) -> set[str]:
        params = [*scope, ("authored", value)]
        return keys(bundle(client, "/fhir/QuestionnaireResponse", params, post=post))

    assert responses("2026-01-14") == world.q(1)
    assert responses("2026-01") == world.q(1, 4)
    assert responses("ge2026-02-01") == world.q(2, 3)
    assert responses("lt2026-01-13") == world.q(4)
    assert responses("le2026-01-12T09:15:00Z") == world.q(4)
    assert responses("gt2026-01-12T09:15:00Z") == world.q(1, 2, 3)
    sorted_by_date = bundle(
        client, "/fhir/QuestionnaireResponse", [*scope, ("_sort", "-authored")], post=post
    )
    order = [e["resource"]["id"] for e in sorted_by_date["entry"]]
    assert order == [world.responses[n]["id"] for n in (1, 2, 0, 3)]


# --- strings -------------------------------------------------------------------------------------


@HOW
def test_string_default_exact_and_contains(client: TestClient, world: World, post: bool) -> None:
    tag, mine = world.tag, {world.p}

    def patients(*params: tuple[str, str]) -> set[str]:
        return keys(bundle(client, "/fhir/Patient", list(params), post=post))

    # Default: case- and accent-insensitive, matching from the start of any name part.
    assert patients(("name", f"ødegård-{tag}")) == mine
    assert patients(("name", f"ØDEGARD-{tag}")) == mine
    assert patients(("name", f"Ødegård-{tag[:4]}")) == mine
    assert patients(("family", f"odegard-{tag}")) == set()  # ø is a letter of its own
    assert patients(("name", "åse"), ("identifier", f"{SID}|p-{tag}")) == mine
    assert patients(("given", "ase marie"), ("identifier", f"{SID}|p-{tag}")) == mine
    assert patients(("name", tag)) == set()  # not a prefix of any part
    assert patients(("name:exact", f"Ødegård-{tag}")) == mine
    assert patients(("name:exact", f"ødegård-{tag}")) == set()
    assert patients(("name:exact", f"Ødegård-{tag[:4]}")) == set()
    assert patients(("name:contains", f"DEGÅRD-{tag[:6]}")) == mine
    assert patients(("name:contains", f"gard-{tag}")) == mine
    assert patients(("name", f"Ødegård-{tag},Berg-{tag}")) == {world.p, ref(world.other)}
    scope = ("identifier", f"{SID}|p-{tag}")
    assert patients(scope, ("name:missing", "false")) == mine
    assert patients(scope, ("name:missing", "true")) == set()
    assert patients(scope, ("birthdate:missing", "true")) == mine


def test_string_wildcards_are_plain_characters(client: TestClient, world: World) -> None:
    scope = [("identifier", f"{SID}|p-{world.tag}")]
    for value in ("%", "_", "%d%", "\\"):
        for name in ("name:contains", "name", "name:exact"):
            found = bundle(client, "/fhir/Patient", [*scope, (name, value)])
            assert keys(found) == set(), (name, value)


# --- system level --------------------------------------------------------------------------------


def test_system_search_with_type(client: TestClient, world: World) -> None:
    found = bundle(client, "/fhir/", [("_type", "Goal,CarePlan"), ("patient", world.p)])
    assert keys(found) == {world.g(1), world.g(2), world.cp(1), world.cp(2)}
    clinical = bundle(
        client, "/fhir/", [("_type", "Observation,QuestionnaireResponse"), ("subject", world.p)]
    )
    assert keys(clinical) == world.o(1, 2, 3, 4) | world.q(1, 2, 3, 4)
    by_id = bundle(client, "/fhir/", [("_id", f"{world.goals[0]['id']},{world.plans[0]['id']}")])
    assert keys(by_id) == {world.g(1), world.cp(1)}
    one_type = bundle(client, "/fhir/", [("_type", "Goal"), ("_id", world.plans[0]["id"])])
    assert keys(one_type) == set()


def test_type_parameter_errors(client: TestClient, world: World) -> None:
    assert_refused(client.get("/fhir/", params={"_type": "Nonsense"}), names="_type")
    assert_refused(client.get("/fhir/", params={"_type": ""}), names="_type")
    assert_refused(client.get("/fhir/Goal", params={"_type": "Goal"}), names="_type")
    assert client.get("/fhir/Nonsense", params={"_id": "x"}).status_code == 404


# --- _include and _revinclude --------------------------------------------------------------------


def _assert_include_shape(found: dict[str, Any]) -> None:
    """Included entries say so, and only matches are counted in ``total``."""
    assert found["total"] == len(keys(found))
    for e in found["entry"]:
        assert e["search"]["mode"] in ("match", "include", "outcome")
        if e["search"]["mode"] != "outcome":
            assert e["fullUrl"].endswith(ref(e["resource"]))


@HOW
def test_include_care_plan_goals_and_care_team(
    client: TestClient, world: World, post: bool
) -> None:
    params = [
        ("_id", world.plans[0]["id"]),
        ("_include", "CarePlan:goal"),
        ("_include", "CarePlan:care-team"),
    ]
    found = bundle(client, "/fhir/CarePlan", params, post=post)
    _assert_include_shape(found)
    assert found["total"] == 1
    assert keys(found) == {world.cp(1)}
    assert keys(found, "include") == {world.g(1), world.g(2), ref(world.care_team)}


def test_include_forms(client: TestClient, world: World) -> None:
    plan = [("_id", world.plans[0]["id"])]
    typed = bundle(client, "/fhir/CarePlan", [*plan, ("_include", "CarePlan:goal:Goal")])
    assert keys(typed, "include") == {world.g(1), world.g(2)}
    wrong_target = bundle(client, "/fhir/CarePlan", [*plan, ("_include", "CarePlan:subject:Group")])
    assert keys(wrong_target, "include") == set()
    everything = bundle(client, "/fhir/CarePlan", [*plan, ("_include", "CarePlan:*")])
    assert keys(everything, "include") == {
        world.g(1),
        world.g(2),
        ref(world.care_team),
        ref(world.encounter),
        world.p,
    }
    iterated = bundle(
        client,
        "/fhir/CarePlan",
        [*plan, ("_include", "CarePlan:goal"), ("_include:iterate", "Goal:subject")],
    )
    assert keys(iterated, "include") == {world.g(1), world.g(2), world.p}
    _assert_include_shape(iterated)
    # Plans of the patient: each included resource once, even when two plans would include it.
    plans = bundle(
        client, "/fhir/CarePlan", [("patient", world.p), ("_include", "CarePlan:subject")]
    )
    assert keys(plans) == {world.cp(1), world.cp(2)}
    assert [ref(e["resource"]) for e in plans["entry"]].count(world.p) == 1


@HOW
def test_revinclude_observations_of_a_goal(client: TestClient, world: World, post: bool) -> None:
    params = [("_id", world.goals[0]["id"]), ("_revinclude", "Observation:focus")]
    found = bundle(client, "/fhir/Goal", params, post=post)
    _assert_include_shape(found)
    assert keys(found) == {world.g(1)}
    assert keys(found, "include") == world.o(1, 2)
    both = bundle(
        client, "/fhir/Goal", [("subject", world.p), ("_revinclude", "Observation:focus")]
    )
    assert keys(both) == {world.g(1), world.g(2)}
    assert keys(both, "include") == world.o(1, 2, 3)
    assert both["total"] == 2


@HOW
def test_revinclude_questionnaire_responses_of_a_patient(
    client: TestClient, world: World, post: bool
) -> None:
    params = [("_id", world.patient["id"]), ("_revinclude", "QuestionnaireResponse:subject")]
    found = bundle(client, "/fhir/Patient", params, post=post)
    _assert_include_shape(found)
    assert found["total"] == 1
    assert keys(found) == {world.p}
    assert keys(found, "include") == world.q(1, 2, 3, 4)
    more = bundle(
        client,
        "/fhir/Patient",
        [*params, ("_revinclude", "CarePlan:subject"), ("_revinclude", "Goal:subject")],
    )
    assert keys(more, "include") == world.q(1, 2, 3, 4) | {world.cp(1), world.cp(2)} | {
        world.g(1),
        world.g(2),
    }


def test_includes_follow_the_page(client: TestClient, world: World) -> None:
    params = [
        ("patient", world.p),
        ("_sort", "status"),
        ("_count", "1"),
        ("_total", "accurate"),
        ("_include", "CarePlan:goal"),
    ]
    first = bundle(client, "/fhir/CarePlan", params)
    assert first["total"] == 2
    assert keys(first) == {world.cp(1)}
    assert keys(first, "include") == {world.g(1), world.g(2)}
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(following)
    assert second.status_code == 200, second.text
    assert keys(second.json()) == {world.cp(2)}
    assert keys(second.json(), "include") == set()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_include", "Goal:subject"),  # source is not the searched type
        ("_include", "CarePlan:nonsense"),
        ("_include", "CarePlan:status"),  # not a reference parameter
        ("_include", "CarePlan"),
        ("_include", "Nonsense:goal"),
        ("_include", "CarePlan:goal:Nonsense"),
        ("_include", "CarePlan:goal:Patient"),  # goal cannot refer to a Patient
        ("_revinclude", "Observation:nonsense"),
        ("_include:recurse", "CarePlan:goal"),
    ],
)
def test_bad_includes_are_refused(client: TestClient, world: World, name: str, value: str) -> None:
    response = client.get("/fhir/CarePlan", params={"_id": world.plans[0]["id"], name: value})
    assert_refused(response, names=name)


# --- unknown parameters and Prefer: handling -----------------------------------------------------


@pytest.mark.parametrize("prefer", [None, "handling=lenient"])
@pytest.mark.parametrize("unknown", ["colour", "colour:exact", "subject.name", "name"])
def test_unknown_parameters_are_ignored_and_said_so(
    client: TestClient, world: World, prefer: str | None, unknown: str
) -> None:
    headers = {"prefer": prefer} if prefer else {}
    params = [("subject", world.p), (unknown, "blå"), ("_count", "10")]
    if unknown == "subject.name":
        # Chaining on a parameter the server has is refused (not silently ignored).
        assert_refused(client.get("/fhir/Goal", params=tuple(params), headers=headers))
        return
    found = bundle(client, "/fhir/Goal", params, headers=headers)
    assert keys(found) == {world.g(1), world.g(2)}
    outcomes = outcome_entries(found)
    assert len(outcomes) == 1
    issue = outcomes[0]["issue"][0]
    assert issue["severity"] == "warning"
    assert unknown in issue["diagnostics"]
    assert issue["expression"] == [unknown]
    linked = dict(parse_qsl(urlsplit(self_link(found)).query))
    assert unknown not in linked
    assert linked["subject"] == world.p
    assert linked["_count"] == "10"


def test_unknown_parameters_refused_when_strict(client: TestClient, world: World) -> None:
    for path, scope in (("/fhir/Goal", {}), ("/fhir/", {"_type": "Goal"})):
        response = client.get(
            path,
            params={**scope, "subject": world.p, "colour": "blå"},
            headers={"prefer": "handling=strict"},
        )
        body = assert_refused(response, names="colour")
        assert body["issue"][0]["code"] == "not-supported"
        assert body["issue"][0]["expression"] == ["colour"]
    response = client.post(
        "/fhir/Goal/_search",
        data={"subject": world.p, "colour:text": "blå"},
        headers={**FORM, "prefer": "handling=strict"},
    )
    assert_refused(response, names="colour:text")


def test_result_parameters_are_not_unknown(client: TestClient, world: World) -> None:
    params = [
        ("subject", world.p),
        ("_summary", "false"),
        ("_elements", "subject"),
        ("_format", "json"),
        ("_pretty", "true"),
        ("_total", "accurate"),
        ("_count", "5"),
        ("_sort", "_id"),
    ]
    found = bundle(client, "/fhir/Goal", params, headers={"prefer": "handling=strict"})
    assert outcome_entries(found) == []
    assert keys(found) == {world.g(1), world.g(2)}


def test_unsupported_modifiers_are_refused_even_when_lenient(
    client: TestClient, world: World
) -> None:
    for name in ("status:nonsense", "subject:identifier", "_lastUpdated:missing"):
        response = client.get(
            "/fhir/CarePlan",
            params={"subject": world.p, name: "x"},
            headers={"prefer": "handling=lenient"},
        )
        assert_refused(response)


# --- XML -----------------------------------------------------------------------------------------


def _xml(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/fhir+xml"), response.text
    return read_resource(response.content, Format.XML)


def test_search_results_render_as_xml(client: TestClient, world: World) -> None:
    params = [
        ("_id", world.plans[0]["id"]),
        ("_include", "CarePlan:goal"),
        ("colour", "blå"),
    ]
    as_json = bundle(client, "/fhir/CarePlan", params)
    for response in (
        client.get("/fhir/CarePlan", params=[*params, ("_format", "xml")]),
        client.get("/fhir/CarePlan", params=params, headers={"accept": "application/fhir+xml"}),
        client.post(
            "/fhir/CarePlan/_search?_format=application/fhir%2Bxml", data=dict(params), headers=FORM
        ),
    ):
        assert response.status_code == 200
        as_xml = _xml(response)
        assert as_xml["resourceType"] == "Bundle"
        assert as_xml["total"] == 1
        assert keys(as_xml) == keys(as_json) == {world.cp(1)}
        assert keys(as_xml, "include") == {world.g(1), world.g(2)}
        assert outcome_entries(as_xml)[0]["issue"][0]["severity"] == "warning"
        assert as_xml["entry"][0]["resource"] == as_json["entry"][0]["resource"]


def test_search_errors_render_as_xml(client: TestClient, world: World) -> None:
    response = client.get(
        "/fhir/Goal",
        params={"subject": world.p, "colour": "blå", "_format": "xml"},
        headers={"prefer": "handling=strict"},
    )
    assert response.status_code == 400
    body = _xml(response)
    assert body["resourceType"] == "OperationOutcome"
    assert "colour" in body["issue"][0]["diagnostics"]


def test_next_links_keep_the_format(client: TestClient, world: World) -> None:
    first = client.get(
        "/fhir/Observation", params={"subject": world.p, "_count": "2", "_format": "xml"}
    )
    page = _xml(first)
    following = next(link["url"] for link in page["link"] if link["relation"] == "next")
    second = client.get(following)
    assert second.status_code == 200
    assert len(keys(_xml(second))) == 2


# --- hostile and absurd values -------------------------------------------------------------------

HOSTILE_VALUES = [
    "' OR 1=1 --",
    "'; DROP TABLE resources; --",
    ";DROP TABLE idx_token",
    "Patient.name.where(true)",
    "%resource.id",
    "é" * 3000,
    "🏥👵🏻\u202eRTL\u202c",
    "Z\u0351\u0352",
    "",
    " ",
    "||",
    "\\",
    ",",
    "a\x00b",
]
# The first few also go as a POST _search form, which reaches the same parser by another road.
POSTED = HOSTILE_VALUES[:3] + ["a\x00b"]
HOSTILE_PARAMETERS = [
    ("Observation", "_id"),
    ("Observation", "_lastUpdated"),
    ("Observation", "identifier"),
    ("Observation", "subject"),
    ("Observation", "status:not"),
    ("Observation", "category:text"),
    ("Observation", "category:missing"),
    ("Observation", "code"),
    ("Observation", "date"),
    ("Observation", "subject:Patient"),
    ("CarePlan", "goal"),
    ("QuestionnaireResponse", "questionnaire"),
    ("QuestionnaireResponse", "authored"),
    ("Patient", "name"),
    ("Patient", "name:exact"),
    ("Patient", "name:contains"),
    ("Observation", "_sort"),
    ("Observation", "_count"),
    ("Observation", "_total"),
    ("Observation", "_include"),
    ("Observation", "_revinclude"),
    ("Observation", "_cursor"),
    ("Observation", "_summary"),
    ("Observation", "_elements"),
    ("Observation", "' OR 1=1 --"),
]


def _normal_answer(response: Any) -> dict[str, Any]:
    """A searchset Bundle or a 400 OperationOutcome: never a 500, never anything else."""
    assert response.status_code in (200, 400), (response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    if response.status_code == 200:
        assert body["resourceType"] == "Bundle"
        assert body["type"] == "searchset"
    else:
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["severity"] == "error"
    return body


def _snapshot(client: TestClient, world: World) -> dict[str, str]:
    """versionId of every resource of the world, found by search (so the index is checked too)."""
    found = bundle(
        client,
        "/fhir/",
        [
            ("_type", "Goal,CarePlan,Observation,QuestionnaireResponse"),
            ("subject", f"{world.p},{ref(world.other)}"),
            ("_count", "100"),
        ],
    )
    versions = {ref(e["resource"]): e["resource"]["meta"]["versionId"] for e in found["entry"]}
    patient = client.get(f"/fhir/{world.p}")
    assert patient.status_code == 200
    versions[world.p] = patient.json()["meta"]["versionId"]
    return versions


@pytest.mark.parametrize(
    ("rtype", "name"), HOSTILE_PARAMETERS, ids=[n for _, n in HOSTILE_PARAMETERS]
)
def test_hostile_values_never_break_search(
    client: TestClient, world: World, rtype: str, name: str
) -> None:
    before = _snapshot(client, world)
    assert len(before) == 3 + 3 + 4 + 4 + 1
    scope = {"subject": world.p} if rtype != "Patient" else {"identifier": f"{SID}|p-{world.tag}"}
    everything = keys(bundle(client, f"/fhir/{rtype}", list(scope.items())))
    tries = [(value, False) for value in HOSTILE_VALUES] + [(value, True) for value in POSTED]
    for value, post in tries:
        params = [*scope.items(), (name, value)]
        body = _normal_answer(run(client, f"/fhir/{rtype}", params, post=post))
        if body["resourceType"] == "Bundle":
            # A hostile value either matches nothing or is ignored: never more than the scope.
            assert keys(body) <= everything
    assert _snapshot(client, world) == before


def test_injection_looking_values_match_nothing(client: TestClient, world: World) -> None:
    scope = [("subject", world.p)]
    assert len(keys(bundle(client, "/fhir/Observation", scope))) == 4
    for name in ("code", "identifier", "status", "category:text", "_id"):
        for value in ("' OR 1=1 --", "' OR '1'='1", "x') OR ('1'='1"):
            found = bundle(client, "/fhir/Observation", [*scope, (name, value)])
            assert keys(found) == set(), (name, value)
    for value in ("' OR 1=1 --", "%", "_%"):
        found = bundle(
            client, "/fhir/Patient", [("identifier", f"{SID}|p-{world.tag}"), ("name", value)]
        )
        assert keys(found) == set()


def test_undecodable_query_bytes(client: TestClient, world: World) -> None:
    for raw in ("name=%FF%FE", "name=%ED%A0%80", "na%FFme=x", "name=%C3", "_id=%00"):
        response = client.get(f"/fhir/Patient?identifier={SID}|p-{world.tag}&{raw}")
        _normal_answer(response)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(
        [
            "_id",
            "identifier",
            "subject",
            "status",
            "date",
            "code",
            "category:text",
            "_sort",
            "_count",
        ]
    ),
    value=st.text(min_size=0, max_size=40),
)
def test_any_text_gives_a_bundle_or_a_400(
    client: TestClient, world: World, name: str, value: str
) -> None:
    response = client.get("/fhir/Observation", params=[("subject", world.p), (name, value)])
    _normal_answer(response)


# --- the whole of a search, once more as a regression guard --------------------------------------


def test_all_issue_parameters_together(client: TestClient, world: World) -> None:
    """A municipal pull: the care plan of a patient with its goals, by every criterion at once."""
    params = [
        ("patient", world.p),
        ("status", "active"),
        ("category", f"{TRANSITION}|transition-plan"),
        ("date", "ge2026-01-01"),
        ("encounter", ref(world.encounter)),
        ("goal", world.g(1)),
        ("identifier", f"{SID}|cp1-{world.tag}"),
        ("_lastUpdated", f"ge{date(2000, 1, 1).isoformat()}"),
        ("_include", "CarePlan:goal"),
    ]
    for post in (False, True):
        found = bundle(client, "/fhir/CarePlan", params, post=post)
        assert keys(found) == {world.cp(1)}
        assert keys(found, "include") == {world.g(1), world.g(2)}


def test_system_search_without_trailing_slash_and_by_post(client: TestClient) -> None:
    marker = uuid.uuid4().hex
    goal = {
        "resourceType": "Goal",
        "identifier": [{"system": "urn:test:system-search", "value": marker}],
        "lifecycleStatus": "active",
        "description": {"text": "Systemsøk"},
        "subject": {"display": "Testperson"},
    }
    assert client.post("/fhir/Goal", json=goal, headers=FHIR_JSON).status_code == 201
    criteria = {"_type": "Goal", "identifier": f"urn:test:system-search|{marker}"}
    by_get = client.get("/fhir", params=criteria)
    by_post = client.post(
        "/fhir/_search",
        data=criteria,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    for response in (by_get, by_post):
        assert response.status_code == 200, response.text
        entries = response.json().get("entry", [])
        assert [e["resource"]["identifier"][0]["value"] for e in entries] == [marker]
