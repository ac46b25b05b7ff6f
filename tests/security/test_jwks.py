"""The JWKS cache: keys from a file or a URL, rotation found by kid, and bounded refetching.

A real ``http.server`` on 127.0.0.1 plays the issuer; it counts its requests so the tests can see
when the cache fetches again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from adapter.fhir.errors import FhirError
from adapter.security.errors import AuthError
from adapter.security.settings import AuthSettings
from adapter.security.tokens import JwksCache, TokenVerifier, parse_jwks

from .conftest import AUDIENCE, ISSUER, FakeClock, TokenFactory, jwks_of


class Issuer:
    """What the fake issuer serves, and how often it was asked."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.requests = 0
        self.lock = threading.Lock()


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Issuer, str]]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    state = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.requests += 1
                body = json.dumps(state.document).encode()
                status = state.status
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _verifier(
    url: str, clock: FakeClock, min_refresh: float = 60, max_age: float = 3600
) -> TokenVerifier:
    settings = AuthSettings(jwks=url, issuer=ISSUER, audience=AUDIENCE)
    cache = JwksCache(url, min_refresh=min_refresh, max_age=max_age, clock=clock)
    return TokenVerifier(settings, cache)


def test_rotated_keys_are_found_after_the_minimum_interval(
    issuer: tuple[Issuer, str],
    make_token: TokenFactory,
    rsa_key: RSAKey,
    other_rsa_key: RSAKey,
) -> None:
    state, url = issuer
    state.document = jwks_of(rsa_key)
    clock = FakeClock()
    verifier = _verifier(url, clock, min_refresh=60)

    assert verifier.verify(make_token(rsa_key)).client_id == "client-a"
    assert state.requests == 1
    assert verifier.verify(make_token(rsa_key))
    assert state.requests == 1  # cached

    # The issuer rotates: the new key signs, the old one is gone.
    state.document = jwks_of(other_rsa_key)
    clock.advance(10)
    with pytest.raises(AuthError):
        verifier.verify(make_token(other_rsa_key))
    assert state.requests == 1  # an unknown kid within the interval does not refetch

    clock.advance(60)
    assert verifier.verify(make_token(other_rsa_key)).client_id == "client-a"
    assert state.requests == 2
    with pytest.raises(AuthError):
        verifier.verify(make_token(rsa_key))  # the withdrawn key is no longer trusted
    assert state.requests == 2


def test_forged_kids_cannot_make_the_server_hammer_the_issuer(
    issuer: tuple[Issuer, str], make_token: TokenFactory, rsa_key: RSAKey
) -> None:
    state, url = issuer
    state.document = jwks_of(rsa_key)
    clock = FakeClock()
    verifier = _verifier(url, clock, min_refresh=30)
    verifier.verify(make_token(rsa_key))
    for n in range(20):
        clock.advance(1)
        with pytest.raises(AuthError):
            verifier.verify(make_token(rsa_key, header={"kid": f"forged-{n}"}))
    assert state.requests == 1
    clock.advance(30)
    with pytest.raises(AuthError):
        verifier.verify(make_token(rsa_key, header={"kid": "forged-late"}))
    assert state.requests == 2


def test_the_key_set_is_fetched_again_when_old(
    issuer: tuple[Issuer, str], make_token: TokenFactory, rsa_key: RSAKey
) -> None:
    state, url = issuer
    state.document = jwks_of(rsa_key)
    clock = FakeClock()
    verifier = _verifier(url, clock, min_refresh=10, max_age=100)
    verifier.verify(make_token(rsa_key))
    clock.advance(99)
    verifier.verify(make_token(rsa_key))
    assert state.requests == 1
    clock.advance(1)
    verifier.verify(make_token(rsa_key))
    assert state.requests == 2


def test_a_failing_issuer_keeps_the_known_keys(
    issuer: tuple[Issuer, str], make_token: TokenFactory, rsa_key: RSAKey
) -> None:
    state, url = issuer
    state.document = jwks_of(rsa_key)
    clock = FakeClock()
    verifier = _verifier(url, clock, min_refresh=10, max_age=100)
    verifier.verify(make_token(rsa_key))
    state.status = 500
    clock.advance(200)
    assert verifier.verify(make_token(rsa_key))
    assert state.requests == 2
    clock.advance(5)
    assert verifier.verify(make_token(rsa_key))
    assert state.requests == 2  # the failed attempt also counts for the minimum interval


def test_an_issuer_that_never_answered_gives_503_and_is_retried_later(
    issuer: tuple[Issuer, str], make_token: TokenFactory, rsa_key: RSAKey
) -> None:
    state, url = issuer
    state.status = 500
    clock = FakeClock()
    verifier = _verifier(url, clock, min_refresh=10)
    for _ in range(3):
        with pytest.raises(FhirError) as caught:
            verifier.verify(make_token(rsa_key))
        assert caught.value.status == 503
    assert state.requests == 1
    state.status = 200
    state.document = jwks_of(rsa_key)
    clock.advance(10)
    assert verifier.verify(make_token(rsa_key))
    assert state.requests == 2


def test_keys_from_a_file_are_reloaded_on_an_unknown_kid(
    tmp_path: Path, make_token: TokenFactory, rsa_key: RSAKey, other_rsa_key: RSAKey
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_of(rsa_key)), encoding="utf-8")
    clock = FakeClock()
    verifier = _verifier(str(path), clock, min_refresh=5)
    assert verifier.verify(make_token(rsa_key))
    path.write_text(json.dumps(jwks_of(rsa_key, other_rsa_key)), encoding="utf-8")
    clock.advance(5)
    assert verifier.verify(make_token(other_rsa_key))


def test_only_public_signing_keys_with_a_kid_are_used(
    rsa_key: RSAKey, ec_key: ECKey, other_rsa_key: RSAKey
) -> None:
    secret = OctKey.generate_key(256, auto_kid=True).as_dict(private=True)
    encryption = {**other_rsa_key.as_dict(private=False), "use": "enc"}
    no_kid = {k: v for k, v in ec_key.as_dict(private=False).items() if k != "kid"}
    broken = {"kty": "RSA", "kid": "broken", "n": "abc", "e": "AQAB"}
    document = {"keys": [secret, encryption, no_kid, broken, rsa_key.as_dict(private=False)]}
    keys = parse_jwks(json.dumps(document).encode())
    assert list(keys) == [rsa_key.kid]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"keys": 1}',
        b'{"keys": []}',
        b'{"keys": [{"kty": "oct", "kid": "x"}]}',
    ],
)
def test_unusable_key_sets_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_jwks(body)


def test_a_private_key_in_the_key_set_is_used_for_its_public_half(
    rsa_key: RSAKey, make_token: TokenFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key.as_dict(private=True)]}), encoding="utf-8")
    verifier = TokenVerifier(AuthSettings(jwks=str(path), issuer=ISSUER, audience=AUDIENCE))
    assert verifier.verify(make_token(rsa_key))
    assert "private key" in caplog.text
