"""Development key pairs and tokens: files, permissions, rotation, and tokens the verifier takes."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from joserfc.jwk import ECKey, RSAKey

from adapter.security.keys import (
    JWKS_FILE,
    PRIVATE_KEY_FILE,
    KeyFileError,
    generate_key_pair,
    issue_token,
    load_signing_key,
)
from adapter.security.settings import (
    HPR_NUMBER_CLAIM,
    ORGNR_CHILD_CLAIM,
    ORGNR_PARENT_CLAIM,
    AuthSettings,
)
from adapter.security.tokens import TokenVerifier

from .conftest import AUDIENCE, ISSUER, KOMMUNE_A, SYKEHUS, SYKEHUS_UNIT

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def verifier_for(directory: Path) -> TokenVerifier:
    return TokenVerifier(
        AuthSettings(jwks=str(directory / JWKS_FILE), issuer=ISSUER, audience=AUDIENCE)
    )


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_keygen_writes_a_public_jwks_and_an_owner_only_private_key(
    tmp_path: Path, algorithm: str
) -> None:
    directory = tmp_path / "keys"
    signing = generate_key_pair(directory, algorithm)  # type: ignore[arg-type]
    private = directory / PRIVATE_KEY_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    (public,) = json.loads((directory / JWKS_FILE).read_text())["keys"]
    assert not PRIVATE_MEMBERS & set(public)
    assert public["kid"] == signing.kid
    assert public["alg"] == algorithm
    assert public["use"] == "sig"
    loaded = load_signing_key(directory)
    assert (loaded.kid, loaded.algorithm) == (signing.kid, algorithm)
    assert sorted(p.name for p in directory.iterdir()) == [JWKS_FILE, PRIVATE_KEY_FILE]


def test_keygen_does_not_replace_a_key_unless_rotating(tmp_path: Path) -> None:
    first = generate_key_pair(tmp_path, "ES256")
    with pytest.raises(KeyFileError, match="exists"):
        generate_key_pair(tmp_path, "ES256")
    assert load_signing_key(tmp_path).kid == first.kid


def test_rotation_keeps_old_public_keys_so_old_tokens_still_verify(tmp_path: Path) -> None:
    first = generate_key_pair(tmp_path, "ES256")
    old_token = issue_token(
        first, issuer=ISSUER, audience=AUDIENCE, organisation=KOMMUNE_A, scope="system/*.rs"
    )
    second = generate_key_pair(tmp_path, "ES256", rotate=True)
    assert second.kid != first.kid
    kids = [k["kid"] for k in json.loads((tmp_path / JWKS_FILE).read_text())["keys"]]
    assert kids == [second.kid, first.kid]
    assert load_signing_key(tmp_path).kid == second.kid
    verifier = verifier_for(tmp_path)
    assert verifier.verify(old_token).organisation == KOMMUNE_A
    new_token = issue_token(
        second, issuer=ISSUER, audience=AUDIENCE, organisation=KOMMUNE_A, scope="system/*.rs"
    )
    assert verifier.verify(new_token)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".private-key-")]


def test_issued_tokens_carry_the_helseid_claims(tmp_path: Path) -> None:
    signing = generate_key_pair(tmp_path)
    token = issue_token(
        signing,
        issuer=ISSUER,
        audience=AUDIENCE,
        organisation=SYKEHUS_UNIT,
        parent_organisation=SYKEHUS,
        scope="system/CarePlan.rs system/AuditEvent.rs",
        ttl=120,
        client_id="dips-arena",
        extra_claims={HPR_NUMBER_CLAIM: "9144900"},
        now=time.time(),
    )
    principal = verifier_for(tmp_path).verify(token)
    claims = principal.claims
    assert claims[ORGNR_CHILD_CLAIM] == SYKEHUS_UNIT
    assert claims[ORGNR_PARENT_CLAIM] == SYKEHUS
    assert claims["exp"] - claims["iat"] == 120
    assert claims["nbf"] == claims["iat"]
    assert claims["sub"] == claims["client_id"] == "dips-arena"
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert principal.organisation == SYKEHUS_UNIT
    assert principal.hpr_number == "9144900"
    assert principal.scopes.allows("AuditEvent", "search")


def test_an_issued_token_expires(tmp_path: Path) -> None:
    signing = generate_key_pair(tmp_path, "ES256")
    token = issue_token(
        signing,
        issuer=ISSUER,
        audience=AUDIENCE,
        organisation=KOMMUNE_A,
        scope="system/*.rs",
        ttl=60,
        now=time.time() - 3600,
    )
    with pytest.raises(Exception, match="expired"):
        verifier_for(tmp_path).verify(token)


@pytest.mark.parametrize(
    ("organisation", "ttl"),
    [("123456789", 300), ("91000001", 300), (KOMMUNE_A, 0), (KOMMUNE_A, 10**6)],
)
def test_issue_refuses_bad_input(tmp_path: Path, organisation: str, ttl: int) -> None:
    signing = generate_key_pair(tmp_path, "ES256")
    with pytest.raises(KeyFileError):
        issue_token(
            signing, issuer=ISSUER, audience=AUDIENCE, organisation=organisation, scope="", ttl=ttl
        )


def test_loading_a_missing_or_foreign_key_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="Cannot read"):
        load_signing_key(tmp_path)
    (tmp_path / PRIVATE_KEY_FILE).write_text("not a key")
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_signing_key(tmp_path)
    p384 = ECKey.generate_key("P-384", private=True)
    (tmp_path / PRIVATE_KEY_FILE).write_bytes(p384.as_pem(private=True))
    with pytest.raises(KeyFileError, match="neither"):
        load_signing_key(tmp_path)
    rsa = RSAKey.generate_key(2048, private=True)
    (tmp_path / PRIVATE_KEY_FILE).write_bytes(rsa.as_pem(private=True))
    assert load_signing_key(tmp_path).algorithm == "RS256"


def test_keygen_refuses_other_algorithms(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        generate_key_pair(tmp_path, "HS256")  # type: ignore[arg-type]
