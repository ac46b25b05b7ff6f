"""Bearer access tokens (RFC 6750) as HelseID issues them: JWTs (RFC 7519, RFC 9068) signed with
RS256 or ES256, checked against the issuer's JSON Web Key Set (RFC 7517).

The cryptography is joserfc's; this module decides what to accept:

- only the asymmetric algorithms in the settings (never ``none``, never HS*: a symmetric check
  with the issuer's public key as secret would let anyone forge tokens);
- the key named by the header's ``kid`` in the issuer's key set, of the type the algorithm needs;
  an unknown ``kid`` fetches the key set again (the issuer may have rotated its keys), at most
  once per ``jwks_min_refresh`` seconds so forged kids cannot make the server hammer the issuer;
- ``iss`` and ``aud`` equal to the configured ones, ``exp`` present and in the future, ``nbf`` and
  ``iat`` not in the future, each with ``clock_skew`` seconds of leeway.

A good token becomes a :class:`Principal`; any other answers 401 with an RFC 6750 challenge.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, Key, RSAKey, import_key

from adapter.domain.identifiers import is_valid_orgnr
from adapter.security.errors import invalid_token, keys_unavailable, missing_token
from adapter.security.scopes import ScopeSet
from adapter.security.settings import (
    HPR_NUMBER_CLAIM,
    ORGNR_PARENT_CLAIM,
    PID_CLAIM,
    SUPPORTED_ALGORITHMS,
    AuthSettings,
    jwks_is_url,
)

log = logging.getLogger(__name__)

MAX_TOKEN_BYTES = 16 * 1024
MAX_JWKS_BYTES = 1024 * 1024
FETCH_TIMEOUT_SECONDS = 5.0
# Where HelseID puts claims about the person behind a user token.
USER_CLAIM_PREFIXES = ("helseid://claims/identity/", "helseid://claims/hpr/")

Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified token (or the development stand-in).

    ``organisation`` is the organisation number from the configured claim; ``user`` holds the
    claims about a person (HelseID identity and HPR claims) when the token was issued to one.
    ``patient`` is a SMART launch-context patient id, when the token carries one. ``unrestricted``
    is true only for the stand-in of ``--insecure-dev``: it skips the organisation checks.
    """

    client_id: str
    organisation: str | None
    scopes: ScopeSet
    subject: str | None = None
    parent_organisation: str | None = None
    user: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    patient: str | None = None
    token_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    unrestricted: bool = False

    @property
    def pid(self) -> str | None:
        value = self.user.get(PID_CLAIM)
        return value if isinstance(value, str) else None

    @property
    def hpr_number(self) -> str | None:
        value = self.user.get(HPR_NUMBER_CLAIM)
        return value if isinstance(value, str) else None


def insecure_dev_principal() -> Principal:
    """The caller of a server started with ``--insecure-dev``: every scope, no organisation
    checks. Never produced from a token."""
    return Principal(
        client_id="insecure-dev",
        organisation=None,
        scopes=ScopeSet.parse("system/*.cruds system/AuditEvent.rs"),
        unrestricted=True,
    )


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1); 401 without."""
    if not authorization:
        raise missing_token()
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise missing_token("This server needs an 'Authorization: Bearer <token>' header.")
    if " " in token:
        raise invalid_token("The Authorization header holds more than one token.")
    return token


def read_jwks_source(source: str) -> bytes:
    """The bytes of a JWKS file or http(s) URL, at most :data:`MAX_JWKS_BYTES`."""
    if jwks_is_url(source):
        request = urllib.request.Request(source, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            body: bytes = response.read(MAX_JWKS_BYTES + 1)
    else:
        with Path(source).open("rb") as handle:
            body = handle.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError(f"the key set is larger than {MAX_JWKS_BYTES} bytes")
    return body


def parse_jwks(body: bytes) -> dict[str, Key]:
    """Signing keys by kid from a JWKS document. Keys without a kid, symmetric keys, keys for
    encryption and keys that do not parse are left out: none of them may check an access token."""
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS document is an object with a 'keys' list")
    keys: dict[str, Key] = {}
    for data in document["keys"]:
        if not (
            isinstance(data, dict)
            and data.get("kty") in ("RSA", "EC")
            and isinstance(data.get("kid"), str)
            and data.get("use", "sig") == "sig"
        ):
            continue
        try:
            key = import_key(data)
        except (JoseError, ValueError) as exc:
            log.warning("The JWKS key %s does not parse and is left out: %s", data["kid"], exc)
            continue
        if key.is_private:
            log.warning(
                "The JWKS publishes a private key (kid %s); only its public half is used. "
                "Publish public keys only.",
                data["kid"],
            )
        keys[data["kid"]] = key
    if not keys:
        raise ValueError("the key set has no usable RSA or EC signing key with a kid")
    return keys


class JwksCache:
    """The issuer's signing keys, fetched from a file or URL and kept for ``max_age`` seconds.

    An unknown kid triggers a new fetch only when the last attempt is ``min_refresh`` seconds
    old. A failed fetch keeps the keys already known. Safe to share between threads.
    """

    def __init__(
        self,
        source: str,
        *,
        min_refresh: float = 60.0,
        max_age: float = 3600.0,
        fetch: Fetch = read_jwks_source,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.min_refresh = min_refresh
        self.max_age = max_age
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, Key] | None = None
        self._loaded_at = 0.0
        self._attempted_at: float | None = None

    def key_for(self, kid: str) -> Key | None:
        """The key with this kid, fetching the key set again when it is due; None if unknown.

        Raises :class:`FhirError` 503 while no key set has been loaded.
        """
        with self._lock:
            now = self._clock()
            stale = self._keys is None or now - self._loaded_at >= self.max_age
            unknown = self._keys is not None and kid not in self._keys
            due = self._attempted_at is None or now - self._attempted_at >= self.min_refresh
            if (stale or unknown) and due:
                self._load(now)
            if self._keys is None:
                raise keys_unavailable()
            return self._keys.get(kid)

    def refresh(self) -> bool:
        """Fetch the key set now (at start-up, to report a broken source early); whether keys
        are available afterwards."""
        with self._lock:
            self._load(self._clock())
            return self._keys is not None

    def _load(self, now: float) -> None:
        self._attempted_at = now
        try:
            self._keys = parse_jwks(self._fetch(self.source))
            self._loaded_at = now
        except (OSError, ValueError, JoseError) as exc:
            log.warning("Cannot load the JWKS from %s: %s", self.source, exc)


class TokenVerifier:
    """Checks bearer tokens against :class:`AuthSettings` and turns good ones into principals."""

    def __init__(
        self,
        settings: AuthSettings,
        keys: JwksCache | None = None,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        if settings.jwks is None or settings.issuer is None or settings.audience is None:
            raise ValueError("A token verifier needs the JWKS, issuer and audience settings.")
        if not set(settings.algorithms) <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"Token algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}.")
        self.settings = settings
        self.keys = keys or JwksCache(
            settings.jwks,
            min_refresh=settings.jwks_min_refresh,
            max_age=settings.jwks_max_age,
        )
        self._now = now
        self._issuer = settings.issuer
        self._audience = settings.audience

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`AuthError` 401 for any other."""
        if len(token) > MAX_TOKEN_BYTES:
            raise invalid_token("The access token is too long.")
        header = _header(token)
        alg = header.get("alg")
        if alg not in self.settings.algorithms:
            raise invalid_token(
                f"The access token is signed with '{alg}'; this server accepts "
                f"{', '.join(self.settings.algorithms)}."
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid_token("The access token's header names no signing key (kid).")
        key = self.keys.key_for(kid)
        if key is None:
            raise invalid_token(
                f"The access token is signed with a key the issuer does not publish (kid '{kid}')."
            )
        if key.alg not in (None, alg) or not isinstance(key, _KEY_TYPES[alg[:2]]):
            raise invalid_token(f"The key '{kid}' is not for '{alg}' signatures.")
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except BadSignatureError:
            raise invalid_token("The access token's signature is not valid.") from None
        except JoseError:
            raise invalid_token("The access token is not a valid signed JWT.") from None
        self._check_claims(claims)
        return self.principal(claims)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=int(self._now()),
            leeway=self.settings.clock_skew,
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise invalid_token("The access token has expired.", "expired") from None
        except MissingClaimError as exc:
            raise invalid_token(
                f"The access token lacks the claim(s) {exc.claim.replace(',', ', ')}."
            ) from None
        except InvalidClaimError as exc:
            raise invalid_token(_claim_problem(exc.claim)) from None

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The principal of claims that already passed verification."""
        client_id = _first_string(claims, ("client_id", "azp", "sub"))
        if client_id is None:
            raise invalid_token("The access token names no client (client_id).")
        organisation = _organisation(claims, self.settings.org_claims)
        parent = _organisation(claims, (ORGNR_PARENT_CLAIM,))
        user = {
            name: value for name, value in claims.items() if name.startswith(USER_CLAIM_PREFIXES)
        }
        return Principal(
            client_id=client_id,
            organisation=organisation,
            scopes=ScopeSet.parse(claims.get("scope")),
            subject=_first_string(claims, ("sub",)),
            parent_organisation=parent,
            user=MappingProxyType(user),
            patient=_first_string(claims, ("patient",)),
            token_id=_first_string(claims, ("jti",)),
            claims=MappingProxyType(dict(claims)),
        )

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` header value."""
        return self.verify(bearer_token(authorization))


_KEY_TYPES: dict[str, type[Key]] = {"RS": RSAKey, "PS": RSAKey, "ES": ECKey}
_CLAIM_PROBLEMS = {
    "iss": "The access token was issued by another issuer than this server trusts.",
    "aud": "The access token is meant for another audience than this server.",
    "nbf": "The access token is not valid yet (nbf is in the future).",
    "iat": "The access token was issued in the future (iat).",
    "exp": "The access token's expiry (exp) is not a valid time.",
}


def _claim_problem(claim: str | None) -> str:
    return _CLAIM_PROBLEMS.get(claim or "", f"The access token's claim '{claim}' is not valid.")


def _header(token: str) -> dict[str, Any]:
    try:
        return dict(jws.extract_compact(token.encode("ascii")).headers())
    except (JoseError, ValueError, UnicodeError):
        raise invalid_token("The access token is not a JWT (header.payload.signature).") from None


def _first_string(claims: Mapping[str, Any], names: Iterable[str]) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _organisation(claims: Mapping[str, Any], names: Iterable[str]) -> str | None:
    for name in names:
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not is_valid_orgnr(value):
            raise invalid_token(
                f"The access token's claim {name} is not a valid organisation number."
            )
        return value
    return None
