"""The public surface of adapter.store and adapter.search is complete and importable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import adapter.search
import adapter.store
from adapter.store import MemoryRepository, SqlRepository, open_repository


@pytest.mark.parametrize("package", [adapter.store, adapter.search])
def test_all_names_exist_once(package: Any) -> None:
    names = package.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(package, name) is not None


def test_open_repository_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_repository("memory:"), MemoryRepository)
    repo = open_repository(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert isinstance(repo, SqlRepository)
        with repo.transaction() as tx:
            assert tx.create({"resourceType": "Basic", "code": {"text": "x"}}).version_id == 1
    finally:
        repo.close()
