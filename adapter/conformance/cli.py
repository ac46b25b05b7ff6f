"""``forlop conformance``: run the conformance TestScripts against a FHIR R4 server, list them.

Exit codes: 0 every test passed, 1 a test failed or a TestScript could not be run, 2 usage errors
(an unknown suite or script, a base URL that is not http(s), a report that cannot be written).
Progress goes to standard error, the summary to standard output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="Conformance suites (FHIR R4 TestScripts) to run against any FHIR R4 server.",
    no_args_is_help=True,
)

FixturesOption = Annotated[
    Path | None,
    typer.Option(
        "--fixtures",
        help="Folder of suites (one sub-folder of TestScripts each); default: forlop's own.",
        file_okay=False,
        exists=True,
    ),
]


def _names(values: list[str] | None) -> list[str]:
    """Repeated options, each possibly comma-separated."""
    return [n.strip() for value in values or [] for n in value.split(",") if n.strip()]


@app.command("run")
def run(
    base_url: Annotated[
        str, typer.Option("--base-url", help="FHIR base, e.g. http://127.0.0.1:8080/fhir")
    ],
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", help="Suite to run (repeat, or comma-separate); default: all."),
    ] = None,
    script: Annotated[
        list[str] | None,
        typer.Option("--script", help="Only the TestScripts with these ids (repeatable)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="FORLOP_CONFORMANCE_TOKEN",
            help="Bearer token sent as 'Authorization: Bearer …' (never shown in reports).",
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write a JUnit XML report here.", dir_okay=False)
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write an HTML report here.", dir_okay=False)
    ] = None,
    fixtures: FixturesOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each response.")
    ] = 30.0,
) -> None:
    """Run the suites; exit 1 when any test fails or any TestScript cannot be run."""
    from adapter.conformance.loader import UnknownSuite, load_suites
    from adapter.conformance.reports import ConsoleProgress, html_report, junit_xml, print_summary
    from adapter.conformance.runner import Runner

    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False)
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        err.print(f"[red]--base-url must be an http(s) URL, not {escape(base_url)!r}[/]")
        raise typer.Exit(2)
    try:
        suites = load_suites(fixtures, _names(suite))
    except UnknownSuite as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    wanted = _names(script)
    known = {s.id for each in suites for s in each.scripts}
    if unknown := [name for name in wanted if name not in known]:
        err.print(f"[red]No TestScript {', '.join(unknown)} in the suites chosen.[/]")
        raise typer.Exit(2)
    if not known:
        err.print("[red]The suites chosen hold no TestScripts.[/]")
        raise typer.Exit(2)
    runner = Runner(base_url, token=token, timeout=timeout, listener=ConsoleProgress(err))
    result = runner.run(suites, wanted)
    try:
        if junit:
            junit.write_bytes(junit_xml(result))
        if html:
            html.write_text(html_report(result), encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]Cannot write the report: {escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    print_summary(result, out)
    for path in (junit, html):
        if path:
            err.print(f"Report written to {escape(str(path))}")
    raise typer.Exit(0 if result.ok else 1)


@app.command("list")
def list_suites(fixtures: FixturesOption = None) -> None:
    """The suites and their TestScripts."""
    from adapter.conformance.loader import load_suites

    out = Console(highlight=False)
    suites = load_suites(fixtures)
    if not suites:
        out.print("No conformance suites found.")
        raise typer.Exit(1)
    table = Table(title="Conformance suites", title_justify="left")
    for column in ("Suite", "TestScript", "Tests", "Title"):
        table.add_column(column)
    broken = False
    for each in suites:
        for loaded in each.scripts:
            tests = str(len(loaded.script.tests)) if loaded.script else "[red]cannot run[/]"
            broken = broken or loaded.script is None
            table.add_row(escape(each.name), escape(loaded.id), tests, escape(loaded.title))
    out.print(table)
    out.print("Run: forlop conformance run --base-url http://127.0.0.1:8080/fhir [--suite NAME]")
    if broken:
        out.print("[red]Some TestScripts cannot be run; `run` reports why.[/]")
        raise typer.Exit(1)
