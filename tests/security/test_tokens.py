"""Bearer token verification: what is accepted, and every kind of token that is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from adapter.fhir.errors import Code, FhirError
from adapter.security.errors import AuthError
from adapter.security.settings import (
    HPR_NUMBER_CLAIM,
    ORGNR_CHILD_CLAIM,
    PID_CLAIM,
    AuthSettings,
)
from adapter.security.tokens import (
    MAX_TOKEN_BYTES,
    Principal,
    TokenVerifier,
    bearer_token,
    insecure_dev_principal,
)

from .conftest import AUDIENCE, ISSUER, SYKEHUS, SYKEHUS_UNIT, TokenFactory, claims_for


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def refused(verifier: TokenVerifier, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    error = caught.value
    assert error.status == 401
    assert error.bearer_error == "invalid_token"
    assert error.issues[0].forlop_code is Code.UNAUTHENTICATED
    return error


@pytest.fixture
def verifier(settings: AuthSettings) -> TokenVerifier:
    return TokenVerifier(settings)


def test_a_good_rs256_token_gives_the_principal(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    token = make_token(**{PID_CLAIM: "15833812340", HPR_NUMBER_CLAIM: "9144900"})
    principal = verifier.verify(token)
    assert principal.client_id == "client-a"
    assert principal.organisation == SYKEHUS_UNIT
    assert principal.parent_organisation == SYKEHUS
    assert principal.pid == "15833812340"
    assert principal.hpr_number == "9144900"
    assert principal.token_id == "token-1"
    assert principal.scopes.allows("CarePlan", "search")
    assert not principal.scopes.allows("CarePlan", "create")
    assert principal.claims["iss"] == ISSUER
    assert not principal.unrestricted


def test_a_good_es256_token_is_accepted(
    verifier: TokenVerifier, make_token: TokenFactory, ec_key: ECKey
) -> None:
    assert verifier.verify(make_token(ec_key)).client_id == "client-a"


def test_the_organisation_falls_back_to_the_parent_claim(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    principal = verifier.verify(make_token(**{ORGNR_CHILD_CLAIM: None}))
    assert principal.organisation == SYKEHUS


def test_a_configured_organisation_claim_is_read_without_fallback(
    settings: AuthSettings, make_token: TokenFactory
) -> None:
    verifier = TokenVerifier(settings.with_overrides(org_claim="org"))
    assert verifier.verify(make_token(org=SYKEHUS)).organisation == SYKEHUS
    assert verifier.verify(make_token()).organisation is None


def test_scope_as_a_list_is_read(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    principal = verifier.verify(make_token(scope=["openid", "system/Goal.cruds"]))
    assert principal.scopes.allows("Goal", "delete")
    assert principal.scopes.ignored == ("openid",)


def test_a_token_within_the_clock_skew_is_accepted(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    now = int(time.time())
    assert verifier.verify(make_token(nbf=now + 20, iat=now + 20, exp=now + 300))
    assert verifier.verify(make_token(exp=now - 20))


def test_alg_none_is_refused(verifier: TokenVerifier, rsa_key: RSAKey) -> None:
    token = _segments({"alg": "none", "kid": rsa_key.kid}, claims_for()) + "."
    error = refused(verifier, token)
    assert "'none'" in str(error)


def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    verifier: TokenVerifier, rsa_key: RSAKey
) -> None:
    # The classic key-confusion forgery: HMAC with the issuer's public key (PEM) as the secret.
    signing_input = _segments({"alg": "HS256", "kid": rsa_key.kid}, claims_for())
    secret = rsa_key.as_pem(private=False)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    error = refused(verifier, signing_input + "." + _b64(signature))
    assert "HS256" in str(error)


def test_hs256_is_refused_even_when_configured_algorithms_are_wide(
    settings: AuthSettings, rsa_key: RSAKey
) -> None:
    verifier = TokenVerifier(settings.with_overrides(algorithms=("RS256", "PS256", "ES256")))
    signing_input = _segments({"alg": "HS256", "kid": rsa_key.kid}, claims_for())
    signature = hmac.new(rsa_key.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    refused(verifier, signing_input + "." + _b64(signature.digest()))


def test_an_expired_token_is_refused(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    error = refused(verifier, make_token(exp=int(time.time()) - 120))
    assert "expired" in str(error)
    assert error.issues[0].code == "expired"


def test_a_token_not_valid_yet_is_refused(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    now = int(time.time())
    error = refused(verifier, make_token(nbf=now + 120, exp=now + 600))
    assert "not valid yet" in str(error)


def test_a_token_issued_in_the_future_is_refused(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    now = int(time.time())
    refused(verifier, make_token(iat=now + 120, nbf=None, exp=now + 600))


def test_a_wrong_issuer_is_refused(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    assert "issuer" in str(refused(verifier, make_token(iss="https://evil.example")))


def test_a_wrong_audience_is_refused(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    assert "audience" in str(refused(verifier, make_token(aud="another-api")))
    assert verifier.verify(make_token(aud=["another-api", AUDIENCE]))


def test_missing_iss_aud_or_exp_is_refused(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    assert "exp" in str(refused(verifier, make_token(exp=None)))
    assert "iss" in str(refused(verifier, make_token(iss=None)))
    assert "aud" in str(refused(verifier, make_token(aud=None)))


def test_an_unknown_kid_is_refused(
    verifier: TokenVerifier, make_token: TokenFactory, other_rsa_key: RSAKey
) -> None:
    error = refused(verifier, make_token(other_rsa_key))
    assert other_rsa_key.kid is not None and other_rsa_key.kid in str(error)


def test_a_missing_kid_is_refused(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    assert "kid" in str(refused(verifier, make_token(header={"kid": None})))


def test_a_tampered_payload_is_refused(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    header, _, signature = make_token().split(".")
    forged = _b64(json.dumps(claims_for(scope="system/*.cruds")).encode())
    error = refused(verifier, f"{header}.{forged}.{signature}")
    assert "signature" in str(error)


def test_a_tampered_signature_is_refused(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    header, payload, signature = make_token().split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    refused(verifier, f"{header}.{payload}.{flipped}")


def test_a_token_whose_alg_does_not_fit_the_key_is_refused(
    verifier: TokenVerifier, make_token: TokenFactory, ec_key: ECKey, rsa_key: RSAKey
) -> None:
    # An RS256 header naming the EC key: the key type decides, not the header.
    token = make_token(rsa_key, header={"kid": ec_key.kid})
    refused(verifier, token)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "é.b.c", "x" * (MAX_TOKEN_BYTES + 1)],
)
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    refused(verifier, token)


def test_an_invalid_organisation_number_is_refused(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    error = refused(verifier, make_token(**{ORGNR_CHILD_CLAIM: "123456789"}))
    assert ORGNR_CHILD_CLAIM in str(error)


def test_a_token_without_any_client_is_refused(
    verifier: TokenVerifier, make_token: TokenFactory
) -> None:
    refused(verifier, make_token(client_id=None, sub=None))


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc.def.ghi ") == "abc.def.ghi"
    for header in (None, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer "):
        with pytest.raises(AuthError) as caught:
            bearer_token(header)
        assert caught.value.status == 401
        assert caught.value.bearer_error is None
        assert caught.value.www_authenticate() == 'Bearer realm="forlop"'
    with pytest.raises(AuthError) as caught:
        bearer_token("Bearer a b")
    assert caught.value.bearer_error == "invalid_token"


def test_authenticate_reads_the_header(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    assert verifier.authenticate("Bearer " + make_token()).client_id == "client-a"


def test_the_challenge_names_the_error(verifier: TokenVerifier, make_token: TokenFactory) -> None:
    error = refused(verifier, make_token(aud="x"))
    challenge = error.www_authenticate()
    assert challenge.startswith('Bearer realm="forlop", error="invalid_token"')
    assert "error_description=" in challenge
    outcome = error.outcome()
    assert outcome["issue"][0]["code"] == "login"


def test_keys_that_cannot_load_answer_503(tmp_path: Any, make_token: TokenFactory) -> None:
    settings = AuthSettings(jwks=str(tmp_path / "missing.json"), issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(FhirError) as caught:
        TokenVerifier(settings).verify(make_token())
    assert caught.value.status == 503
    assert caught.value.issues[0].forlop_code is Code.SIGNING_KEYS_UNAVAILABLE


def test_a_verifier_needs_complete_settings(settings: AuthSettings) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(AuthSettings(insecure_dev=True))
    with pytest.raises(ValueError, match="algorithms"):
        TokenVerifier(settings.with_overrides(algorithms=("RS256", "HS256")))


def test_the_insecure_dev_principal_is_unrestricted_but_has_no_organisation() -> None:
    principal = insecure_dev_principal()
    assert isinstance(principal, Principal)
    assert principal.unrestricted
    assert principal.organisation is None
    assert principal.scopes.allows("AuditEvent", "search")
