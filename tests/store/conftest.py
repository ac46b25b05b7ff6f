"""The ``repository`` fixture: one contract suite on memory, SQLite and PostgreSQL.

PostgreSQL comes from ``FORLOP_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Each test session works in a fresh schema of its
own (dropped at the end), so parallel runs do not collide. When the server cannot be reached the
PostgreSQL cases are skipped, unless ``FORLOP_TEST_REQUIRE_POSTGRES=1``, which makes that a
failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from adapter.store.memory import MemoryRepository
from adapter.store.repository import Repository
from adapter.store.sql import SqlRepository
from tests.store.workers import clear

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ["memory", "sqlite", "postgres"]
SQL_BACKENDS = ["sqlite", "postgres"]


def _postgres_base_url() -> str:
    return os.environ.get("FORLOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL whose connections work in this session's own schema."""
    base = _postgres_base_url()
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {base} is not reachable ({exc.__class__.__name__}: {exc})"
        if os.environ.get("FORLOP_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and FORLOP_TEST_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(f"{reason}; set FORLOP_TEST_POSTGRES_URL to test on PostgreSQL")
    schema = f"forlop_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield _with_search_path(base, schema)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgres_repository(postgres_url: str) -> Iterator[SqlRepository]:
    repo = SqlRepository.from_url(postgres_url)
    yield repo
    repo.close()


def make_repository(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Repository:
    if backend == "memory":
        return MemoryRepository()
    if backend == "sqlite":
        repo = SqlRepository.from_url(f"sqlite:///{tmp_path / 'store.db'}")
        request.addfinalizer(repo.close)
        return repo
    postgres: SqlRepository = request.getfixturevalue("postgres_repository")
    clear(postgres)
    return postgres


@pytest.fixture(params=BACKENDS)
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Repository:
    return make_repository(request.param, request, tmp_path)


@pytest.fixture(params=SQL_BACKENDS)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated SQL database for tests that open their own connections."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        SqlRepository.from_url(url).close()
        return url
    clear(request.getfixturevalue("postgres_repository"))
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=SQL_BACKENDS)
def empty_sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQL database nothing has been migrated into yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails) when PostgreSQL is unreachable
    base = _postgres_base_url()
    schema = f"forlop_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield _with_search_path(base, schema)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
