"""Shared pytest fixtures: a clean FORLOP_* environment for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_forlop_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never inherit FORLOP_* settings from the shell, except the test-database switches."""
    for name in list(os.environ):
        if name.startswith("FORLOP_") and not name.startswith("FORLOP_TEST_"):
            monkeypatch.delenv(name)
    yield
