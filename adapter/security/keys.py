"""Development signing keys and access tokens shaped like HelseID's (RFC 7517 JWKS, RFC 9068
JWT access tokens), for ``forlop token keygen`` and ``forlop token issue``.

``keygen`` writes a key pair into a folder: ``jwks.json`` with the public key (what a server's
``--jwks`` reads) and ``private-key.pem`` (PKCS#8, readable by its owner only) beside it. With
``rotate`` a new pair replaces the private key while the old public keys stay in ``jwks.json``, so
tokens signed before the rotation verify until they expire. The key id is the RFC 7638 thumbprint.

``issue`` signs a token with the HelseID claims forlop reads: ``client_id``, ``scope`` and the
organisation numbers ``helseid://claims/client/claims/orgnr_parent`` and ``…/orgnr_child``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from adapter.domain.identifiers import is_valid_orgnr
from adapter.security.settings import ORGNR_CHILD_CLAIM, ORGNR_PARENT_CLAIM

Algorithm = Literal["RS256", "ES256"]
JWKS_FILE = "jwks.json"
PRIVATE_KEY_FILE = "private-key.pem"
RSA_BITS = 3072
MAX_KEPT_PUBLIC_KEYS = 5
MAX_TTL_SECONDS = 24 * 3600


class KeyFileError(ValueError):
    """A key folder that cannot be written or read as asked; the message says why."""


@dataclass(frozen=True)
class SigningKey:
    """A private key with its id and algorithm."""

    key: RSAKey | ECKey
    kid: str
    algorithm: Algorithm


def _generate(algorithm: Algorithm) -> RSAKey | ECKey:
    if algorithm == "RS256":
        return RSAKey.generate_key(RSA_BITS, {"alg": algorithm, "use": "sig"}, auto_kid=True)
    return ECKey.generate_key("P-256", {"alg": algorithm, "use": "sig"}, auto_kid=True)


def _write_private(path: Path, pem: bytes) -> None:
    """Write the key to a new 0600 file, then move it into place (never world-readable)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".private-key-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def generate_key_pair(
    directory: Path, algorithm: Algorithm = "RS256", *, rotate: bool = False
) -> SigningKey:
    """Write a new key pair to ``directory`` (created if missing) and return it.

    Refuses to replace an existing private key unless ``rotate`` is given.
    """
    if algorithm not in ("RS256", "ES256"):
        raise KeyFileError(f"Key algorithm must be RS256 or ES256, not {algorithm!r}.")
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / PRIVATE_KEY_FILE
    jwks_path = directory / JWKS_FILE
    if private_path.exists() and not rotate:
        raise KeyFileError(
            f"{private_path} exists already; rotate (--rotate) replaces it and keeps the old "
            "public key in jwks.json."
        )
    key = _generate(algorithm)
    assert key.kid is not None
    kept: list[dict[str, Any]] = []
    if rotate and jwks_path.exists():
        kept = [k for k in _read_jwks(jwks_path) if k.get("kid") != key.kid]
    public = [dict(key.as_dict(private=False)), *kept][:MAX_KEPT_PUBLIC_KEYS]
    _write_private(private_path, key.as_pem(private=True))
    jwks_path.write_text(json.dumps({"keys": public}, indent=2) + "\n", encoding="utf-8")
    return SigningKey(key, key.kid, algorithm)


def _read_jwks(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        keys = document["keys"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a JWKS document: {exc}.") from None
    if not isinstance(keys, list):
        raise KeyFileError(f"{path} is not a JWKS document: 'keys' is not a list.")
    return [k for k in keys if isinstance(k, dict)]


def load_signing_key(directory: Path) -> SigningKey:
    """The private key of a folder written by :func:`generate_key_pair`."""
    private_path = directory / PRIVATE_KEY_FILE
    try:
        pem = private_path.read_bytes()
        native = load_pem_private_key(pem, password=None)
    except OSError as exc:
        raise KeyFileError(f"Cannot read {private_path}: {exc.strerror}.") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{private_path} is not a PEM private key: {exc}.") from None
    key: RSAKey | ECKey
    algorithm: Algorithm
    if isinstance(native, rsa.RSAPrivateKey):
        key, algorithm = RSAKey.import_key(pem), "RS256"
    elif isinstance(native, ec.EllipticCurvePrivateKey) and native.curve.name == "secp256r1":
        key, algorithm = ECKey.import_key(pem), "ES256"
    else:
        raise KeyFileError(f"{private_path} is neither an RSA nor a P-256 EC private key.")
    key.ensure_kid()
    assert key.kid is not None
    return SigningKey(key, key.kid, algorithm)


def issue_token(
    signing: SigningKey,
    *,
    issuer: str,
    audience: str,
    organisation: str,
    scope: str,
    ttl: int = 300,
    client_id: str = "forlop-dev-client",
    parent_organisation: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A signed access token (compact JWT) with HelseID's organisation claims.

    ``organisation`` goes into ``orgnr_child``; ``orgnr_parent`` is ``parent_organisation`` or,
    without one, the same number.
    """
    for number in (organisation, parent_organisation):
        if number is not None and not is_valid_orgnr(number):
            raise KeyFileError(f"'{number}' is not a valid organisation number (9 digits, mod 11).")
    if not 0 < ttl <= MAX_TTL_SECONDS:
        raise KeyFileError(f"The lifetime must be between 1 and {MAX_TTL_SECONDS} seconds.")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": client_id,
        "client_id": client_id,
        "scope": scope,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "jti": str(uuid.uuid4()),
        ORGNR_PARENT_CLAIM: parent_organisation or organisation,
        ORGNR_CHILD_CLAIM: organisation,
        **(extra_claims or {}),
    }
    header = {"alg": signing.algorithm, "kid": signing.kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, signing.key, algorithms=[signing.algorithm])
