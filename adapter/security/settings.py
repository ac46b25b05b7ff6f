"""Authentication settings for ``forlop serve``: one typed object, from flags or ``FORLOP_*``.

Secure by default (shared/DESIGN.md, "Configuration"): a server checks bearer tokens unless it
runs with ``insecure_dev`` on a loopback address. :meth:`AuthSettings.check` refuses every other
combination before the server starts, so a mistake stops the start instead of opening the data.

The organisation claim defaults to HelseID's unit claim ``orgnr_child`` and falls back to the legal
entity claim ``orgnr_parent`` when a token has no unit (HelseID issues the parent claim for every
client and the child claim only for clients registered on a sub-unit).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

ORGNR_PARENT_CLAIM = "helseid://claims/client/claims/orgnr_parent"
ORGNR_CHILD_CLAIM = "helseid://claims/client/claims/orgnr_child"
PID_CLAIM = "helseid://claims/identity/pid"
HPR_NUMBER_CLAIM = "helseid://claims/hpr/hpr_number"

# The asymmetric JWS algorithms HelseID signs access tokens with. Symmetric (HS*) algorithms are
# never accepted: with a published key they would let anyone forge tokens.
DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
MAX_CLOCK_SKEW = 300

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class AuthConfigError(ValueError):
    """The authentication settings cannot be used; the message says what to change."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def jwks_is_url(jwks: str) -> bool:
    return urlsplit(jwks).scheme in ("http", "https")


@dataclass(frozen=True)
class AuthSettings:
    """How ``forlop serve`` checks bearer tokens.

    ``jwks`` is a file path or an http(s) URL of the issuer's JSON Web Key Set. ``clock_skew`` is
    the leeway in seconds on ``exp``/``nbf``/``iat``; ``jwks_min_refresh`` the least time between
    two fetches of the key set when a token names an unknown key, ``jwks_max_age`` the time after
    which a cached key set is fetched again anyway.
    """

    jwks: str | None = None
    issuer: str | None = None
    audience: str | None = None
    org_claim: str = ORGNR_CHILD_CLAIM
    clock_skew: int = 60
    insecure_dev: bool = False
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    jwks_min_refresh: int = 60
    jwks_max_age: int = 3600

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a valid bearer token."""
        return not self.insecure_dev

    @property
    def org_claims(self) -> tuple[str, ...]:
        """The claims read for the caller's organisation, first found wins."""
        if self.org_claim == ORGNR_CHILD_CLAIM:
            return (ORGNR_CHILD_CLAIM, ORGNR_PARENT_CLAIM)
        return (self.org_claim,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        """Settings from ``FORLOP_JWKS``, ``FORLOP_ISSUER``, ``FORLOP_AUDIENCE``,
        ``FORLOP_ORG_CLAIM``, ``FORLOP_CLOCK_SKEW``, ``FORLOP_INSECURE_DEV``,
        ``FORLOP_JWT_ALGORITHMS`` (comma-separated), ``FORLOP_JWKS_MIN_REFRESH`` and
        ``FORLOP_JWKS_MAX_AGE``; unset ones keep their defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in _ENV_NAMES.items():
            raw = environ.get(var)
            if raw is None:
                continue
            values[name] = _parse(name, var, raw)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The ``FORLOP_*`` variables that reproduce these settings (for worker processes)."""
        env: dict[str, str] = {}
        for name, var in _ENV_NAMES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                env[var] = "true" if value else "false"
            elif isinstance(value, tuple):
                env[var] = ",".join(value)
            else:
                env[var] = str(value)
        return env

    def with_overrides(self, **changes: Any) -> AuthSettings:
        """A copy with the given fields changed; ``None`` means 'keep'."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def startup_warning(self, host: str) -> str | None:
        """The warning ``forlop serve`` prints at start when authentication is off."""
        if not self.insecure_dev:
            return None
        return (
            f"WARNING: --insecure-dev: authentication and access control are OFF on {host}. "
            "Every request is served with every scope and no organisation checks. "
            "Use only for local development with synthetic data."
        )

    def check(self, host: str) -> None:
        """Refuse settings that would start an open or unusable server on ``host``."""
        if self.insecure_dev:
            if not is_loopback(host):
                raise AuthConfigError(
                    f"--insecure-dev turns authentication off and is only allowed on a loopback "
                    f"address (127.0.0.1, ::1, localhost), not on '{host}'."
                )
            if self.jwks or self.issuer or self.audience:
                raise AuthConfigError(
                    "--insecure-dev turns authentication off; do not combine it with "
                    "--jwks, --issuer or --audience (FORLOP_JWKS, FORLOP_ISSUER, FORLOP_AUDIENCE)."
                )
            return
        missing = [
            f"--{name} (FORLOP_{name.upper()})"
            for name in ("jwks", "issuer", "audience")
            if not getattr(self, name)
        ]
        if missing:
            raise AuthConfigError(
                "Authentication is on by default and needs " + ", ".join(missing) + "; "
                "for a development server on a loopback address use --insecure-dev instead."
            )
        assert self.jwks is not None
        if jwks_is_url(self.jwks):
            split = urlsplit(self.jwks)
            if split.scheme == "http" and not is_loopback(split.hostname or ""):
                raise AuthConfigError(
                    f"The JWKS URL '{self.jwks}' is plain http: signing keys must come over "
                    "https (plain http is allowed only from a loopback address)."
                )
        if not 0 <= self.clock_skew <= MAX_CLOCK_SKEW:
            raise AuthConfigError(
                f"The clock skew must be between 0 and {MAX_CLOCK_SKEW} seconds, "
                f"not {self.clock_skew}."
            )
        unknown = [a for a in self.algorithms if a not in SUPPORTED_ALGORITHMS]
        if unknown or not self.algorithms:
            raise AuthConfigError(
                f"Token algorithms must be among {', '.join(sorted(SUPPORTED_ALGORITHMS))}; "
                f"got {', '.join(unknown) or 'none'}."
            )
        if self.jwks_min_refresh < 0 or self.jwks_max_age < self.jwks_min_refresh:
            raise AuthConfigError(
                "The JWKS refresh interval must be at least 0 seconds and at most the maximum age."
            )


_ENV_NAMES: dict[str, str] = {
    "jwks": "FORLOP_JWKS",
    "issuer": "FORLOP_ISSUER",
    "audience": "FORLOP_AUDIENCE",
    "org_claim": "FORLOP_ORG_CLAIM",
    "clock_skew": "FORLOP_CLOCK_SKEW",
    "insecure_dev": "FORLOP_INSECURE_DEV",
    "algorithms": "FORLOP_JWT_ALGORITHMS",
    "jwks_min_refresh": "FORLOP_JWKS_MIN_REFRESH",
    "jwks_max_age": "FORLOP_JWKS_MAX_AGE",
}


def _parse(name: str, var: str, raw: str) -> Any:
    kind = {f.name: f.type for f in fields(AuthSettings)}[name]
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise AuthConfigError(f"{var} must be true or false, not {raw!r}.")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise AuthConfigError(f"{var} must be a whole number, not {raw!r}.") from None
    if kind == "tuple[str, ...]":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
