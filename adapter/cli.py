"""The ``forlop`` command line: map, extract, validate and convert (and, later, serve).

Exit codes: 0 success, 1 the input has errors (an OperationOutcome explains them), 2 usage errors.
Results go to standard output; findings and progress to standard error, so output can be piped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from adapter.conformance.cli import app as conformance_app
from adapter.fhir.errors import Code, FhirError, Issue, has_errors, invalid, outcome
from adapter.fhir.json_codec import dump_json
from adapter.fhir.wire import Format, read_resource, write_resource
from adapter.plo.cli import app as plo_app
from adapter.security.cli import app as token_app

app = typer.Typer(
    help="forlop: PSFS goals and PaTH checklists between hospitals and municipalities, in FHIR R4.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
map_app = typer.Typer(help="Map between the plain domain form and FHIR, either way.")
app.add_typer(map_app, name="map")
app.add_typer(token_app, name="token", help="Signing keys and access tokens for development.")
app.add_typer(conformance_app, name="conformance", help="Run conformance TestScripts.")
app.add_typer(plo_app, name="plo", help="PLO messages (KITH XML) to FHIR and back.")

err = Console(stderr=True, highlight=False)

_SEVERITY_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "information": "blue"}


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _read(path: Path) -> dict[str, Any]:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise invalid(
            f"Cannot read {path}: {exc.strerror}.", forlop_code=Code.MAPPING_INPUT
        ) from None
    return read_resource(body)


def _print_issues(issues: Sequence[Issue], source: str) -> None:
    for issue in issues:
        # Text from the input (paths like value[x], quoted values) must not be read as markup.
        where = escape(", ".join(issue.expression) or "-")
        code = issue.forlop_code.value if issue.forlop_code else issue.code
        err.print(
            f"[{_SEVERITY_STYLE[issue.severity]}]{issue.severity:<7}[/] {escape(source)}: "
            f"{where}: {escape(issue.diagnostics)} [dim]({code})[/]"
        )


def _emit(resource: dict[str, Any], fmt: Format, pretty: bool = True) -> None:
    sys.stdout.buffer.write(write_resource(resource, fmt, pretty=pretty) + b"\n")
    sys.stdout.flush()


def _fail(error: FhirError, source: str) -> typer.Exit:
    _print_issues(error.issues, source)
    return typer.Exit(1)


FileArg = Annotated[Path, typer.Argument(help="Input file: FHIR JSON or XML, or domain JSON.")]
ToOption = Annotated[Format, typer.Option("--to", help="FHIR output format.")]


@map_app.command("psfs")
def map_psfs(file: FileArg, to: ToOption = Format.JSON) -> None:
    """A PSFS series (domain JSON) -> FHIR transaction Bundle, or such a Bundle -> domain JSON."""
    from adapter.mapping.domain_json import series_from_json, series_to_json
    from adapter.mapping.psfs import bundle_to_series, series_to_bundle

    try:
        data = _read(file)
        if data.get("resourceType") == "Bundle":
            series, plan = bundle_to_series(data)
            sys.stdout.buffer.write(dump_json(series_to_json(series, plan), pretty=True) + b"\n")
        else:
            _emit(series_to_bundle(*series_from_json(data)), to)
    except FhirError as error:
        raise _fail(error, str(file)) from None


@map_app.command("path")
def map_path(file: FileArg, to: ToOption = Format.JSON) -> None:
    """A filled PaTH checklist (domain JSON) -> QuestionnaireResponse, or the reverse."""
    from adapter.mapping.domain_json import checklist_from_json, checklist_to_json
    from adapter.mapping.path_response import checklist_to_response, response_to_checklist
    from adapter.validation.validator import validate

    try:
        data = _read(file)
        if data.get("resourceType") == "QuestionnaireResponse":
            issues = validate(data)
            if has_errors(issues):
                raise FhirError(422, issues)
            response = response_to_checklist(data)
            sys.stdout.buffer.write(dump_json(checklist_to_json(response), pretty=True) + b"\n")
        else:
            _emit(checklist_to_response(checklist_from_json(data)), to)
    except FhirError as error:
        raise _fail(error, str(file)) from None


@app.command()
def extract(
    file: Annotated[Path, typer.Argument(help="A PSFS QuestionnaireResponse (JSON or XML).")],
    previous: Annotated[
        list[Path] | None,
        typer.Option(
            "--previous", help="An earlier response of the same series (repeat for more)."
        ),
    ] = None,
    to: ToOption = Format.JSON,
) -> None:
    """QuestionnaireResponse -> transaction Bundle of Goals, score Observations and Provenance."""
    from adapter.mapping.psfs import extract as extract_bundle
    from adapter.validation.validator import validate

    try:
        responses = [_read(path) for path in [*(previous or []), file]]
        for path, response in zip([*(previous or []), file], responses, strict=True):
            issues = validate(response)
            if has_errors(issues):
                raise _fail(FhirError(422, issues), str(path))
        bundle, warnings = extract_bundle(responses[-1], responses[:-1])
        _print_issues(warnings, str(file))
        _emit(bundle, to)
    except FhirError as error:
        raise _fail(error, str(file)) from None


@app.command("validate")
def validate_files(
    files: Annotated[list[Path], typer.Argument(help="FHIR resources (JSON or XML).")],
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="text for people, json for the OperationOutcome."),
    ] = OutputFormat.TEXT,
) -> None:
    """Validate against base R4, our profiles and Questionnaires; exit 1 on any error."""
    from adapter.validation.validator import validate

    failed = False
    outcomes = []
    for path in files:
        try:
            issues = validate(_read(path))
        except FhirError as error:
            issues = list(error.issues)
        failed = failed or has_errors(issues)
        if output is OutputFormat.JSON:
            outcomes.append(outcome(issues))
        else:
            _print_issues(issues, str(path))
            status = "[red]invalid[/]" if has_errors(issues) else "[green]valid[/]"
            err.print(f"{escape(str(path))}: {status}")
    if output is OutputFormat.JSON:
        result = outcomes[0] if len(outcomes) == 1 else outcomes
        sys.stdout.buffer.write(dump_json(result, pretty=True) + b"\n")
    if failed:
        raise typer.Exit(1)


@app.command()
def convert(
    file: FileArg,
    to: Annotated[Format, typer.Option("--to", help="Target format.")],
) -> None:
    """Convert a FHIR resource between JSON and XML."""
    try:
        _emit(_read(file), to)
    except FhirError as error:
        raise _fail(error, str(file)) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="FORLOP_HOST", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="FORLOP_PORT", help="Port to bind.")] = 8080,
    database_url: Annotated[
        str,
        typer.Option(
            envvar="FORLOP_DATABASE_URL",
            help="sqlite:///path/to/file.db (default ./forlop.db) or postgresql://user@host/db.",
        ),
    ] = "sqlite:///./forlop.db",
    workers: Annotated[
        int, typer.Option(envvar="FORLOP_WORKERS", min=1, help="Server processes.")
    ] = 1,
    max_body_bytes: Annotated[
        int, typer.Option(envvar="FORLOP_MAX_BODY_BYTES", min=1, help="Largest request body.")
    ] = 16 * 1024 * 1024,
    max_json_depth: Annotated[
        int, typer.Option(envvar="FORLOP_MAX_JSON_DEPTH", min=8, max=200, help="Deepest nesting.")
    ] = 64,
    max_bundle_entries: Annotated[
        int, typer.Option(envvar="FORLOP_MAX_BUNDLE_ENTRIES", min=1, help="Largest Bundle.")
    ] = 1000,
    plo_xsd_dir: Annotated[
        str,
        typer.Option(
            envvar="FORLOP_PLO_XSD_DIR", help="PLO XSD folder: POST /plo validates against it."
        ),
    ] = "",
    log_level: Annotated[str, typer.Option(envvar="FORLOP_LOG_LEVEL")] = "info",
    jwks: Annotated[
        str | None,
        typer.Option(
            envvar="FORLOP_JWKS",
            help="The token issuer's JSON Web Key Set: a file, or an https URL.",
        ),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(envvar="FORLOP_ISSUER", help="The iss every access token must carry."),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(envvar="FORLOP_AUDIENCE", help="The aud every access token must carry."),
    ] = None,
    org_claim: Annotated[
        str | None,
        typer.Option(
            envvar="FORLOP_ORG_CLAIM",
            help="The claim holding the caller's organisation number (default HelseID's "
            "orgnr_child, then orgnr_parent).",
        ),
    ] = None,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev",
            envvar="FORLOP_INSECURE_DEV",
            help="Turn authentication and access control off (loopback addresses only).",
        ),
    ] = False,
) -> None:
    """Run the FHIR server (base URL http://HOST:PORT/fhir, OpenAPI docs at /docs).

    Requests need bearer tokens from the issuer given by --jwks, --issuer and --audience; a
    development server on a loopback address may run with --insecure-dev instead.
    """
    import os

    import uvicorn

    from adapter.config import Settings
    from adapter.security.settings import AuthConfigError, AuthSettings

    try:
        auth = AuthSettings.from_env().with_overrides(
            jwks=jwks,
            issuer=issuer,
            audience=audience,
            org_claim=org_claim,
            insecure_dev=insecure_dev or None,
        )
        auth.check(host)
    except AuthConfigError as exc:
        err.print(f"[red]forlop serve: {escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    settings = Settings(
        host=host,
        port=port,
        database_url=database_url,
        workers=workers,
        max_body_bytes=max_body_bytes,
        max_json_depth=max_json_depth,
        max_bundle_entries=max_bundle_entries,
        plo_xsd_dir=plo_xsd_dir,
    )
    err.print(f"forlop: FHIR base http://{host}:{port}{settings.base_path} ({workers} worker(s))")
    warning = auth.startup_warning(host)
    if warning:
        err.print(f"[bold yellow]{escape(warning)}[/]")
    else:
        issued = f"issuer {auth.issuer}, audience {auth.audience}, keys {auth.jwks}"
        err.print(f"forlop: requests need bearer tokens ({escape(issued)})")
    if workers > 1:
        # Worker processes rebuild the app from the environment.
        os.environ.update(settings.to_env())
        os.environ.update(auth.to_env())
        uvicorn.run(
            "adapter.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
    else:
        from adapter.app import create_app

        uvicorn.run(create_app(settings, auth=auth), host=host, port=port, log_level=log_level)
