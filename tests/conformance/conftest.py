"""Servers under test: ``forlop serve`` on SQLite and on PostgreSQL (one of each per session),
and a deliberately wrong server in front of the SQLite one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.servers import ForlopServer, postgres_schema, running_server
from tests.conformance.wrong_server import WrongServer


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForlopServer]:
    folder = tmp_path_factory.mktemp("conformance-sqlite")
    with running_server(f"sqlite:///{folder / 'forlop.db'}", folder) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForlopServer]:
    folder = tmp_path_factory.mktemp("conformance-postgres")
    with postgres_schema() as url, running_server(url, folder) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def forlop_server(request: pytest.FixtureRequest) -> ForlopServer:
    server: ForlopServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def wrong(sqlite_server: ForlopServer) -> Iterator[WrongServer]:
    """A proxy in front of the SQLite server; a test gives it the faults it wants."""
    with WrongServer(sqlite_server.base_url) as server:
        yield server
