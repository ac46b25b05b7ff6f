"""Keys, tokens and synthetic organisations shared by the security tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

from adapter.security.settings import ORGNR_CHILD_CLAIM, ORGNR_PARENT_CLAIM, AuthSettings

ISSUER = "https://helseid-sts.test.example"
AUDIENCE = "forlop-api"
# Synthetic organisation numbers (valid mod 11): two municipalities and one hospital.
KOMMUNE_A = "910000012"
KOMMUNE_B = "920000029"
SYKEHUS = "930000035"
SYKEHUS_UNIT = "940000041"

TokenFactory = Callable[..., str]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, auto_kid=True)


@pytest.fixture(scope="session")
def other_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, auto_kid=True)


@pytest.fixture(scope="session")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", {"alg": "ES256", "use": "sig"}, auto_kid=True)


def jwks_of(*keys: Key) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


@pytest.fixture
def jwks_file(tmp_path: Path, rsa_key: RSAKey, ec_key: ECKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_of(rsa_key, ec_key)), encoding="utf-8")
    return path


@pytest.fixture
def settings(jwks_file: Path) -> AuthSettings:
    return AuthSettings(jwks=str(jwks_file), issuer=ISSUER, audience=AUDIENCE, clock_skew=30)


def claims_for(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "client-a",
        "client_id": "client-a",
        "scope": "system/CarePlan.rs system/Patient.r",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "token-1",
        ORGNR_PARENT_CLAIM: SYKEHUS,
        ORGNR_CHILD_CLAIM: SYKEHUS_UNIT,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def make_token(rsa_key: RSAKey) -> TokenFactory:
    """A token signed with ``key`` (default: the RSA key); claims merged with overrides, a
    claim set to None is left out."""

    def make(key: Key | None = None, header: dict[str, Any] | None = None, **claims: Any) -> str:
        key = key or rsa_key
        alg = "ES256" if isinstance(key, ECKey) else "RS256"
        head = {"alg": alg, "kid": key.kid, "typ": "at+jwt", **(header or {})}
        head = {k: v for k, v in head.items() if v is not None}
        return jwt.encode(head, claims_for(**claims), key, algorithms=[head["alg"]])

    return make
