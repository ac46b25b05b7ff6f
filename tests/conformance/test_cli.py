"""``forlop conformance list`` and ``run`` (the sub-app the ``forlop`` command mounts)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from adapter.conformance import load_suites
from adapter.conformance.cli import app
from tests.conformance.scripts import build_script, check, operation
from tests.conformance.wrong_server import WrongServer


def test_list_shows_every_suite_and_script() -> None:
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for suite in load_suites():
        for loaded in suite.scripts:
            assert loaded.id in result.output


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    unknown_suite = runner.invoke(app, ["run", "--base-url", "http://x/fhir", "--suite", "nope"])
    assert unknown_suite.exit_code == 2
    assert "No suite nope" in unknown_suite.output
    not_http = runner.invoke(app, ["run", "--base-url", "ftp://x/fhir"])
    assert not_http.exit_code == 2
    unknown_script = runner.invoke(
        app, ["run", "--base-url", "http://x/fhir", "--suite", "core", "--script", "nope"]
    )
    assert unknown_script.exit_code == 2
    assert "No TestScript nope" in unknown_script.output


def test_a_script_that_cannot_run_fails_the_run(tmp_path: Path) -> None:
    data = build_script([[operation("capabilities"), check(response="okay", path="x")]])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mine-x.json").write_text(json.dumps(data))
    runner = CliRunner()
    listed = runner.invoke(app, ["list", "--fixtures", str(tmp_path)])
    assert listed.exit_code == 1
    assert "cannot run" in listed.output
    ran = runner.invoke(
        app, ["run", "--base-url", "http://127.0.0.1:9/fhir", "--fixtures", str(tmp_path)]
    )
    assert ran.exit_code == 1
    assert "XPath/JSONPath is not supported" in ran.output


def test_an_unreachable_server_fails_the_run(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--base-url",
            "http://127.0.0.1:9/fhir",
            "--script",
            "core-capabilities",
            "--junit",
            str(junit),
            "--timeout",
            "5",
        ],
    )
    assert result.exit_code == 1
    assert "No response from http://127.0.0.1:9/fhir/metadata" in junit.read_text()


def test_run_passes_with_a_token_that_never_shows(wrong: WrongServer, tmp_path: Path) -> None:
    junit, html = tmp_path / "junit.xml", tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--base-url",
            wrong.base_url,
            "--suite",
            "core",
            "--script",
            "core-capabilities",
            "--token",
            "s3cret-token",
            "--junit",
            str(junit),
            "--html",
            str(html),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output
    assert wrong.seen and all(
        s.headers.get("authorization") == "Bearer s3cret-token" for s in wrong.seen
    )
    for text in (result.output, junit.read_text(), html.read_text()):
        assert "s3cret" not in text
    assert "Bearer ***" in html.read_text()
