"""Bearer tokens and scopes through the real app (issue: access control, points 1, 2, 5 and 6):
without a token 401 with a challenge, every kind of bad token 401, a good token without the scope
403, AuditEvent only with a scope naming it, and a server that refuses to start open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from typer.testing import CliRunner

from adapter.app import create_app
from adapter.cli import app as cli
from adapter.config import Settings
from adapter.security.keys import JWKS_FILE, load_signing_key
from adapter.security.settings import ORGNR_CHILD_CLAIM, AuthConfigError, AuthSettings
from tests.rest.servers import free_port
from tests.security.conftest import (
    AUDIENCE,
    BODO,
    FHIR_JSON,
    ISSUER,
    NIDELV,
    Secured,
    World,
)

runner = CliRunner()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "client_id": "forged-client",
        "scope": "system/*.cruds",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        ORGNR_CHILD_CLAIM: BODO,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(secured: Secured, header: dict[str, Any] | None = None, **claims: Any) -> str:
    signing = load_signing_key(secured.keys)
    head = {"alg": "RS256", "kid": signing.kid, **(header or {})}
    return jwt.encode(head, _claims(**claims), signing.key, algorithms=["RS256"])


def _unsigned(secured: Secured) -> str:
    kid = load_signing_key(secured.keys).kid
    header = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(_claims()).encode())}."


def _hs256_with_public_key(secured: Secured) -> str:
    """The algorithm-confusion attack: HMAC keyed with the issuer's published public key."""
    signing = load_signing_key(secured.keys)
    secret = signing.key.as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256", "kid": signing.kid}).encode())
    body = f"{header}.{_b64(json.dumps(_claims()).encode())}"
    signature = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def _other_key(secured: Secured) -> str:
    stranger = RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, auto_kid=True)
    return jwt.encode({"alg": "RS256", "kid": stranger.kid}, _claims(), stranger, ["RS256"])


def _forged_signature(secured: Secured) -> str:
    stranger = RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, auto_kid=True)
    kid = load_signing_key(secured.keys).kid
    return jwt.encode({"alg": "RS256", "kid": kid}, _claims(), stranger, ["RS256"])


BAD_TOKENS = {
    "expired": lambda s: _signed(s, exp=int(time.time()) - 600, iat=int(time.time()) - 900),
    "not yet valid": lambda s: _signed(s, nbf=int(time.time()) + 600),
    "wrong audience": lambda s: _signed(s, aud="another-api"),
    "wrong issuer": lambda s: _signed(s, iss="https://evil.example"),
    "no expiry": lambda s: _signed(s, exp=None),
    "unknown key": _other_key,
    "forged signature": _forged_signature,
    "alg none": _unsigned,
    "HS256 with the public key": _hs256_with_public_key,
    "not a JWT": lambda s: "not-a-jwt",
    "bad organisation number": lambda s: _signed(s, **{ORGNR_CHILD_CLAIM: "123456789"}),
}


def _search(secured: Secured, token: str) -> httpx.Response:
    return secured.http.get("/fhir/Patient", headers={"authorization": f"Bearer {token}"})


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/fhir/Patient"),
        ("GET", "/fhir/Patient/x"),
        ("GET", "/fhir/"),
        ("GET", "/fhir/_history"),
        ("POST", "/fhir/Patient"),
        ("POST", "/fhir"),
        ("DELETE", "/fhir/Patient/x"),
        ("GET", "/fhir/Patient/x/$everything"),
        ("GET", "/fhir/AuditEvent"),
    ],
)
def test_without_a_token_every_interaction_is_401(secured: Secured, method: str, url: str) -> None:
    answer = secured.http.request(method, url, content=b"{}", headers=FHIR_JSON)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="forlop"'
    issue = answer.json()["issue"][0]
    assert issue["code"] == "login"
    assert issue["details"]["coding"][0]["code"] == "FORLOP-AUTH-001"


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "token"])
def test_a_malformed_authorization_header_is_401(secured: Secured, authorization: str) -> None:
    answer = secured.http.get("/fhir/Patient", headers={"authorization": authorization})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Bearer realm="forlop"')


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_each_kind_of_bad_token_is_refused(secured: Secured, kind: str) -> None:
    answer = _search(secured, BAD_TOKENS[kind](secured))
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="forlop", error="invalid_token"')
    assert answer.json()["issue"][0]["details"]["coding"][0]["code"] == "FORLOP-AUTH-001"


def test_a_good_token_is_accepted(secured: Secured) -> None:
    assert _search(secured, _signed(secured)).status_code == 200
    assert _search(secured, secured.token(BODO)).status_code == 200


@pytest.mark.parametrize(
    "path", ["/fhir/metadata", "/healthz", "/readyz", "/openapi.json", "/docs"]
)
def test_some_addresses_need_no_token(secured: Secured, path: str) -> None:
    assert secured.http.get(path).status_code == 200


def test_the_capability_statement_tells_how_to_authenticate(secured: Secured) -> None:
    statement = secured.http.get("/fhir/metadata").json()
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    audit = next(r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent")
    assert {i["code"] for i in audit["interaction"]} == {"read", "vread", "search-type"}


# --- scopes ---------------------------------------------------------------------------------------


def _forbidden(answer: httpx.Response, scope: str | None = None) -> None:
    assert answer.status_code == 403, answer.text
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    if scope is not None:
        assert f'scope="{scope}"' in challenge
    assert answer.json()["issue"][0]["details"]["coding"][0]["code"] == "FORLOP-AUTH-002"


def test_a_missing_scope_is_403(secured: Secured, world: World) -> None:
    reader = secured.caller(NIDELV, "system/Patient.rs system/CarePlan.read")
    astrid = world.patients["astrid-fjellheim"]
    assert reader.get(f"/fhir/Patient/{astrid}").status_code == 200
    assert reader.get("/fhir/CarePlan", params={"subject": f"Patient/{astrid}"}).status_code == 200
    _forbidden(reader.post("/fhir/Patient", {"resourceType": "Patient"}), "system/Patient.c")
    _forbidden(reader.get("/fhir/Goal"), "system/Goal.s")
    _forbidden(reader.get("/fhir/Goal/_history"), "system/Goal.s")
    _forbidden(reader.delete(f"/fhir/Patient/{astrid}"), "system/Patient.d")
    # Includes need read on what they bring, $everything needs rs on Patient and a system-level
    # search without _type a wildcard.
    _forbidden(reader.get("/fhir/CarePlan", params={"_include": "CarePlan:goal"}))
    assert reader.get(f"/fhir/Patient/{astrid}/$everything").status_code == 200
    only_read = secured.caller(NIDELV, "system/Patient.r")
    _forbidden(only_read.get(f"/fhir/Patient/{astrid}/$everything"))
    _forbidden(reader.get("/fhir/"))
    assert reader.get("/fhir/", params={"_type": "Patient"}).status_code == 200


def test_v1_scopes_work_as_their_v2_letters(secured: Secured, world: World) -> None:
    writer = secured.caller(BODO, "system/Patient.write")
    patient = {
        "resourceType": "Patient",
        "managingOrganization": {"reference": f"Organization/{world.organizations[BODO]}"},
    }
    created = writer.post("/fhir/Patient", patient)
    assert created.status_code == 201, created.text
    _forbidden(writer.get(f"/fhir/Patient/{created.json()['id']}"))


def test_each_bundle_entry_is_checked(secured: Secured, world: World) -> None:
    caller = secured.caller(BODO, "system/Patient.cruds")
    marker = uuid.uuid4().hex
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:test", "value": marker}],
                    "managingOrganization": {
                        "reference": f"Organization/{world.organizations[BODO]}"
                    },
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "CarePlan"}},
        ],
    }
    answer = caller.post("/fhir", bundle)
    _forbidden(answer)
    assert "Bundle.entry[1]" in answer.text
    # Nothing of the transaction was written.
    search = caller.get("/fhir/Patient", params={"identifier": f"urn:test|{marker}"})
    assert "entry" not in search.json()
    answer = caller.post("/fhir", {**bundle, "type": "batch"})
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses == ["201 Created", "403 Forbidden"]


def test_audit_events_need_a_scope_that_names_them(secured: Secured, world: World) -> None:
    wildcard = secured.caller(NIDELV, "system/*.cruds")
    _forbidden(wildcard.get("/fhir/AuditEvent"), "system/AuditEvent.s")
    found = wildcard.get("/fhir/", params={"_count": "200"})
    assert "AuditEvent" not in {e["resource"]["resourceType"] for e in found.json()["entry"]}
    _forbidden(wildcard.get("/fhir/", params={"_type": "AuditEvent"}))
    history = wildcard.get("/fhir/_history", params={"_count": "200"})
    assert "AuditEvent" not in {
        e["resource"]["resourceType"] for e in history.json().get("entry", []) if "resource" in e
    }
    auditor = secured.caller(NIDELV, "system/AuditEvent.rs")
    own = {"agent": f"Organization/{world.organizations[NIDELV]}", "_count": "5"}
    events = auditor.get("/fhir/AuditEvent", params=own)
    assert events.status_code == 200
    event = events.json()["entry"][0]["resource"]
    assert auditor.get(f"/fhir/AuditEvent/{event['id']}").status_code == 200


def test_audit_events_cannot_be_written_through_the_api(secured: Secured, world: World) -> None:
    writer = secured.caller(NIDELV, "system/AuditEvent.cruds")
    own = {"agent": f"Organization/{world.organizations[NIDELV]}", "_count": "1"}
    event = writer.get("/fhir/AuditEvent", params=own).json()["entry"][0]["resource"]
    fake = {**event, "outcome": "0"}
    fake.pop("id")
    assert writer.post("/fhir/AuditEvent", fake).status_code == 405
    assert writer.put(f"/fhir/AuditEvent/{event['id']}", event).status_code == 405
    patch = writer.send(
        "PATCH",
        f"/fhir/AuditEvent/{event['id']}",
        [{"op": "replace", "path": "/outcome", "value": "0"}],
        headers={"content-type": "application/json-patch+json"},
    )
    assert patch.status_code == 405
    assert writer.delete(f"/fhir/AuditEvent/{event['id']}").status_code == 405
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": fake, "request": {"method": "POST", "url": "AuditEvent"}}],
    }
    assert writer.post("/fhir", bundle).status_code == 405
    assert writer.get(f"/fhir/AuditEvent/{event['id']}").json()["meta"] == event["meta"]


# --- secure by default ------------------------------------------------------------------------


def test_the_app_refuses_to_start_without_keys_or_insecure_dev() -> None:
    with pytest.raises(AuthConfigError) as caught:
        create_app(Settings())
    assert "--jwks" in str(caught.value) and "--insecure-dev" in str(caught.value)
    with pytest.raises(AuthConfigError):
        create_app(Settings(host="0.0.0.0"), auth=AuthSettings(insecure_dev=True))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What ``forlop serve`` would run, instead of running it."""
    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    return apps


def test_serve_refuses_to_start_open(started: list[Any], tmp_path: Path) -> None:
    plain = runner.invoke(cli, ["serve", "--database-url", f"sqlite:///{tmp_path / 'a.db'}"])
    assert plain.exit_code == 2
    assert "--jwks" in plain.output and "--insecure-dev" in plain.output
    exposed = runner.invoke(cli, ["serve", "--insecure-dev", "--host", "0.0.0.0"])
    assert exposed.exit_code == 2
    assert "loopback" in exposed.output
    assert started == []


def test_serve_takes_the_settings_from_flags_or_environment(
    started: list[Any], tmp_path: Path
) -> None:
    dev = runner.invoke(
        cli, ["serve", "--insecure-dev", "--database-url", f"sqlite:///{tmp_path / 'a.db'}"]
    )
    assert dev.exit_code == 0, dev.output
    assert "WARNING: --insecure-dev" in dev.output
    jwks = tmp_path / JWKS_FILE
    jwks.write_text('{"keys": []}', encoding="utf-8")
    environment = {
        "FORLOP_JWKS": str(jwks),
        "FORLOP_ISSUER": ISSUER,
        "FORLOP_AUDIENCE": AUDIENCE,
        "FORLOP_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
    }
    secure = runner.invoke(cli, ["serve"], env=environment)
    assert secure.exit_code == 0, secure.output
    assert "WARNING" not in secure.output
    assert f"issuer {ISSUER}," in secure.output and AUDIENCE in secure.output
    assert len(started) == 2


def test_a_real_server_checks_tokens(secured: Secured, tmp_path: Path) -> None:
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("forlop")),
        "serve",
        "--port",
        str(port),
        "--database-url",
        f"sqlite:///{tmp_path / 'forlop.db'}",
        "--jwks",
        str(secured.keys / JWKS_FILE),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--log-level",
        "warning",
    ]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert http.get("/fhir/Patient").status_code == 401
            token = secured.token(BODO)
            answer = http.get("/fhir/Patient", headers={"authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
    finally:
        process.terminate()
        process.wait(timeout=30)
