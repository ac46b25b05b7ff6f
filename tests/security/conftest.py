"""Keys, tokens and synthetic organisations shared by the security tests, and the secured
server (real app, real keys, real tokens) with its world of patients for the REST tests."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

from adapter.app import create_app
from adapter.config import Settings
from adapter.fhir.json_codec import dump_json, parse_json
from adapter.search.parser import parse_search
from adapter.security.audit import CLIENT_ID_SYSTEM
from adapter.security.keys import JWKS_FILE, generate_key_pair, issue_token, load_signing_key
from adapter.security.settings import ORGNR_CHILD_CLAIM, ORGNR_PARENT_CLAIM, AuthSettings
from adapter.store.sql import SqlRepository
from tests.fixtures_support import load, pathways
from tests.rest.servers import postgres_schema
from tests.store.conftest import postgres_url  # noqa: F401 - fixture used by postgres_schema

ISSUER = "https://helseid-sts.test.example"
AUDIENCE = "forlop-api"
# Synthetic organisation numbers (valid mod 11): two municipalities and one hospital.
KOMMUNE_A = "910000012"
KOMMUNE_B = "920000029"
SYKEHUS = "930000035"
SYKEHUS_UNIT = "940000041"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"

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


# --- the secured server, through the real app -----------------------------------------------------
#
# One app per backend per session, with authentication on: a key pair written by keygen, its JWKS
# file given to the server, tokens issued as ``forlop token issue`` does. The world is the three
# discharge Bundles of fixtures/pathways, rearranged so that two municipalities and one hospital
# share them (see :class:`World`).

NIDELV = "995172038"  # the hospital: Astrid and Ingrid
ORKLAND = "996401758"  # a municipality: Astrid and Kåre
BODO = "995823519"  # a municipality: Ingrid
BJORGVIN = "997284178"  # another hospital: Kåre (it pushes his discharge)
# The pathways' own organisations that the world folds into the three above.
SALTFJORD = "998315638"
BERGEN = "998739241"

FHIR_JSON = {"content-type": "application/fhir+json"}
ALL_SCOPES = "system/*.cruds"
AUDITOR_SCOPES = "system/*.cruds system/AuditEvent.rs"


@dataclass
class Caller:
    """Requests with one access token (its organisation, scopes and client id)."""

    http: TestClient
    token: str
    client_id: str
    organisation: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, url: str, **kw: Any) -> Response:
        return self.http.get(url, headers=self.headers(kw.pop("headers", None)), **kw)

    def delete(self, url: str, **kw: Any) -> Response:
        return self.http.delete(url, headers=self.headers(kw.pop("headers", None)), **kw)

    def send(self, method: str, url: str, resource: Any, **kw: Any) -> Response:
        headers = self.headers({**FHIR_JSON, **kw.pop("headers", {})})
        return self.http.request(method, url, content=dump_json(resource), headers=headers, **kw)

    def post(self, url: str, resource: Any, **kw: Any) -> Response:
        return self.send("POST", url, resource, **kw)

    def put(self, url: str, resource: Any, **kw: Any) -> Response:
        return self.send("PUT", url, resource, **kw)


@dataclass
class Secured:
    """The secured app of one backend and what tests need around it."""

    backend: str
    http: TestClient
    repository: SqlRepository
    keys: Path

    def token(
        self,
        organisation: str,
        scope: str = ALL_SCOPES,
        client_id: str | None = None,
        **kw: Any,
    ) -> str:
        return issue_token(
            load_signing_key(self.keys),
            issuer=ISSUER,
            audience=AUDIENCE,
            organisation=organisation,
            scope=scope,
            client_id=client_id or f"client-{uuid.uuid4().hex[:12]}",
            **kw,
        )

    def caller(self, organisation: str, scope: str = ALL_SCOPES) -> Caller:
        client_id = f"client-{uuid.uuid4().hex[:12]}"
        token = self.token(organisation, scope, client_id)
        return Caller(self.http, token, client_id, organisation)

    def audit_events(self, client_id: str | None, since: datetime) -> list[dict[str, Any]]:
        """AuditEvents recorded since ``since`` for the client (None: unauthenticated callers),
        read straight from the store, oldest first."""
        stamp = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        query = parse_search(
            "AuditEvent",
            [("_lastUpdated", f"ge{stamp}"), ("_count", "1000"), ("_sort", "_lastUpdated")],
            max_count=1000,
        ).query
        with self.repository.transaction(read_only=True) as tx:
            events = [m.resource for m in tx.search(query).matches]
        return [e for e in events if client_of(e) == client_id]


def client_of(event: dict[str, Any]) -> str | None:
    """The client id an AuditEvent names (None for an unauthenticated caller)."""
    for agent in event.get("agent", []):
        identifier = agent.get("who", {}).get("identifier", {})
        if identifier.get("system") == CLIENT_ID_SYSTEM:
            return str(identifier["value"])
    return None


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("secured")
    keys = folder / "keys"
    generate_key_pair(keys)
    auth = AuthSettings(jwks=str(keys / JWKS_FILE), issuer=ISSUER, audience=AUDIENCE)
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'forlop.db'}"
        else:
            url = stack.enter_context(postgres_schema(request))
        repository = SqlRepository.from_url(url)
        stack.callback(repository.close)
        app = create_app(Settings(), repository=repository, auth=auth)
        http = stack.enter_context(TestClient(app, base_url="http://testserver"))
        yield Secured(request.param, http, repository, keys)


def _folded(slug: str, numbers: dict[str, str]) -> dict[str, Any]:
    """A pathway's discharge Bundle with organisation numbers replaced (everywhere they occur:
    identifiers and conditional criteria)."""
    bundle = load(next(p for p in pathways() if p.slug == slug).discharge_bundle)
    text = dump_json(bundle).decode()
    for old, new in numbers.items():
        text = text.replace(old, new)
    folded: dict[str, Any] = parse_json(text)
    return folded


@dataclass
class World:
    """Three patients in the care of two municipalities and one hospital (and a fourth
    organisation): Nidelv hospital follows Astrid and Ingrid, Orkland municipality Astrid and
    Kåre, Bodø municipality Ingrid, Bjørgvin hospital Kåre. ``patients`` maps each
    pathway slug to its Patient id; ``of`` each organisation number to the slugs it follows."""

    patients: dict[str, str]
    organizations: dict[str, str]  # organisation number -> Organization id

    of = {
        NIDELV: ("astrid-fjellheim", "ingrid-solvang"),
        ORKLAND: ("astrid-fjellheim", "kare-nordby"),
        BODO: ("ingrid-solvang",),
        BJORGVIN: ("kare-nordby",),
    }

    def own(self, organisation: str) -> set[str]:
        return {self.patients[slug] for slug in self.of[organisation]}

    def others(self, organisation: str) -> set[str]:
        return set(self.patients.values()) - self.own(organisation)


@pytest.fixture(scope="session")
def world(secured: Secured) -> World:
    pushes = [
        ("astrid-fjellheim", NIDELV, {}),
        ("ingrid-solvang", NIDELV, {SALTFJORD: NIDELV}),
        ("kare-nordby", BJORGVIN, {BERGEN: ORKLAND}),
    ]
    patients: dict[str, str] = {}
    for slug, pusher, numbers in pushes:
        answer = secured.caller(pusher).post("/fhir", _folded(slug, numbers))
        assert answer.status_code == 200, answer.text
        locations = [e["response"].get("location", "") for e in answer.json()["entry"]]
        patients[slug] = next(loc.split("/")[1] for loc in locations if loc.startswith("Patient/"))
    organizations: dict[str, str] = {}
    reader = secured.caller(NIDELV)
    for number in (NIDELV, ORKLAND, BODO, BJORGVIN):
        found = reader.get("/fhir/Organization", params={"identifier": f"{ORGNR}|{number}"})
        organizations[number] = found.json()["entry"][0]["resource"]["id"]
    return World(patients, organizations)
