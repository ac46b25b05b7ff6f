"""Shared fixtures for the PLO tests: the official schemas and samples, our own messages, a store.

The official KITH schemas and fictitious sample messages are not part of the repository; they are
read from ``../shared/plo`` beside the checkout (``FORLOP_TEST_PLO_SHARED`` names another
folder). Tests that need them are skipped with that reason when the folder is absent; the rest
run on our own synthetic messages in ``fixtures/plo/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.config import Settings
from adapter.plo.xsd import Schemas, load_schemas
from adapter.registry import default_registry
from adapter.router.crud import Context
from adapter.store import MemoryRepository, open_repository
from adapter.store.repository import Repository
from adapter.store.sql import SqlRepository
from adapter.validation.validator import validate
from tests.store.conftest import postgres_repository, postgres_url  # noqa: F401 - fixtures
from tests.store.workers import clear

REPO = Path(__file__).resolve().parents[2]
# Read at import: tests/conftest.py clears FORLOP_* variables (not FORLOP_TEST_*) per test.
SHARED = Path(os.environ.get("FORLOP_TEST_PLO_SHARED") or REPO.parent / "shared" / "plo")
SHARED_XSD = SHARED / "xsd"
SHARED_EXAMPLES = SHARED / "examples"
FIXTURES = REPO / "fixtures" / "plo"
MESSAGES = FIXTURES / "messages"
BAD = FIXTURES / "bad"
EXPECTED = FIXTURES / "expected"

needs_shared = pytest.mark.skipif(
    not SHARED_XSD.is_dir() or not SHARED_EXAMPLES.is_dir(),
    reason=f"the official PLO schemas and samples are not available at {SHARED}",
)


def shared_samples() -> list[Path]:
    return sorted(SHARED_EXAMPLES.glob("*.xml")) if SHARED_EXAMPLES.is_dir() else []


def own_messages() -> list[Path]:
    return sorted(MESSAGES.glob("*.xml"))


def bad_messages() -> list[Path]:
    return sorted(BAD.glob("*.xml"))


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    if not SHARED_XSD.is_dir():
        pytest.skip(f"the official PLO schemas are not available at {SHARED_XSD}")
    return load_schemas(str(SHARED_XSD))


@pytest.fixture(scope="session")
def optional_schemas() -> Schemas | None:
    """The official schemas when available: checks that only add a schema check use this."""
    return load_schemas(str(SHARED_XSD)) if SHARED_XSD.is_dir() else None


@pytest.fixture
def context() -> Context:
    registry = default_registry()

    def checked(resource: dict[str, Any]) -> list[Any]:
        return validate(resource, registry)

    return Context(registry, Settings(), checked)


@pytest.fixture
def memory() -> Repository:
    return MemoryRepository()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    """The import runs against the in-memory store, SQLite and PostgreSQL alike."""
    if request.param == "postgres":
        shared: SqlRepository = request.getfixturevalue("postgres_repository")
        clear(shared)
        yield shared
        return
    if request.param == "memory":
        repository: Repository = MemoryRepository()
    else:
        repository = open_repository(f"sqlite:///{tmp_path / 'plo.db'}")
    yield repository
    repository.close()
