"""``forlop token`` through typer's runner: keygen, then issue, then verify."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from adapter.security.cli import app
from adapter.security.keys import JWKS_FILE, PRIVATE_KEY_FILE
from adapter.security.settings import ORGNR_CHILD_CLAIM, AuthSettings
from adapter.security.tokens import TokenVerifier

from .conftest import AUDIENCE, ISSUER, KOMMUNE_A, KOMMUNE_B

runner = CliRunner()


def _issue(directory: Path, *extra: str) -> list[str]:
    return [
        "issue",
        "--key-dir",
        str(directory),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--org",
        KOMMUNE_A,
        "--scope",
        "system/CarePlan.rs system/Goal.rs",
        *extra,
    ]


def test_keygen_issue_verify(tmp_path: Path) -> None:
    keygen = runner.invoke(app, ["keygen", "--dir", str(tmp_path / "k")])
    assert keygen.exit_code == 0, keygen.output
    kid = keygen.stdout.strip()
    directory = tmp_path / "k"
    assert stat.S_IMODE((directory / PRIVATE_KEY_FILE).stat().st_mode) == 0o600
    assert json.loads((directory / JWKS_FILE).read_text())["keys"][0]["kid"] == kid

    issued = runner.invoke(app, _issue(directory, "--ttl", "120", "--client-id", "gerica"))
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert token.count(".") == 2

    settings = AuthSettings(jwks=str(directory / JWKS_FILE), issuer=ISSUER, audience=AUDIENCE)
    principal = TokenVerifier(settings).verify(token)
    assert principal.client_id == "gerica"
    assert principal.organisation == KOMMUNE_A
    assert principal.scopes.allows("Goal", "search")
    assert principal.claims["exp"] - principal.claims["iat"] == 120

    verified = runner.invoke(
        app,
        [
            "verify",
            "--jwks",
            str(directory / JWKS_FILE),
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            token,
        ],
    )
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)[ORGNR_CHILD_CLAIM] == KOMMUNE_A


def test_verify_reads_standard_input_and_refuses_a_wrong_audience(tmp_path: Path) -> None:
    assert runner.invoke(app, ["keygen", "--dir", str(tmp_path), "--alg", "ES256"]).exit_code == 0
    token = runner.invoke(app, _issue(tmp_path)).stdout.strip()
    base = ["verify", "--jwks", str(tmp_path / JWKS_FILE), "--issuer", ISSUER]
    ok = runner.invoke(app, [*base, "--audience", AUDIENCE, "-"], input=token + "\n")
    assert ok.exit_code == 0, ok.output
    wrong = runner.invoke(app, [*base, "--audience", "other", token])
    assert wrong.exit_code == 1
    assert "audience" in wrong.stderr


def test_issue_with_user_claims_and_parent_organisation(tmp_path: Path) -> None:
    runner.invoke(app, ["keygen", "--dir", str(tmp_path)])
    issued = runner.invoke(
        app, _issue(tmp_path, "--parent-org", KOMMUNE_B, "--hpr-number", "9144900")
    )
    assert issued.exit_code == 0, issued.output
    settings = AuthSettings(jwks=str(tmp_path / JWKS_FILE), issuer=ISSUER, audience=AUDIENCE)
    principal = TokenVerifier(settings).verify(issued.stdout.strip())
    assert principal.parent_organisation == KOMMUNE_B
    assert principal.hpr_number == "9144900"
    assert principal.pid is None


def test_errors_have_exit_codes(tmp_path: Path) -> None:
    missing = runner.invoke(app, _issue(tmp_path / "nowhere"))
    assert missing.exit_code == 1
    assert "Cannot read" in missing.stderr
    runner.invoke(app, ["keygen", "--dir", str(tmp_path)])
    again = runner.invoke(app, ["keygen", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "rotate" in again.stderr
    rotated = runner.invoke(app, ["keygen", "--dir", str(tmp_path), "--rotate"])
    assert rotated.exit_code == 0
    bad_org = runner.invoke(app, [*_issue(tmp_path)[:-4], "--org", "123", "--scope", "x"])
    assert bad_org.exit_code == 1 and "organisation number" in bad_org.stderr
    assert runner.invoke(app, ["keygen", "--dir", str(tmp_path), "--alg", "HS256"]).exit_code == 2
    http = runner.invoke(
        app,
        [
            "verify",
            "--jwks",
            "http://issuer.example/jwks",
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "t",
        ],
    )
    assert http.exit_code == 2
