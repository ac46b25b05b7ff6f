"""Reports of a conformance run: progress and summary on the console (rich), JUnit XML for CI
systems, and a self-contained HTML page a person can read.

The HTML report has no external assets (inline CSS, no scripts) and escapes every text it shows,
since response bodies come from the server under test. Credentials never appear: requests are
recorded with their Authorization header masked.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import UTC
from html import escape

from rich.console import Console
from rich.markup import escape as markup
from rich.table import Table

from adapter.conformance.model import LoadedScript
from adapter.conformance.results import (
    ActionResult,
    Exchange,
    PhaseResult,
    RunResult,
    ScriptResult,
    Status,
)
from adapter.conformance.summary import summary_of
from adapter.fhir.errors import FhirError
from adapter.fhir.json_codec import dump_json, parse_json

_BODY_SHOWN = 20_000
_MARK: dict[Status, str] = {
    "pass": "[green]✓[/]",
    "warning": "[yellow]![/]",
    "fail": "[red]✗[/]",
    "error": "[bold red]✗[/]",
    "skip": "[dim]–[/]",
}
_STYLE: dict[Status, str] = {
    "pass": "green",
    "warning": "yellow",
    "fail": "red",
    "error": "bold red",
    "skip": "dim",
}


def _problem_line(action: ActionResult) -> str:
    name = f"{action.title} [{action.label}]" if action.label else action.title
    if action.expected or action.actual:
        return f"{name}: expected {action.expected}; found {action.actual}"
    return f"{name}: {action.message}"


def _problem_issues(result: ScriptResult) -> list[str]:
    return [
        f"{', '.join(i.expression) or '-'}: {i.diagnostics} "
        f"({i.forlop_code.value if i.forlop_code else i.code})"
        for i in result.problems
    ]


# -- console ---------------------------------------------------------------------------------


class ConsoleProgress:
    """A :class:`~adapter.conformance.runner.Listener` printing each phase as it finishes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def script_started(self, loaded: LoadedScript) -> None:
        self.console.print(
            f"[bold]{markup(loaded.suite)}/{markup(loaded.id)}[/] {markup(loaded.title)}"
        )

    def phase_finished(self, loaded: LoadedScript, phase: PhaseResult) -> None:
        asserts = sum(1 for a in phase.actions if a.kind == "assert" and a.status != "skip")
        detail = phase.note or f"{asserts} assert{'s' if asserts != 1 else ''}"
        self.console.print(
            f"  {_MARK[phase.status]} {markup(phase.name)} [dim]({markup(detail)}, "
            f"{phase.elapsed_s:.2f} s)[/]"
        )
        for action in phase.actions:
            if action.status in ("fail", "error", "warning"):
                style = _STYLE[action.status]
                self.console.print(
                    f"      [{style}]{action.status}[/] {markup(_problem_line(action))}"
                )

    def script_finished(self, result: ScriptResult) -> None:
        if result.problems:
            self.console.print("  [bold red]✗ cannot be run[/]")
            for line in _problem_issues(result):
                self.console.print(f"      [bold red]error[/] {markup(line)}")


def print_summary(result: RunResult, console: Console) -> None:
    table = Table(title=f"Conformance of {result.base_url}", title_justify="left")
    table.add_column("TestScript", no_wrap=True)
    for column in ("Tests", "Pass", "Fail", "Error", "Skip", "Result"):
        table.add_column(column, justify="right")
    for script in result.scripts:
        tests = script.tests
        count = {s: sum(1 for t in tests if t.status == s) for s in _STYLE}
        table.add_row(
            markup(script.script_id),
            str(len(tests)),
            str(count["pass"] + count["warning"]),
            str(count["fail"]),
            str(count["error"] + (1 if script.problems else 0)),
            str(count["skip"]),
            f"[{_STYLE[script.status]}]{script.status}[/]",
        )
    console.print(table)
    counts = result.counts()
    verdict = "[bold green]PASSED[/]" if result.ok else "[bold red]FAILED[/]"
    console.print(
        f"{verdict}: {counts['pass'] + counts['warning']} passed, {counts['fail']} failed, "
        f"{counts['error']} errors, {counts['skip']} skipped in {result.elapsed_s:.1f} s"
    )


# -- JUnit XML -------------------------------------------------------------------------------


def _phase_log(phase: PhaseResult) -> str:
    lines = []
    for action in phase.actions:
        line = f"[{action.status}] {action.kind} {action.title}"
        if action.expected or action.actual:
            line += f": expected {action.expected}; found {action.actual}"
        elif action.message:
            line += f": {action.message}"
        lines.append(line)
    return "\n".join(lines)


def junit_xml(result: RunResult) -> bytes:
    """JUnit XML: one testsuite per TestScript, one testcase per test (and per setup or teardown
    that went wrong); a script that cannot be run is a testcase with an error."""
    counts = result.counts()
    root = ET.Element(
        "testsuites",
        name="forlop conformance",
        tests=str(sum(counts.values())),
        failures=str(counts["fail"]),
        errors=str(counts["error"]),
        skipped=str(counts["skip"]),
        time=f"{result.elapsed_s:.3f}",
    )
    stamp = result.started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    for script in result.scripts:
        classname = f"{script.suite}.{script.script_id}"
        suite = ET.SubElement(root, "testsuite", name=classname, timestamp=stamp)
        properties = ET.SubElement(suite, "properties")
        for name, value in (("base_url", result.base_url), ("script", str(script.path))):
            ET.SubElement(properties, "property", name=name, value=value)
        cases = 0
        tallies = {"fail": 0, "error": 0, "skip": 0}
        if script.problems:
            case = ET.SubElement(suite, "testcase", classname=classname, name="load")
            error = ET.SubElement(
                case, "error", message="The TestScript cannot be run", type="unsupported"
            )
            error.text = "\n".join(_problem_issues(script))
            cases, tallies["error"] = 1, 1
        for phase in script.phases:
            if phase.kind != "test" and phase.status in ("pass", "skip"):
                continue
            cases += 1
            case = ET.SubElement(
                suite,
                "testcase",
                classname=classname,
                name=phase.name,
                time=f"{phase.elapsed_s:.3f}",
            )
            problems = phase.problems
            if phase.status in ("fail", "error"):
                tag = "failure" if phase.status == "fail" else "error"
                element = ET.SubElement(case, tag, message=_problem_line(problems[0]), type=tag)
                element.text = "\n".join(_problem_line(p) for p in problems)
                tallies[phase.status] += 1
            elif phase.status == "skip":
                ET.SubElement(case, "skipped", message=phase.note or "skipped")
                tallies["skip"] += 1
            ET.SubElement(case, "system-out").text = _phase_log(phase)
        suite.set("tests", str(cases))
        suite.set("failures", str(tallies["fail"]))
        suite.set("errors", str(tallies["error"]))
        suite.set("skipped", str(tallies["skip"]))
        suite.set("time", f"{script.elapsed_s:.3f}")
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d2330;
line-height:1.4;max-width:80rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.5rem;
border-bottom:1px solid #ccd;padding-bottom:.2rem}h3{font-size:1.05rem;margin:1.4rem 0 .3rem}
.meta{color:#556}.badge{display:inline-block;padding:.05rem .5rem;border-radius:.7rem;
font-size:.8rem;font-weight:600;color:#fff;vertical-align:middle}
.pass{background:#1f7a3a}.warning{background:#a86b00}.fail{background:#b3261e}
.error{background:#6d0f0b}.skip{background:#8a8f99}
table{border-collapse:collapse;width:100%;margin:.3rem 0}th,td{text-align:left;
vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid #e3e5ea;font-size:.9rem}
th{background:#f3f4f7}tr.row-fail td,tr.row-error td{background:#fdf0ef}
tr.row-warning td{background:#fff8e6}td.kind{color:#556;white-space:nowrap}
details{margin:.2rem 0}summary{cursor:pointer;color:#2b4b8c}
pre{background:#f6f7f9;border:1px solid #e3e5ea;padding:.5rem;overflow:auto;max-height:28rem;
font-size:.8rem;white-space:pre-wrap;word-break:break-word}
.where{color:#778;font-size:.75rem;font-family:monospace}.problems li{margin:.2rem 0}
nav li{margin:.1rem 0}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _badge(status: Status) -> str:
    return f'<span class="badge {status}">{status}</span>'


def _anchor(script: ScriptResult) -> str:
    return _e(f"script-{script.suite}-{script.script_id}")


def _pretty(body: bytes | None) -> str:
    if not body:
        return "(no body)"
    try:
        text = dump_json(parse_json(body), pretty=True).decode()
    except FhirError:  # not FHIR JSON (XML, or a broken body): shown as it came
        text = body.decode("utf-8", errors="replace")
    if len(text) > _BODY_SHOWN:
        text = text[:_BODY_SHOWN] + f"\n… ({len(text) - _BODY_SHOWN} more characters)"
    return text


def _headers(headers: Mapping[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def _exchange(exchange: Exchange) -> str:
    request, response = exchange.request, exchange.response
    parts = [
        "<details><summary>Request and response</summary>",
        f"<p><strong>{_e(request.method)} {_e(request.url)}</strong></p>",
        f"<pre>{_e(_headers(request.headers))}</pre>",
    ]
    if request.note:
        parts.append(f"<p>{_e(request.note)}</p>")
    if request.body is not None:
        parts.append(f"<pre>{_e(_pretty(request.body))}</pre>")
    if response is None:
        parts.append(f"<p>No response: {_e(exchange.error)}</p>")
    else:
        summary = summary_of(response.resource) if response.resource else "no FHIR body"
        if response.parse_error:
            summary += f" ({response.parse_error})"
        parts += [
            f"<p><strong>{response.status} {_e(response.reason)}</strong> in "
            f"{response.elapsed_ms:.0f} ms: {_e(summary)}</p>",
            f"<pre>{_e(_headers(response.headers))}</pre>",
            f"<pre>{_e(_pretty(response.body))}</pre>",
        ]
    parts.append("</details>")
    return "".join(parts)


def _action_row(action: ActionResult) -> str:
    if action.kind == "operation":
        found = _e(action.message)
        if action.exchange is not None:
            found += _exchange(action.exchange)
        expected = ""
    else:
        expected = _e(action.expected)
        found = _e(action.actual or action.message)
    label = f" <span class='where'>{_e(action.label)}</span>" if action.label else ""
    return (
        f'<tr class="row-{action.status}"><td>{_badge(action.status)}</td>'
        f'<td class="kind">{_e(action.kind)}</td>'
        f"<td>{_e(action.title)}{label}<div class='where'>{_e(action.where)}</div></td>"
        f"<td>{expected}</td><td>{found}</td></tr>"
    )


def _phase(phase: PhaseResult) -> str:
    parts = [f"<h3>{_badge(phase.status)} {_e(phase.kind)}: {_e(phase.name)}</h3>"]
    if phase.description:
        parts.append(f"<p>{_e(phase.description)}</p>")
    if phase.note:
        parts.append(f"<p class='meta'>{_e(phase.note)}</p>")
    if phase.actions:
        parts.append(
            "<table><tr><th>Result</th><th>Kind</th><th>Action</th><th>Expected</th>"
            "<th>What came back</th></tr>"
        )
        parts += [_action_row(a) for a in phase.actions]
        parts.append("</table>")
    return "".join(parts)


def _script(script: ScriptResult) -> str:
    parts = [
        f'<section id="{_anchor(script)}"><h2>{_badge(script.status)} '
        f"{_e(script.suite)} / {_e(script.title)}</h2>",
        f"<p class='meta'>{_e(script.script_id)} · {_e(script.path.name)} · "
        f"{script.elapsed_s:.2f} s</p>",
    ]
    if script.description:
        parts.append(f"<p>{_e(script.description)}</p>")
    if script.problems:
        parts.append("<p>This TestScript cannot be run:</p><ul class='problems'>")
        parts += [f"<li>{_e(line)}</li>" for line in _problem_issues(script)]
        parts.append("</ul>")
    parts += [_phase(p) for p in script.phases]
    parts.append("</section>")
    return "".join(parts)


def _contents(scripts: Iterable[ScriptResult]) -> str:
    items = [
        f'<li>{_badge(s.status)} <a href="#{_anchor(s)}">{_e(s.suite)} / {_e(s.title)}</a></li>'
        for s in scripts
    ]
    return "<nav><ul>" + "".join(items) + "</ul></nav>"


def html_report(result: RunResult) -> str:
    """The whole run as one HTML page: every step's request and response, what each assert
    expected and what came back."""
    counts = result.counts()
    overall: Status = "pass" if result.ok else "fail"
    started = result.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>forlop conformance: {_e(result.base_url)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{_badge(overall)} Conformance of {_e(result.base_url)}</h1>"
        f"<p class='meta'>Started {_e(started)}, took {result.elapsed_s:.1f} s. Tests: "
        f"{counts['pass'] + counts['warning']} passed, {counts['fail']} failed, "
        f"{counts['error']} errors, {counts['skip']} skipped.</p>"
        f"{_contents(result.scripts)}"
        + "".join(_script(s) for s in result.scripts)
        + "</body></html>"
    )
