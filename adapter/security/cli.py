"""``forlop token``: development keys and access tokens, and a token checker.

- ``keygen --dir DIR`` writes ``DIR/jwks.json`` (public; give it to ``forlop serve --jwks``) and
  ``DIR/private-key.pem`` (0600) beside it, and prints the key id;
- ``issue --key-dir DIR --issuer ISS --audience AUD --org ORGNR --scope "…"`` prints a signed
  access token shaped like HelseID's;
- ``verify --jwks … --issuer … --audience … TOKEN`` checks a token as ``forlop serve`` would and
  prints its claims.

Exit codes: 0 success, 1 the keys or the token are not usable (the message says why), 2 usage
errors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from adapter.fhir.errors import FhirError
from adapter.security.keys import (
    JWKS_FILE,
    PRIVATE_KEY_FILE,
    Algorithm,
    KeyFileError,
    generate_key_pair,
    issue_token,
    load_signing_key,
)
from adapter.security.settings import HPR_NUMBER_CLAIM, PID_CLAIM, AuthConfigError, AuthSettings
from adapter.security.tokens import TokenVerifier

app = typer.Typer(
    help="Development signing keys and access tokens (HelseID-shaped), and a token checker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


@app.command()
def keygen(
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the key pair.")],
    alg: Annotated[str, typer.Option("--alg", help="RS256 (default) or ES256.")] = "RS256",
    rotate: Annotated[
        bool,
        typer.Option(help="Replace an existing private key; keep old public keys in jwks.json."),
    ] = False,
) -> None:
    """Write a new key pair: DIR/jwks.json (public) and DIR/private-key.pem (private)."""
    if alg not in ("RS256", "ES256"):
        raise typer.BadParameter("must be RS256 or ES256", param_hint="--alg")
    algorithm: Algorithm = "RS256" if alg == "RS256" else "ES256"
    try:
        signing = generate_key_pair(directory, algorithm, rotate=rotate)
    except (KeyFileError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"Wrote {directory / JWKS_FILE} (public) and {directory / PRIVATE_KEY_FILE} "
        f"(private, owner-only); key id {signing.kid}.",
        err=True,
    )
    typer.echo(signing.kid)


@app.command()
def issue(
    key_dir: Annotated[Path, typer.Option("--key-dir", help="Folder written by keygen.")],
    issuer: Annotated[str, typer.Option(help="The iss claim.")],
    audience: Annotated[str, typer.Option(help="The aud claim.")],
    org: Annotated[str, typer.Option(help="Organisation number (orgnr_child claim).")],
    scope: Annotated[str, typer.Option(help='Space-separated scopes, e.g. "system/*.rs".')],
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 300,
    client_id: Annotated[str, typer.Option("--client-id")] = "forlop-dev-client",
    parent_org: Annotated[
        str | None, typer.Option("--parent-org", help="orgnr_parent when it differs from --org.")
    ] = None,
    pid: Annotated[str | None, typer.Option(help="Person number of the user (pid).")] = None,
    hpr_number: Annotated[str | None, typer.Option("--hpr-number", help="HPR number.")] = None,
) -> None:
    """Print a signed access token on standard output."""
    user = {PID_CLAIM: pid, HPR_NUMBER_CLAIM: hpr_number}
    try:
        signing = load_signing_key(key_dir)
        token = issue_token(
            signing,
            issuer=issuer,
            audience=audience,
            organisation=org,
            scope=scope,
            ttl=ttl,
            client_id=client_id,
            parent_organisation=parent_org,
            extra_claims={k: v for k, v in user.items() if v is not None},
        )
    except KeyFileError as exc:
        raise _fail(str(exc)) from None
    typer.echo(token)


@app.command()
def verify(
    jwks: Annotated[str, typer.Option(help="JWKS file or URL.")],
    issuer: Annotated[str, typer.Option(help="The expected iss.")],
    audience: Annotated[str, typer.Option(help="The expected aud.")],
    token: Annotated[str, typer.Argument(help="The token, or - to read standard input.")],
    org_claim: Annotated[str | None, typer.Option("--org-claim")] = None,
) -> None:
    """Check a token as the server would; print its claims as JSON."""
    settings = AuthSettings(jwks=jwks, issuer=issuer, audience=audience).with_overrides(
        org_claim=org_claim
    )
    try:
        settings.check("127.0.0.1")
    except AuthConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    text = sys.stdin.read().strip() if token == "-" else token.strip()
    try:
        principal = TokenVerifier(settings).verify(text)
    except FhirError as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps(dict(principal.claims), indent=2, sort_keys=True))
