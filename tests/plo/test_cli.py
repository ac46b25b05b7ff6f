"""``forlop plo import`` through typer's runner, on real files and a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapter.plo.cli import app
from adapter.plo.export import stay_of
from adapter.plo.message import parse_message
from adapter.store import open_repository
from tests.plo.conftest import BAD, MESSAGES, SHARED_XSD, needs_shared
from tests.plo.support import receipt, stored

runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["import"], ["export"]])
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_import_prints_what_it_wrote_and_writes_receipts(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'forlop.db'}"
    receipts = tmp_path / "apprec"
    files = [str(MESSAGES / "log-innlagt.xml"), str(MESSAGES / "log-utskrevet.xml")]
    result = runner.invoke(
        app, ["import", *files, "--database-url", database, "--apprec-dir", str(receipts)]
    )
    assert result.exit_code == 0, result.output
    assert "LOG_INNLAGT 7c1d2e3f-0001-4a00-9000-00000000b001: accepted (N)" in result.output
    assert "created          Encounter/" in result.output
    assert "updated          Encounter/" in result.output
    for name in ("log-innlagt", "log-utskrevet"):
        assert receipt((receipts / f"{name}.apprec.xml").read_bytes()) == ("1", [])
    # The same files again change nothing; the database is the same file.
    again = runner.invoke(app, ["import", *files, "--database-url", database])
    assert again.exit_code == 0
    assert again.output.count("already imported; nothing changed") == 2


def test_the_database_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORLOP_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = runner.invoke(app, ["import", str(MESSAGES / "dialog-foresporsel.xml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists()


def test_a_refused_message_exits_1_with_its_receipt(tmp_path: Path) -> None:
    receipts = tmp_path / "apprec"
    result = runner.invoke(
        app,
        [
            "import",
            str(BAD / "ugyldig-fodselsnummer.xml"),
            "--database-url",
            "memory:",
            "--apprec-dir",
            str(receipts),
        ],
    )
    assert result.exit_code == 1
    assert "rejected" in result.output and "error E31" in result.output
    status, errors = receipt((receipts / "ugyldig-fodselsnummer.apprec.xml").read_bytes())
    assert status == "2" and errors[0][0] == "E31"


def test_an_unreadable_file_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["import", str(tmp_path / "missing.xml"), "--database-url", "memory:"]
    )
    assert result.exit_code == 1
    assert "cannot read it" in result.output


def test_a_folder_that_is_not_a_schema_folder_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["import", str(MESSAGES / "log-innlagt.xml"), "--database-url", "memory:",
         "--xsd-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "MsgHead" in result.output


@needs_shared
def test_the_schema_folder_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORLOP_PLO_XSD_DIR", str(SHARED_XSD))
    body = (MESSAGES / "log-innlagt.xml").read_bytes().replace(b"<Anslag>false", b"<Anslag>nei")
    broken = tmp_path / "broken.xml"
    broken.write_bytes(body)
    result = runner.invoke(app, ["import", str(broken), "--database-url", "memory:"])
    assert result.exit_code == 1
    assert "error T02" in result.output


def _imported(tmp_path: Path, *names: str) -> str:
    database = f"sqlite:///{tmp_path / 'export.db'}"
    files = [str(MESSAGES / f"{name}.xml") for name in names]
    result = runner.invoke(app, ["import", *files, "--database-url", database])
    assert result.exit_code == 0, result.output
    return database


def test_export_writes_a_report_for_a_stay(tmp_path: Path) -> None:
    database = _imported(tmp_path, "utskrivningsrapport-ny")
    repository = open_repository(database)
    stay = stay_of(repository, "7c1d2e3f-0001-4a00-9000-00000000b005")
    repository.close()
    assert stay is not None
    target = tmp_path / "out.xml"
    result = runner.invoke(
        app,
        ["export", "--encounter", stay, "--type", "UTSKRIVNINGSRAPPORT", "--output", str(target),
         "--database-url", database],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert parse_message(target.read_bytes()).type.code == "UTSKRIVNINGSRAPPORT"
    printed = runner.invoke(
        app,
        ["export", "--encounter", stay, "--type", "INNLEGGELSESRAPPORT", "--database-url",
         database],
    )  # fmt: skip
    assert printed.exit_code == 0
    assert '<Type V="INNLEGGELSESRAPPORT"' in printed.output


def test_export_writes_the_dialogue_of_a_communication(tmp_path: Path) -> None:
    from adapter.store import open_repository

    database = _imported(tmp_path, "dialog-foresporsel")
    repository = open_repository(database)
    (communication,) = stored(repository, "Communication")
    repository.close()
    result = runner.invoke(
        app, ["export", "--communication", communication["id"], "--database-url", database]
    )
    assert result.exit_code == 0, result.output
    assert "DIALOG_FORESPORSEL" in result.output and "Blodtrykksmedisin" in result.output


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        ([], 2, "either --encounter"),
        (["--encounter", "e", "--communication", "c"], 2, "either --encounter"),
        (["--encounter", "e"], 2, "needs --type"),
        (["--encounter", "e", "--type", "UTSKRIVNINGSRAPPORT"], 1, "no Encounter/e"),
        (["--communication", "c"], 1, "no Communication/c"),
    ],
)
def test_export_usage_and_missing_data(arguments: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, ["export", *arguments, "--database-url", "memory:"])
    assert result.exit_code == code
    assert message in result.output
