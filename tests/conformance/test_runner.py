"""The runner against a scripted HTTP transport: which requests an operation becomes, how
failures stop a test, what setup and teardown do, and that credentials never reach a report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from adapter.conformance import Runner, html_report, junit_xml
from adapter.conformance.model import LoadedScript, Suite
from adapter.conformance.results import PhaseResult, RunResult, ScriptResult
from tests.conformance.scripts import build_script, check, fixture, operation, write

BASE = "http://fhir.test/fhir"
PATIENT = {"resourceType": "Patient", "name": [{"family": "Testrud"}]}


def _stored(version: str = "1", **changes: Any) -> dict[str, Any]:
    return {**PATIENT, "id": "p1", "meta": {"versionId": version}, **changes}


class Server:
    """A made-up FHIR server: answers by (method, path), records every request."""

    def __init__(self, answers: dict[tuple[str, str], httpx.Response] | None = None) -> None:
        self.seen: list[httpx.Request] = []
        self.answers = answers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        key = (request.method, request.url.path)
        if key in self.answers:
            return self.answers[key]
        if request.method == "POST" and request.url.path == "/fhir/Patient":
            return _fhir(201, _stored(), location=f"{BASE}/Patient/p1/_history/1")
        if request.method == "DELETE":
            return httpx.Response(204)
        if request.method == "GET" and request.url.path == "/fhir/Patient/p1":
            return _fhir(200, _stored())
        return _fhir(200, {"resourceType": "Bundle", "type": "searchset"})


def _fhir(status: int, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/fhir+json", **headers},
    )


def _run(
    loaded: LoadedScript, server: Callable[[httpx.Request], httpx.Response], **options: Any
) -> RunResult:
    runner = Runner(BASE, transport=httpx.MockTransport(server), **options)
    return runner.run([Suite("made-up", loaded.path.parent, (loaded,))])


def _statuses(result: RunResult) -> list[tuple[str, list[str]]]:
    return [(p.name, [a.status for a in p.actions]) for p in result.scripts[0].phases]


def test_operations_become_the_right_requests(tmp_path: Path) -> None:
    transaction = {"resourceType": "Bundle", "type": "transaction"}
    loaded = write(
        tmp_path,
        build_script(
            [
                [
                    operation("create", resource="Patient", sourceId="p", responseId="made"),
                    operation("read", resource="Patient", targetId="made"),
                    operation("vread", resource="Patient", targetId="made"),
                    operation("update", resource="Patient", sourceId="p", targetId="made"),
                    operation("search", resource="Patient", params="?identifier=urn:oid:1|2 3"),
                    operation(
                        "search", resource="Patient", params="?a=b|c", encodeRequestUrl=False
                    ),
                    operation("validate", resource="Patient", sourceId="p"),
                    operation("everything", resource="Patient", targetId="made"),
                    operation("history", resource="Patient"),
                    operation("capabilities"),
                    operation("transaction", sourceId="bundle"),
                    operation(None, method="get", url="http://elsewhere.test/x?y=1"),
                    operation(None, method="get", url="Patient/${pid}"),
                    operation(
                        "create",
                        resource="Patient",
                        sourceId="p",
                        contentType="xml",
                        requestHeader=[{"field": "Prefer", "value": "return=${ret}"}],
                    ),
                    operation("delete", resource="Patient", targetId="made"),
                ]
            ],
            fixture=[fixture("p", "patient.json"), fixture("bundle", "bundle.json")],
            variable=[
                {"name": "pid", "expression": "Patient.id", "sourceId": "made"},
                {"name": "ret", "defaultValue": "minimal"},
            ],
        ),
        {"patient.json": PATIENT, "bundle.json": transaction},
    )
    server = Server()
    result = _run(loaded, server)
    assert result.ok, _statuses(result)
    assert [(r.method, str(r.url)) for r in server.seen] == [
        ("POST", f"{BASE}/Patient"),
        ("GET", f"{BASE}/Patient/p1"),
        ("GET", f"{BASE}/Patient/p1/_history/1"),
        ("PUT", f"{BASE}/Patient/p1"),
        ("GET", f"{BASE}/Patient?identifier=urn:oid:1%7C2%203"),
        ("GET", f"{BASE}/Patient?a=b|c"),
        ("POST", f"{BASE}/Patient/$validate"),
        ("GET", f"{BASE}/Patient/p1/$everything"),
        ("GET", f"{BASE}/Patient/_history"),
        ("GET", f"{BASE}/metadata"),
        ("POST", BASE),
        ("GET", "http://elsewhere.test/x?y=1"),
        ("GET", f"{BASE}/Patient/p1"),
        ("POST", f"{BASE}/Patient"),
        ("DELETE", f"{BASE}/Patient/p1"),
    ]
    create, update, xml_create = server.seen[0], server.seen[3], server.seen[13]
    assert create.headers["content-type"] == "application/fhir+json"
    assert create.headers["accept"] == "application/fhir+json"
    assert json.loads(create.content) == PATIENT
    assert json.loads(update.content) == {**PATIENT, "id": "p1"}
    assert xml_create.headers["content-type"] == "application/fhir+xml"
    assert b'<Patient xmlns="http://hl7.org/fhir">' in xml_create.content
    assert xml_create.headers["prefer"] == "return=minimal"
    assert json.loads(server.seen[10].content) == transaction


def test_a_failure_stops_the_test_but_not_the_next(tmp_path: Path) -> None:
    missing = _fhir(404, {"resourceType": "OperationOutcome", "issue": []})
    loaded = write(
        tmp_path,
        build_script(
            [
                [
                    operation("read", resource="Patient", params="/gone"),
                    check(response="okay"),
                    check(resource="OperationOutcome"),
                    operation("read", resource="Patient", params="/p1"),
                    check(response="okay"),
                ],
                [operation("read", resource="Patient", params="/p1"), check(response="okay")],
            ]
        ),
    )
    server = Server({("GET", "/fhir/Patient/gone"): missing})
    result = _run(loaded, server)
    assert _statuses(result) == [
        ("test-1", ["pass", "fail", "pass", "skip", "skip"]),
        ("test-2", ["pass", "pass"]),
    ]
    assert not result.ok
    assert [str(r.url) for r in server.seen] == [f"{BASE}/Patient/gone", f"{BASE}/Patient/p1"]


def test_a_failed_setup_skips_the_tests_and_teardown_still_runs(tmp_path: Path) -> None:
    loaded = write(
        tmp_path,
        build_script(
            [[operation("read", resource="Patient", params="/p1")]],
            setup={"action": [operation("capabilities"), check(response="created")]},
            teardown={"action": [operation("delete", resource="Patient", params="/p1")]},
        ),
    )
    server = Server()
    result = _run(loaded, server)
    phases = result.scripts[0].phases
    assert [(p.kind, p.status) for p in phases] == [
        ("setup", "fail"),
        ("test", "skip"),
        ("teardown", "pass"),
    ]
    assert phases[1].note == "not run: the setup failed"
    assert [r.method for r in server.seen] == ["GET", "DELETE"]


def test_autocreate_and_autodelete(tmp_path: Path) -> None:
    loaded = write(
        tmp_path,
        build_script(
            [[operation("read", resource="Patient", targetId="p"), check(response="okay")]],
            fixture=[fixture("p", "patient.json", autocreate=True, autodelete=True)],
        ),
        {"patient.json": PATIENT},
    )
    server = Server()
    result = _run(loaded, server)
    assert result.ok
    assert [(r.method, r.url.path) for r in server.seen] == [
        ("POST", "/fhir/Patient"),
        ("GET", "/fhir/Patient/p1"),
        ("DELETE", "/fhir/Patient/p1"),
    ]


def test_the_token_is_sent_and_never_reported(tmp_path: Path) -> None:
    loaded = write(tmp_path, build_script([[operation("capabilities"), check(response="created")]]))
    server = Server()
    result = _run(loaded, server, token="s3cret-token")
    assert [r.headers["authorization"] for r in server.seen] == ["Bearer s3cret-token"]
    exchange = result.scripts[0].phases[0].actions[0].exchange
    assert exchange is not None
    assert exchange.request.headers["Authorization"] == "Bearer ***"
    assert "s3cret" not in html_report(result)
    assert b"s3cret" not in junit_xml(result)


def test_no_answer_is_an_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    loaded = write(tmp_path, build_script([[operation("capabilities"), check(response="okay")]]))
    result = _run(loaded, refuse)
    actions = result.scripts[0].phases[0].actions
    assert [a.status for a in actions] == ["error", "error"]
    assert actions[0].message.startswith(f"No response from {BASE}/metadata: ConnectError")
    assert actions[1].message == "The assert cannot be evaluated: No response has come back yet."
    assert not result.ok


def test_an_unresolvable_variable_stops_the_request(tmp_path: Path) -> None:
    loaded = write(
        tmp_path,
        build_script(
            [[operation("read", resource="Goal", params="/${goal}")]],
            variable=[{"name": "goal", "expression": "Bundle.entry.resource.id", "sourceId": "x"}],
            setup={"action": [operation("search", resource="Goal", responseId="x")]},
        ),
    )
    server = Server()
    result = _run(loaded, server)
    action = result.scripts[0].tests[0].actions[0]
    assert action.status == "error"
    assert "Variable goal has no value" in action.message
    assert len(server.seen) == 1  # the search of the setup only


def test_a_script_with_problems_is_an_error_and_never_runs(tmp_path: Path) -> None:
    data = build_script([[operation("read", resource="Patient", params="/p1")]])
    data["test"][0]["action"].append(check(response="okay", path="fhir:Patient"))
    loaded = write(tmp_path, data)
    server = Server()
    result = _run(loaded, server)
    script = result.scripts[0]
    assert script.status == "error"
    assert script.phases == []
    assert script.problems[0].expression == ("TestScript.test[0].action[1].assert.path",)
    assert server.seen == []
    assert not result.ok


def test_a_warning_only_assert_does_not_fail_the_run(tmp_path: Path) -> None:
    loaded = write(
        tmp_path,
        build_script([[operation("capabilities"), check(response="created", warningOnly=True)]]),
    )
    result = _run(loaded, Server())
    assert _statuses(result) == [("test-1", ["pass", "warning"])]
    assert result.ok


def test_a_body_that_is_not_fhir_is_sent_as_written(tmp_path: Path) -> None:
    loaded = write(
        tmp_path,
        build_script(
            [[operation("create", resource="Patient", sourceId="bad", contentType="text/plain")]],
            fixture=[fixture("bad", "bad.json")],
        ),
        {"bad.json": '{"resourceType": "Patient",'},
    )
    server = Server()
    result = _run(loaded, server)
    assert server.seen[0].content == b'{"resourceType": "Patient",'
    assert server.seen[0].headers["content-type"] == "text/plain"
    exchange = result.scripts[0].tests[0].actions[0].exchange
    assert exchange is not None
    assert "not FHIR JSON, sent as written" in exchange.request.note


def test_the_listener_hears_every_phase(tmp_path: Path) -> None:
    heard: list[str] = []

    class Listener:
        def script_started(self, loaded: LoadedScript) -> None:
            heard.append(f"start {loaded.id}")

        def phase_finished(self, loaded: LoadedScript, phase: PhaseResult) -> None:
            heard.append(f"{phase.kind} {phase.status}")

        def script_finished(self, result: ScriptResult) -> None:
            heard.append(f"end {result.status}")

    loaded = write(
        tmp_path,
        build_script(
            [[operation("capabilities"), check(response="okay")]],
            setup={"action": [operation("capabilities")]},
        ),
    )
    _run(loaded, Server(), listener=Listener())
    assert heard == ["start made-up", "setup pass", "test pass", "end pass"]
