"""``forlop plo``: PLO messages (KITH XML) into the FHIR store and back out again.

``forlop plo import FILE...`` imports each message in turn, prints what it created, updated or left
unchanged (or why it was refused) and, with ``--apprec-dir``, writes the AppRec v1.1 receipt for
each file as ``<file stem>.apprec.xml``. Exit codes: 0 every message accepted, 1 a message was
refused or a file could not be read, 2 usage errors.

``forlop plo export`` writes an INNLEGGELSESRAPPORT or UTSKRIVNINGSRAPPORT for a stay
(``--encounter ID --type ...``), or the Dialogmelding of a Communication (``--communication ID``),
to standard output or ``--output``. Exit codes: 0 written, 1 nothing to export, 2 usage errors.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from adapter.config import DEFAULT_DATABASE_URL, Settings

app = typer.Typer(
    help="PLO messages (pleie- og omsorgsmeldinger, KITH XML) into FHIR, with AppRec receipts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)


@app.callback()
def plo() -> None:
    """PLO messages (pleie- og omsorgsmeldinger, KITH XML) into FHIR, with AppRec receipts."""


@app.command("import")
def import_files(
    files: Annotated[list[Path], typer.Argument(help="PLO messages (MsgHead v1.2 XML).")],
    database_url: Annotated[
        str,
        typer.Option(
            envvar="FORLOP_DATABASE_URL",
            help="sqlite:///path/to/file.db (default ./forlop.db), postgresql://... or memory:.",
        ),
    ] = DEFAULT_DATABASE_URL,
    apprec_dir: Annotated[
        Path | None,
        typer.Option(help="Write each message's AppRec receipt here as <file stem>.apprec.xml."),
    ] = None,
    xsd_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="FORLOP_PLO_XSD_DIR",
            help="A folder of KITH schemas (MsgHead, the v1.6 messages, Dialogmelding, AppRec): "
            "validate every message against them first.",
        ),
    ] = None,
) -> None:
    """Import PLO messages: each becomes one FHIR transaction, answered with an AppRec."""
    from adapter.plo.importer import import_message
    from adapter.plo.xsd import SchemaFolderError
    from adapter.registry import default_registry
    from adapter.router.crud import Context
    from adapter.store import open_repository
    from adapter.validation.validator import validate

    registry = default_registry()
    settings = Settings.from_env().with_overrides(database_url=database_url)

    def checked(resource: dict[str, Any]) -> list[Any]:
        return validate(resource, registry)

    context = Context(registry, settings, checked)
    if apprec_dir is not None:
        apprec_dir.mkdir(parents=True, exist_ok=True)
    failed = False
    repository = open_repository(settings.database_url)
    try:
        for path in files:
            try:
                body = path.read_bytes()
            except OSError as exc:
                err.print(f"[red]error[/] {path}: cannot read it ({exc.strerror}).")
                failed = True
                continue
            try:
                apprec, _status, summary = import_message(
                    body, repository, context, xsd_dir=xsd_dir
                )
            except SchemaFolderError as exc:
                err.print(f"[red]error[/] --xsd-dir: {exc}")
                raise typer.Exit(2) from None
            sys.stdout.write(f"{path}\n")
            sys.stdout.write("".join(f"  {line}\n" for line in summary.lines()))
            if apprec_dir is not None:
                (apprec_dir / f"{path.stem}.apprec.xml").write_bytes(apprec)
            failed = failed or not summary.accepted
    finally:
        repository.close()
    sys.stdout.flush()
    if failed:
        raise typer.Exit(1)


class ReportType(StrEnum):
    INNLEGGELSESRAPPORT = "INNLEGGELSESRAPPORT"
    UTSKRIVNINGSRAPPORT = "UTSKRIVNINGSRAPPORT"


@app.command("export")
def export(
    encounter: Annotated[
        str | None, typer.Option(help="The stay (Encounter id) to write a report for.")
    ] = None,
    report_type: Annotated[
        ReportType | None, typer.Option("--type", help="The report to write for the stay.")
    ] = None,
    communication: Annotated[
        str | None, typer.Option(help="The Communication id to write as a Dialogmelding.")
    ] = None,
    sender_her: Annotated[
        str | None, typer.Option(help="The sending unit's HER-id (default: from the data).")
    ] = None,
    receiver_her: Annotated[
        str | None, typer.Option(help="The receiving unit's HER-id (default: from the data).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of to stdout.")] = None,
    database_url: Annotated[
        str, typer.Option(envvar="FORLOP_DATABASE_URL", help="The store to read from.")
    ] = DEFAULT_DATABASE_URL,
) -> None:
    """Write a PLO message (MsgHead v1.2) from what the FHIR store holds."""
    from adapter.plo.export import ExportError, export_communication, export_encounter
    from adapter.store import open_repository

    if (encounter is None) == (communication is None):
        err.print("[red]error[/] give either --encounter (with --type) or --communication.")
        raise typer.Exit(2)
    if encounter is not None and report_type is None:
        err.print("[red]error[/] --encounter needs --type INNLEGGELSESRAPPORT|UTSKRIVNINGSRAPPORT.")
        raise typer.Exit(2)
    repository = open_repository(database_url)
    try:
        if encounter is not None and report_type is not None:
            message = export_encounter(
                repository,
                encounter,
                report_type.value,
                sender_her=sender_her,
                receiver_her=receiver_her,
            )
        else:
            assert communication is not None
            message = export_communication(
                repository, communication, sender_her=sender_her, receiver_her=receiver_her
            )
    except ExportError as exc:
        err.print(f"[red]error[/] {exc}")
        raise typer.Exit(1) from None
    finally:
        repository.close()
    if output is not None:
        output.write_bytes(message)
    else:
        sys.stdout.buffer.write(message)
        sys.stdout.flush()
