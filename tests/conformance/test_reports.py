"""Reports: JUnit XML that CI systems read, an HTML page that is self-contained and escapes what
the server sent, and a console summary."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from adapter.conformance import ConsoleProgress, html_report, junit_xml, print_summary
from adapter.conformance.model import LoadedScript
from adapter.conformance.results import (
    ActionResult,
    Exchange,
    HttpRequest,
    HttpResponse,
    PhaseResult,
    RunResult,
    ScriptResult,
)
from adapter.fhir.errors import Code, error_issue

HOSTILE = "<script>alert('x')</script>"


def _result() -> RunResult:
    body = (
        '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid",'
        f'"diagnostics":"{HOSTILE}"}}]}}'
    ).encode()
    exchange = Exchange(
        HttpRequest("POST", "http://x/fhir/Patient", {"Accept": "application/fhir+json"}, b"{}"),
        HttpResponse(
            400, "Bad Request", {"content-type": "application/fhir+json"}, body, None, None, 3.0
        ),
    )
    failing = PhaseResult(
        "test",
        "create",
        actions=[
            ActionResult(
                "operation",
                "POST Patient",
                "TestScript.test[0].action[0].operation",
                "pass",
                message="POST → 400",
                label="post",
                exchange=exchange,
            ),
            ActionResult(
                "assert",
                "Answers 201",
                "TestScript.test[0].action[1].assert",
                "fail",
                label="created-201",
                expected="the status is 201",
                actual=HOSTILE,
            ),
        ],
    )
    passing = PhaseResult(
        "test",
        "read",
        actions=[ActionResult("assert", "Answers 200", "w", "pass", expected="200", actual="200")],
    )
    skipped = PhaseResult("test", "later", note="not run: the setup failed")
    broken_teardown = PhaseResult(
        "teardown",
        "teardown",
        actions=[ActionResult("operation", "DELETE", "w", "error", message="No response")],
    )
    script = ScriptResult(
        "core",
        "core-x",
        "X",
        Path("core-x.json"),
        phases=[failing, passing, skipped, broken_teardown],
    )
    unsupported = ScriptResult(
        "core",
        "core-y",
        "Y",
        Path("core-y.json"),
        problems=(
            error_issue(
                "not-supported",
                Code.TESTSCRIPT_UNSUPPORTED,
                "XPath is not supported.",
                "TestScript.test[0].action[1].assert.path",
            ),
        ),
    )
    return RunResult(
        "http://x/fhir", datetime(2026, 11, 23, 12, 0, tzinfo=UTC), [script, unsupported], 1.5
    )


def test_junit_counts_and_names_every_problem() -> None:
    root = ET.fromstring(junit_xml(_result()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "5",
        "1",
        "2",
        "1",
    )
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"core.core-x", "core.core-y"}
    cases = {c.get("name"): c for c in suites["core.core-x"].iter("testcase")}
    assert set(cases) == {"create", "read", "later", "teardown"}
    failure = cases["create"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("Answers 201 [created-201]: expected the status")
    assert cases["read"].find("failure") is None and cases["read"].find("skipped") is None
    assert cases["later"].find("skipped") is not None
    assert cases["teardown"].find("error") is not None
    load = suites["core.core-y"].find("testcase")
    assert load is not None and load.get("name") == "load"
    error = load.find("error")
    assert error is not None and "TestScript.test[0].action[1].assert.path" in (error.text or "")


def test_html_escapes_what_the_server_sent_and_needs_nothing_else() -> None:
    page = html_report(_result())
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert re.findall(r'(?:src|href)="([^"#][^"]*)"', page) == []
    assert "the status is 201" in page
    assert "XPath is not supported." in page
    assert 'id="script-core-core-x"' in page and 'href="#script-core-core-x"' in page


def test_console_progress_and_summary() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    result = _result()
    progress = ConsoleProgress(console)
    progress.phase_finished(
        LoadedScript("core", Path("core-x.json"), None), result.scripts[0].phases[0]
    )
    progress.script_finished(result.scripts[1])
    print_summary(result, console)
    text = buffer.getvalue()
    assert "✗ create (1 assert" in text
    assert "fail Answers 201 [created-201]: expected the status is 201; found <script>" in text
    assert "error TestScript.test[0].action[1].assert.path: XPath is not supported." in text
    assert "FAILED: 1 passed, 1 failed, 2 errors, 1 skipped" in text
