"""Every shipped suite passes against the real ``forlop serve``, on SQLite and on PostgreSQL,
again when run a second time against the same store, and leaves nothing behind."""

from __future__ import annotations

import httpx

from adapter.conformance import Runner, load_suites
from adapter.conformance.results import RunResult
from tests.conformance.servers import ForlopServer

# Every resource type the scripts write.
WRITTEN = (
    "Patient",
    "Organization",
    "Practitioner",
    "Encounter",
    "CareTeam",
    "CarePlan",
    "Goal",
    "Observation",
    "QuestionnaireResponse",
    "Provenance",
)


def _failures(result: RunResult) -> list[str]:
    found = []
    for script in result.scripts:
        found += [f"{script.script_id}: {p.diagnostics}" for p in script.problems]
        for phase in script.phases:
            for action in phase.problems:
                found.append(
                    f"{script.script_id} / {phase.name} / {action.title}: expected "
                    f"{action.expected}; found {action.actual or action.message}"
                )
    return found


def _stored(base_url: str) -> dict[str, int]:
    with httpx.Client(trust_env=False, timeout=60) as client:
        counts = {}
        for rtype in WRITTEN:
            bundle = client.get(f"{base_url}/{rtype}", params={"_count": "1000"}).json()
            counts[rtype] = len(bundle.get("entry", []))
        return counts


def test_all_suites_pass_twice_and_leave_nothing(forlop_server: ForlopServer) -> None:
    suites = load_suites()
    assert {s.name for s in suites} == {"core", "transitions", "robustness"}
    before = _stored(forlop_server.base_url)
    for _ in range(2):
        result = Runner(forlop_server.base_url).run(suites)
        assert _failures(result) == []
        assert result.ok
        tests = sum(len(s.tests) for s in result.scripts)
        assert tests == result.counts()["pass"] > 40
    assert _stored(forlop_server.base_url) == before
