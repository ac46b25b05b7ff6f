"""``client``: the real app over HTTP semantics, on SQLite and on PostgreSQL.

One app per backend per session (start-up seeds the conformance resources once), with
authentication off (``--insecure-dev``: tests/security checks tokens and access); tests share its
store, so every test makes its own resources (unique identifiers, fresh ids) and never assumes an
empty database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapter.app import create_app
from adapter.config import Settings
from adapter.security.settings import AuthSettings
from adapter.store.sql import SqlRepository
from tests.store.conftest import postgres_repository, postgres_url  # noqa: F401 - fixtures

REST_BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=REST_BACKENDS)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("rest") / "forlop.db"
        repository = SqlRepository.from_url(f"sqlite:///{path}")
    else:
        repository = request.getfixturevalue("postgres_repository")
    app = create_app(Settings(), repository=repository, auth=AuthSettings(insecure_dev=True))
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client
    if request.param == "sqlite":
        repository.close()
