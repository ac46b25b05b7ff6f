"""Authentication settings: environment variables, and the checks that keep a server closed."""

from __future__ import annotations

from dataclasses import fields

import pytest

from adapter.security.settings import (
    _ENV_NAMES,
    ORGNR_CHILD_CLAIM,
    ORGNR_PARENT_CLAIM,
    AuthConfigError,
    AuthSettings,
    is_loopback,
)

GOOD = AuthSettings(
    jwks="https://helseid.example/jwks", issuer="https://helseid.example", audience="api"
)


def test_defaults_are_secure() -> None:
    settings = AuthSettings()
    assert settings.enabled
    assert settings.org_claim == ORGNR_CHILD_CLAIM
    assert settings.org_claims == (ORGNR_CHILD_CLAIM, ORGNR_PARENT_CLAIM)
    assert set(settings.algorithms) == {"RS256", "ES256"}
    with pytest.raises(AuthConfigError, match="--jwks"):
        settings.check("127.0.0.1")


def test_from_env_reads_every_variable() -> None:
    settings = AuthSettings.from_env(
        {
            "FORLOP_JWKS": "/etc/forlop/jwks.json",
            "FORLOP_ISSUER": "https://helseid-sts.nhn.no",
            "FORLOP_AUDIENCE": "nhn:forlop",
            "FORLOP_ORG_CLAIM": ORGNR_PARENT_CLAIM,
            "FORLOP_CLOCK_SKEW": "15",
            "FORLOP_INSECURE_DEV": "no",
            "FORLOP_JWT_ALGORITHMS": "RS256, PS256",
            "FORLOP_JWKS_MIN_REFRESH": "30",
            "FORLOP_JWKS_MAX_AGE": "600",
        }
    )
    assert settings == AuthSettings(
        jwks="/etc/forlop/jwks.json",
        issuer="https://helseid-sts.nhn.no",
        audience="nhn:forlop",
        org_claim=ORGNR_PARENT_CLAIM,
        clock_skew=15,
        insecure_dev=False,
        algorithms=("RS256", "PS256"),
        jwks_min_refresh=30,
        jwks_max_age=600,
    )
    assert settings.org_claims == (ORGNR_PARENT_CLAIM,)
    settings.check("0.0.0.0")


def test_from_env_uses_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORLOP_INSECURE_DEV", "TRUE")
    assert AuthSettings.from_env().insecure_dev


@pytest.mark.parametrize(
    ("name", "value"), [("FORLOP_INSECURE_DEV", "maybe"), ("FORLOP_CLOCK_SKEW", "ten")]
)
def test_from_env_refuses_bad_values(name: str, value: str) -> None:
    with pytest.raises(AuthConfigError, match=name):
        AuthSettings.from_env({name: value})


def test_to_env_round_trips() -> None:
    settings = GOOD.with_overrides(clock_skew=5, algorithms=("ES256",), insecure_dev=None)
    assert AuthSettings.from_env(settings.to_env()) == settings
    assert "FORLOP_ISSUER" in settings.to_env()
    assert "FORLOP_JWKS" not in AuthSettings().to_env()


def test_every_field_has_an_environment_twin() -> None:
    assert set(_ENV_NAMES) == {f.name for f in fields(AuthSettings)}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_insecure_dev_is_allowed_on_loopback_only() -> None:
    dev = AuthSettings(insecure_dev=True)
    assert not dev.enabled
    dev.check("127.0.0.1")
    dev.check("::1")
    for host in ("0.0.0.0", "10.0.0.5", "forlop.example"):
        with pytest.raises(AuthConfigError, match="loopback"):
            dev.check(host)


def test_insecure_dev_warns_at_start() -> None:
    warning = AuthSettings(insecure_dev=True).startup_warning("127.0.0.1")
    assert warning is not None and "OFF" in warning and "127.0.0.1" in warning
    assert GOOD.startup_warning("0.0.0.0") is None


def test_insecure_dev_does_not_mix_with_token_settings() -> None:
    with pytest.raises(AuthConfigError, match="do not combine"):
        GOOD.with_overrides(insecure_dev=True).check("127.0.0.1")


def test_each_missing_setting_is_named() -> None:
    with pytest.raises(AuthConfigError) as caught:
        AuthSettings(jwks="/k.json").check("127.0.0.1")
    assert "--issuer" in str(caught.value) and "--audience" in str(caught.value)
    assert "--jwks" not in str(caught.value)


def test_plain_http_jwks_only_from_loopback() -> None:
    GOOD.with_overrides(jwks="http://127.0.0.1:8000/jwks").check("0.0.0.0")
    with pytest.raises(AuthConfigError, match="https"):
        GOOD.with_overrides(jwks="http://helseid.example/jwks").check("0.0.0.0")


@pytest.mark.parametrize(
    "changes",
    [
        {"clock_skew": -1},
        {"clock_skew": 301},
        {"algorithms": ("HS256",)},
        {"algorithms": ("none",)},
        {"algorithms": ()},
        {"jwks_min_refresh": 600, "jwks_max_age": 60},
    ],
)
def test_unsafe_values_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(AuthConfigError):
        AuthSettings(**{**GOOD.__dict__, **changes}).check("0.0.0.0")
